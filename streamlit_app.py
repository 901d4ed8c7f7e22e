"""RewardPilot dashboard: navigation over the four pages and a sidebar with the active run.

Run: `streamlit run streamlit_app.py`. Everything else lives in pages/ (drawing) and backend/.
"""
import streamlit as st

from pages import common


def main() -> None:
    st.set_page_config(page_title="RewardPilot", page_icon=":material/credit_card:", layout="wide")
    page = st.navigation([
        st.Page(common.UPLOAD, title="Upload", icon=":material/upload_file:", default=True),
        st.Page(common.MONITOR, title="Live monitor", icon=":material/monitoring:"),
        st.Page(common.RESULTS, title="Results explorer", icon=":material/table_chart:"),
        st.Page(common.COSTS, title="Cost calculator", icon=":material/calculate:"),
    ])
    with st.sidebar:
        common.sidebar_run_status()
    page.run()


# Streamlit runs this file as __main__. Local worker processes are spawned, and spawn re-imports
# it as `__mp_main__`: a worker must not draw the app. pages/common.py imports it to call main().
if __name__ == "__main__":
    main()
