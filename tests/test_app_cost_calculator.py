"""AppTest: the cost calculator shows exactly backend.costs' figures for its inputs."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from backend import costs, explore, runs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def at(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("REWARDPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(ROOT)
    runs.shutdown_manager()
    explore.clear_cache()
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    app.switch_page("pages/cost_calculator.py").run()
    assert not app.exception and not app.error
    yield app
    runs.shutdown_manager()


def shown(at) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.main.get("metric")]


def expected(w: costs.Workload, prices: costs.Prices | None = None) -> list[tuple[str, str]]:
    from pages.common import duration, money as fmt
    out = []
    for e in costs.compare(w, prices):
        out += [("Per month", fmt(e.cost_per_month)), ("Per run", fmt(e.cost_per_run)),
                ("Wall time per run", duration(e.wall_seconds_per_run))]
    return out


DEFAULT = costs.Workload(transactions_per_month=1_000_000, runs_per_month=4, chunk_size=5000, cpu=1.0,
                         memory_mib=1024, max_containers=100)


def test_default_figures_are_backend_costs(at):
    assert shown(at) == expected(DEFAULT)
    even = costs.break_even_volume(DEFAULT)
    assert any(f"{even:,} transactions a month" in i.value for i in at.info)
    assert len(at.get("vega_lite_chart")) == 1
    table = at.dataframe[0].value
    assert table["modal"].tolist() == pytest.approx(costs.cost_table(DEFAULT)["modal"].tolist())


def test_changed_inputs_and_prices_follow_backend_costs(at):
    at.number_input(key="tx_month").set_value(20_000_000)
    at.number_input(key="runs_month").set_value(30)
    at.number_input(key="cpu").set_value(2.0)
    at.number_input(key="mem").set_value(4096)
    at.number_input(key="max_containers").set_value(20)
    at.number_input(key="us_per_tx").set_value(250.0)
    at.number_input(key="server_monthly").set_value(120.0)
    at.number_input(key="price_cpu").set_value(0.00002).run()
    assert not at.exception
    w = costs.Workload(transactions_per_month=20_000_000, runs_per_month=30, chunk_size=5000, cpu=2.0, memory_mib=4096,
                       max_containers=20, seconds_per_transaction=0.00025, server_monthly=120.0)
    prices = costs.Prices(cpu_core_second=0.00002)
    assert shown(at) == expected(w, prices)
    modal = costs.modal_estimate(w, prices)
    assert ("Per month", f"${modal.cost_per_month:,.2f}") in shown(at)


def test_compute_default_comes_from_the_latest_big_run(at):
    from backend.catalog import load_catalog
    from backend.wallet import Wallet, parse_wallet
    from bench.generate import generate
    manager = runs.get_manager()
    small = manager.submit(generate(300, 3, seed=1), Wallet(parse_wallet("amex_gold")), load_catalog())
    manager.wait(small, timeout=60)
    assert explore.measured_compute() is None                    # 300 rows say little about scoring
    big = manager.submit(generate(12_000, 30, seed=2), Wallet(parse_wallet("amex_gold")), load_catalog())
    manager.wait(big, timeout=120)
    measured = explore.measured_compute()
    assert measured is not None and measured.run_id == big and measured.transactions == 12_000
    fresh = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    fresh.switch_page("pages/cost_calculator.py").run()
    assert fresh.number_input(key="us_per_tx").value == pytest.approx(round(measured.seconds_per_transaction * 1e6, 3))
    assert any(f"measured on run {big}" in c.value for c in fresh.caption)


def test_benchmark_default_before_any_run(at):
    assert at.number_input(key="us_per_tx").value == pytest.approx(costs.BENCH_SECONDS_PER_TRANSACTION * 1e6)
    assert any("Default from the benchmark" in c.value for c in at.caption)
