"""AppTest: the Live monitor follows a real run (local executor, slowed chunks) to its end."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from backend import explore, runs, store
from backend.catalog import load_catalog
from backend.payload import SLEEP_ENV
from backend.wallet import Wallet, parse_wallet
from bench.generate import generate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARDPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REWARDPILOT_WORKERS", "1")
    monkeypatch.setenv(SLEEP_ENV, "0.25")          # every chunk takes at least 0.25 s
    monkeypatch.chdir(ROOT)
    runs.shutdown_manager()
    explore.clear_cache()
    yield tmp_path / "home"
    runs.shutdown_manager()


def start_run(n_accounts: int = 24, chunk_size: int = 20) -> str:
    """A run of n_accounts one-year accounts: one chunk each."""
    frame = generate(n_accounts * 10, n_accounts, seed=3)
    return runs.get_manager().submit(frame, Wallet(parse_wallet("amex_gold,citi_double_cash")), load_catalog(),
                                     options=runs.RunOptions(chunk_size=chunk_size, workers=1), name="slow run")


def monitor(run_id: str) -> AppTest:
    """A fresh browser tab opening the monitor URL (?run=...): nothing in session state."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.query_params["run"] = run_id
    at.run()
    at.switch_page("pages/monitor.py").run()
    return at


def progress(at) -> int:
    return at.main.get("progress")[0].value


def test_monitor_shows_progress_advancing_to_the_end(home):
    run_id = start_run()
    at = monitor(run_id)
    assert not at.exception and not at.error
    assert at.subheader[0].value == "slow run"
    seen = [progress(at)]
    deadline = time.monotonic() + 90
    while seen[-1] < 100 and time.monotonic() < deadline:
        time.sleep(1.0)                 # AppTest does not tick run_every: rerun by hand
        at.run()
        seen.append(progress(at))
    assert seen[-1] == 100
    assert seen[0] < 100 and sorted(seen) == seen          # it moved forward, never back
    snap = store.snapshot(run_id)
    assert snap.status == "done"
    m = {x.label: x.value for x in at.metric}
    assert m["ETA"] == "done"
    assert m["Rewards so far"] == f"${snap.rewards:,.2f}"
    assert len(at.get("vega_lite_chart")) >= 3             # throughput, chunk strip, rewards bars
    assert any(p.label == "Open results" for p in at.get("page_link"))
    assert not at.exception


def test_cancel_button_stops_the_run(home):
    run_id = start_run(n_accounts=40)
    at = monitor(run_id)
    at.button(key="cancel").click().run()
    assert not at.exception
    assert runs.get_manager().wait(run_id, timeout=60) == "cancelled"
    at.run()
    assert "cancelled" in at.main.get("progress")[0].proto.text
    assert at.button(key="resume")                          # a cancelled run can be resumed


def test_past_runs_list_and_unknown_run_in_url(home):
    run_id = start_run(n_accounts=2)
    runs.get_manager().wait(run_id, timeout=60)
    at = monitor("no-such-run")
    assert not at.exception
    assert any("not in this store" in e.value for e in at.error)
    table = at.dataframe[-1].value
    assert table["run_id"].tolist() == [run_id]
    assert table["status"].tolist() == ["done"]
