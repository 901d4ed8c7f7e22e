"""Shared page helpers, in one place: the process-wide run manager, the active run id, errors.

Pages stay thin: they read state, call the backend and draw. The run manager lives in
`st.cache_resource` (one per process and per REWARDPILOT_HOME); a page keeps only the run id,
in `st.session_state` and in the URL (`?run=...`), so page switches and reloads find it again.
"""
from __future__ import annotations

import math
import traceback
from contextlib import contextmanager
from typing import Iterator

import streamlit as st

from backend.catalog import Catalog, load_catalog
from backend.settings import get_settings

RUN_PARAM = "run"
RUN_KEY = "run_id"

UPLOAD = "pages/upload.py"
MONITOR = "pages/monitor.py"
RESULTS = "pages/results.py"
COSTS = "pages/cost_calculator.py"


def use_app_navigation() -> None:
    """Make sure a page runs under streamlit_app.py's navigation and sidebar.

    Streamlit still honours its old `pages/` folder mode until the main script has called
    `st.navigation` once in the process: the first request after a server start that opens a
    page URL directly (e.g. a reload of `/monitor?run=...`) would run that page alone, with an
    auto-made menu listing every file in pages/. Then run the app here instead: its
    `st.navigation` switches that mode off and runs this same page inside the app (page ids come
    from the URL path), and this outer run stops. No rerun, so no click is lost.
    """
    from streamlit.runtime.pages_manager import PagesManager
    if PagesManager.uses_pages_directory:
        from streamlit_app import main
        main()
        st.stop()


def home() -> str:
    return str(get_settings().home.resolve())


@st.cache_resource(show_spinner=False)
def _manager(home_dir: str):
    from backend.runs import get_manager, shutdown_manager
    manager = get_manager()
    if str(manager.settings.home.resolve()) != home_dir:   # REWARDPILOT_HOME changed (tests)
        shutdown_manager()
        manager = get_manager()
    return manager


def manager():
    """The process-wide run manager (resumes unfinished runs when first created)."""
    return _manager(home())


@st.cache_resource(show_spinner=False)
def _catalog(path: str | None) -> Catalog:
    return load_catalog(path)


def catalog() -> Catalog:
    return _catalog(None)


def active_run_id() -> str | None:
    """The run this browser tab is looking at: session first, then the URL (after a reload)."""
    run_id = st.session_state.get(RUN_KEY) or st.query_params.get(RUN_PARAM)
    if run_id:
        set_active_run(run_id)
    return run_id or None


def set_active_run(run_id: str | None) -> None:
    """Remember the run in the session and in the URL, so a reload finds it."""
    if run_id:
        st.session_state[RUN_KEY] = run_id
        if st.query_params.get(RUN_PARAM) != run_id:
            st.query_params[RUN_PARAM] = run_id
    else:
        st.session_state.pop(RUN_KEY, None)
        st.query_params.pop(RUN_PARAM, None)


def go(page: str, run_id: str | None = None) -> None:
    """Switch page keeping the run in the URL."""
    run_id = run_id or active_run_id()
    st.switch_page(page, query_params={RUN_PARAM: run_id} if run_id else None)


def show_error(message: str, next_step: str, exc: BaseException | None = None) -> None:
    """A short message with the next step; the traceback only in an expander."""
    st.error(f"{message} {next_step}".strip(), icon=":material/error:")
    if exc is not None:
        with st.expander("Details"):
            st.code("".join(traceback.format_exception(exc)), language=None)


@contextmanager
def guard(what: str, next_step: str = "Try again; if it keeps failing, the details below say why.") -> Iterator[None]:
    """Run a block; any error becomes `st.error` with the next step (st.rerun etc. pass through)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the page must never show a raw traceback
        show_error(f"{what}: {exc}", next_step, exc)


def empty_state(message: str, page: str | None = None, label: str = "") -> None:
    """What to do next when there is nothing to show."""
    st.info(message, icon=":material/info:")
    if page:
        st.page_link(page, label=label or "Go", icon=":material/arrow_forward:")


# --- how numbers read on screen (the figures themselves come from the backend) ---

def money(value: float | None) -> str:
    """$1,234.56; amounts under a cent keep two significant digits ($0.0018) instead of $0.00."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    sign = "-" if value < 0 else ""
    v = abs(float(value))
    if 0 < v < 0.01:
        digits = max(2, -int(math.floor(math.log10(v))) + 1)
        return f"{sign}${v:.{digits}f}"
    return f"{sign}${v:,.2f}"


def money_short(value: float | None) -> str:
    """Like money, but a positive amount under a cent reads "< $0.01" (for narrow metrics)."""
    if value is not None and 0 < value < 0.01:
        return "< $0.01"
    return money(value)


def percent(value: float | None, digits: int = 2) -> str:
    """A fraction as a percent: 0.0185 -> 1.85%."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value * 100:.{digits}f}%"


def count(value: float | None) -> str:
    return "–" if value is None else f"{int(value):,}"


def duration(seconds: float | None) -> str:
    """0.4 s, 12 s, 3 min 05 s, 2 h 04 min."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    s = max(float(seconds), 0.0)
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    if s < 86400 * 2:
        return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"
    return f"{s / 86400:,.1f} days"


# --- the sidebar: the active run at a glance ---

def sidebar_run_status() -> None:
    """The active run's state, refreshed every 2 s while it runs."""
    run_id = active_run_id()
    st.caption("Active run")
    if not run_id:
        st.caption("None yet: start one from Upload.")
        return
    _sidebar_live(run_id)


LIVE_STATUSES = ("queued", "running")


def is_live(snap) -> bool:
    return snap.status in LIVE_STATUSES


def progress_fraction(snap) -> float:
    return min(1.0, snap.rows_done / snap.total_rows) if snap.total_rows else 1.0


def _sidebar_live(run_id: str) -> None:
    from backend import store
    try:
        manager()                      # resumes unfinished runs after a server restart
        live = is_live(store.snapshot(run_id))
    except Exception:  # noqa: BLE001 - e.g. an old URL naming a run this store does not have
        st.caption(f"Run {run_id} is not in the store.")
        return

    @st.fragment(run_every=2 if live else None)
    def body() -> None:
        with guard("Reading the run", "Open the Live monitor for details."):
            snap = store.snapshot(run_id)
            st.markdown(f"**{snap.name or run_id}**  \n{snap.status}")
            st.progress(progress_fraction(snap), text=f"{snap.rows_done:,} / {snap.total_rows:,} transactions")
            if live and not is_live(snap):
                st.rerun()
    body()
