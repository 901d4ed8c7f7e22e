#!/usr/bin/env bash
# Quickstart 1: set up (first time only) and open the dashboard on http://localhost:8501
# with the local executor and the bundled card catalog. No account, no server to install.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
exec .venv/bin/python -m streamlit run streamlit_app.py --browser.gatherUsageStats false "$@"
