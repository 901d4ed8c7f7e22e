"""AppTest: every page on an empty store, and the Upload page from files to a started run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from backend import explore, runs, store
from backend.statements import read_statement
from backend.transactions import prepare

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "statements"
SAMPLE = ROOT / "backend" / "samples" / "sample_statement.csv"
PAGES = ["pages/upload.py", "pages/monitor.py", "pages/results.py", "pages/cost_calculator.py"]


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARDPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REWARDPILOT_WORKERS", "1")
    monkeypatch.chdir(ROOT)
    runs.shutdown_manager()
    explore.clear_cache()
    yield lambda: AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    runs.shutdown_manager()


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def counts(path: Path) -> dict[str, str]:
    """What the page should say about a file, from the backend directly."""
    st_ = read_statement(path)
    status = prepare(st_.frame)["status"]
    return {"Rows read": f"{st_.rows_read:,}", "To score": f"{(status == 'ok').sum():,}",
            "Skipped": f"{(status == 'skipped').sum():,}", "Errors": f"{(status == 'error').sum():,}"}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_an_empty_store(app, page):
    at = app().run()
    at.switch_page(page).run()
    assert not at.exception
    assert not at.error
    assert at.title[0].value


def test_empty_pages_say_what_to_do_next(app):
    at = app().run()
    assert any("Upload one or more statements" in i.value for i in at.info)
    for page in ("pages/monitor.py", "pages/results.py"):
        at.switch_page(page).run()
        assert any("Upload" in i.value for i in at.info), page


def test_upload_reports_each_files_counts(app):
    at = app().run()
    files = [FIXTURES / "chase.csv", FIXTURES / "canonical.csv"]
    at.file_uploader(key="statements").set_value([(p.name, p.read_bytes(), "text/csv") for p in files]).run()
    assert not at.exception and not at.error
    shown = [m.value for m in at.metric if m.label == "Format"]
    assert shown == ["chase (Chase)", "canonical"]
    for label in ("Rows read", "To score", "Skipped", "Errors"):
        values = [m.value for m in at.metric if m.label == label]
        assert values == [counts(p)[label] for p in files], label
    # the problems report is downloadable, one per file with problems
    assert any(b.label.startswith("Download the problems report") for b in at.get("download_button"))


def test_sample_statement_is_one_click_away(app):
    at = app().run()
    at.button(key="use_sample_button").click().run()
    m = metrics(at)
    assert (m["Format"], m["Rows read"], m["To score"], m["Skipped"], m["Errors"]) == ("canonical", "303", "300", "2", "1")
    assert counts(SAMPLE) == {k: m[k] for k in ("Rows read", "To score", "Skipped", "Errors")}


def test_unknown_header_asks_for_a_mapping_and_saves_it(app, tmp_path):
    path = FIXTURES / "unknown_header.csv"
    at = app().run()
    at.file_uploader(key="statements").set_value([(path.name, path.read_bytes(), "text/csv")]).run()
    assert any("unknown statement format" in w.value for w in at.warning)
    fid = next(s.key for s in at.selectbox if s.key and s.key.startswith("m_date_")).removeprefix("m_date_")
    at.selectbox(key=f"m_date_{fid}").set_value("Booking Date")
    at.selectbox(key=f"m_desc_{fid}").set_value("Details")
    at.selectbox(key=f"m_amt_{fid}").set_value("Value")
    at.radio(key=f"m_sign_{fid}").set_value("purchases_negative")
    at.text_input(key=f"m_issuer_{fid}").set_value("Acme Bank")
    at.form_submit_button[0].click().run()
    assert not at.exception
    m = metrics(at)
    assert (m["Format"], m["Rows read"], m["To score"], m["Skipped"]) == ("custom (Acme Bank)", "3", "2", "1")
    saved = tmp_path / "home" / "mappings" / "Acme_Bank.json"
    assert json.loads(saved.read_text())["date"] == "Booking Date"
    # a new session reads the same bank's next export with the saved mapping, without asking
    again = app().run()
    again.file_uploader(key="statements").set_value([(path.name, path.read_bytes(), "text/csv")]).run()
    assert metrics(again)["Format"] == "custom (Acme Bank)" and not again.warning


def test_start_run_submits_and_switches_to_the_monitor(app):
    at = app().run()
    at.button(key="use_sample_button").click().run()
    assert at.button(key="start_run").disabled          # no card in the wallet yet
    at.multiselect(key="wallet_cards").set_value(["amex_gold", "bank_of_america_customized_cash"]).run()
    at.selectbox(key="choice_bank_of_america_customized_cash").set_value("dining").run()
    at.radio(key="profile").set_value("transfer").run()
    at.button(key="start_run").click().run()
    assert not at.exception and not at.error
    run_id = at.query_params["run"]
    assert at.session_state["run_id"] == run_id
    assert at.title[0].value == "Live monitor"
    record = store.get_store().run(run_id)
    assert record.total_rows == 303
    assert record.wallet["cards"] == ["amex_gold", "bank_of_america_customized_cash:dining"]
    assert record.valuation["profile"] == "transfer"
    assert runs.get_manager().wait(run_id, timeout=60) == "done"


def test_per_account_wallet_csv(app):
    at = app().run()
    at.button(key="use_sample_button").click().run()
    at.multiselect(key="wallet_cards").set_value(["citi_double_cash"]).run()
    table = b"user_id,card_id,choice\nops,chase_ink_business_cash,\nsales,amex_business_gold,\n"
    at.file_uploader(key="wallets_csv").set_value([("wallets.csv", table, "text/csv")]).run()
    assert not at.exception and not at.error
    at.button(key="start_run").click().run()
    record = store.get_store().run(at.query_params["run"])
    assert record.wallet["accounts"] == {"ops": ["chase_ink_business_cash"], "sales": ["amex_business_gold"]}
    runs.get_manager().wait(at.query_params["run"], timeout=60)
