"""AppTest: the Results explorer shows the backend's numbers for a finished run."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from backend import engine, explore, runs, store
from backend.catalog import load_catalog
from backend.samples import SAMPLE_STATEMENT
from backend.statements import read_statement
from backend.wallet import Wallet, parse_wallet

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> str:
    """One scored run of the sample statement, shared by this file's tests (they only read it)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REWARDPILOT_HOME", str(tmp_path_factory.mktemp("results") / "home"))
        mp.setenv("REWARDPILOT_WORKERS", "1")
        mp.chdir(ROOT)
        runs.shutdown_manager()
        explore.clear_cache()
        frame = read_statement(SAMPLE_STATEMENT).frame
        unknown = frame.iloc[[0]].assign(transaction_id="X1", merchant="ZQXV GIZMO WORKS", description="ZQXV GIZMO WORKS",
                                         category="", mcc="")
        frame = pd.concat([frame, unknown], ignore_index=True)       # a merchant nothing knows
        wallet = Wallet(parse_wallet("amex_gold,chase_ink_business_cash,citi_custom_cash"))
        run_id = runs.get_manager().submit(frame, wallet, load_catalog(), name="sample")
        assert runs.get_manager().wait(run_id, timeout=60) == "done"
        yield run_id
        runs.shutdown_manager()


def results_page(run_id: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.query_params["run"] = run_id
    at.run()
    at.switch_page("pages/results.py").run()
    assert not at.exception and not at.error
    return at


def kpis(at) -> dict[str, str]:
    return {m.label: m.value for m in at.main.get("metric")}


def expected(summary: dict) -> dict[str, str]:
    return {
        "Spend scored": f"${summary['total_spend']:,.2f}",
        "Rewards (best card)": f"${summary['total_rewards']:,.2f}",
        "Effective rate": f"{summary['effective_rate'] * 100:.2f}%",
        "Missed vs card used": f"${summary['missed_rewards']:,.2f}",
        "Scored": f"{summary['scored']:,}",
        "Skipped / errors": f"{summary['skipped']:,} / {summary['failed']:,}",
    }


def test_kpis_equal_the_backend_summary(finished_run):
    at = results_page(finished_run)
    assert kpis(at) == expected(store.summary(finished_run))
    assert len(at.get("vega_lite_chart")) == 4


def test_filter_by_category_matches_the_summary_of_those_rows(finished_run):
    at = results_page(finished_run)
    at.multiselect(key=f"f_categories_{finished_run}").set_value(["dining", "grocery"]).run()
    assert not at.exception
    results = store.results(finished_run)
    subset = results[results["reward_category"].isin(["dining", "grocery"])]
    assert kpis(at) == expected(engine.summarize(subset))
    assert f"For the {len(subset):,} rows matching the filters." in [c.value for c in at.caption]


def test_table_is_paged_and_problem_rows_keep_reasons(finished_run):
    at = results_page(finished_run)
    tables = [d.value for d in at.dataframe]
    page = next(t for t in tables if "reasoning" in t.columns)
    assert len(page) == 100                                   # 303 rows: one page of 100 shown
    assert any("304 rows · page 1 of 4" in c.value for c in at.caption)
    problems = next(t for t in tables if list(t.columns)[:2] == ["transaction_id", "user_id"] and "error" in t.columns
                    and "reasoning" not in t.columns)
    assert sorted(problems["status"]) == ["error", "skipped", "skipped"]
    assert (problems["error"].str.len() > 0).all()


def test_downloads_are_offered_and_build_the_backend_csv(finished_run):
    at = results_page(finished_run)
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["All results (CSV)", "Filtered view (CSV)", "All results (Parquet)", "Filtered view (Parquet)"]
    # the filtered downloads wait for a filter
    assert [b.proto.disabled for b in at.get("download_button")] == [False, True, False, True]


def test_run_picker_switches_runs(finished_run):
    frame = read_statement(SAMPLE_STATEMENT).frame.head(50)
    other = runs.get_manager().submit(frame, Wallet(parse_wallet("citi_double_cash")), load_catalog(), name="small")
    runs.get_manager().wait(other, timeout=60)
    at = results_page(finished_run)
    at.selectbox(key=f"run_pick_{finished_run}").set_value(other).run()
    assert at.query_params["run"] == other
    at.run()
    assert kpis(at)["Scored"] == f"{store.summary(other)['scored']:,}"


def test_unknown_merchant_gets_a_category_saved(finished_run):
    at = results_page(finished_run)
    assert any(e.label.startswith("Merchants left unknown (1)") for e in at.expander)
    at.selectbox(key="fix_category").set_value("office_supply")
    at.form_submit_button[0].click().run()
    assert not at.exception and not at.error
    assert any("office_supply" in s.value for s in at.success)
    from backend.corrections import load_corrections
    assert load_corrections() == {"ZQXV GIZMO WORKS": "office_supply"}
