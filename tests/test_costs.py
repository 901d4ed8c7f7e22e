"""Every cost calculator figure against hand arithmetic."""
import datetime as dt
from dataclasses import replace

import pytest

from backend import costs
from backend.costs import Prices, Workload

CPU = 0.0000131
MEM = 0.00000222


def test_published_prices_and_date():
    p = Prices()
    assert (p.cpu_core_second, p.memory_gib_second, p.min_cpu, p.min_memory_mib) == (CPU, MEM, 0.125, 128)
    assert isinstance(p.as_of, dt.date)


def test_call_cost_one_core_one_gib():
    # 100 s x (1 core x CPU + 1 GiB x MEM)
    assert costs.call_cost(100.0) == pytest.approx(100 * (CPU + MEM))


def test_call_cost_bills_reservation_minimums():
    # 0.05 core and 64 MiB are below the 0.125 core / 128 MiB reservation: the reservation is billed
    assert costs.call_cost(10.0, cpu=0.05, memory_mib=64) == pytest.approx(10 * (0.125 * CPU + 0.125 * MEM))
    # above the minimums, use is billed: 2 cores, 4 GiB
    assert costs.call_cost(10.0, cpu=2, memory_mib=4096) == pytest.approx(10 * (2 * CPU + 4 * MEM))


def test_call_cost_with_edited_prices_and_zero_time():
    p = Prices(cpu_core_second=0.001, memory_gib_second=0.0)
    assert costs.call_cost(3.0, prices=p) == pytest.approx(0.003)
    assert costs.call_cost(0.0) == 0.0
    assert costs.call_cost(-1.0) == 0.0


def test_per_call_product_figures():
    assert costs.per_call_cost_per_transaction() == pytest.approx(0.00012)
    assert costs.per_call_throughput() == pytest.approx(23.64, abs=0.01)


W = Workload(transactions_per_month=1_000_000, runs_per_month=4, chunk_size=5_000, cpu=1.0, memory_mib=2048,
             max_containers=10, seconds_per_transaction=0.001, cold_start_seconds=1.0, server_monthly=50.0,
             server_workers=2)


def test_modal_estimate_by_hand():
    e = costs.modal_estimate(W)
    # per run: 250,000 transactions -> 50 chunks, 10 containers (max), 250 s compute + 10 x 1 s cold start
    assert costs.chunks_per_run(W) == 50
    assert costs.containers_per_run(W) == 10
    rate = 1 * CPU + 2 * MEM
    assert e.compute_seconds_per_run == pytest.approx(260.0)
    assert e.cost_per_run == pytest.approx(260 * rate)
    assert e.cost_per_month == pytest.approx(4 * 260 * rate)
    assert e.cost_per_transaction == pytest.approx(4 * 260 * rate / 1_000_000)
    # wall: 50 chunks / 10 containers = 5 waves x (5,000 x 0.001 s) + 1 s cold start
    assert e.wall_seconds_per_run == pytest.approx(26.0)


def test_modal_wall_time_rounds_partial_waves_up_and_small_runs():
    w = replace(W, transactions_per_month=4 * 52_000)   # 52,000 a run: 11 chunks on 10 containers
    assert costs.chunks_per_run(w) == 11
    assert costs.modal_estimate(w).wall_seconds_per_run == pytest.approx(2 * 5.0 + 1.0)
    tiny = replace(W, transactions_per_month=4 * 300)   # one short chunk of 300
    e = costs.modal_estimate(tiny)
    assert costs.containers_per_run(tiny) == 1
    assert e.wall_seconds_per_run == pytest.approx(0.3 + 1.0)
    assert e.cost_per_run == pytest.approx((0.3 + 1.0) * (CPU + 2 * MEM))


def test_zero_volume_costs_nothing_on_modal():
    e = costs.modal_estimate(replace(W, transactions_per_month=0))
    assert (e.cost_per_month, e.wall_seconds_per_run) == (0.0, 0.0)


def test_server_and_per_call_estimates_by_hand():
    s = costs.server_estimate(W)
    assert s.cost_per_month == 50.0
    assert s.cost_per_run == pytest.approx(12.5)
    assert s.wall_seconds_per_run == pytest.approx(250_000 * 0.001 / 2)
    c = costs.per_call_estimate(W)
    assert c.cost_per_run == pytest.approx(250_000 * 0.00012)         # $30 a run
    assert c.cost_per_month == pytest.approx(120.0)
    assert c.wall_seconds_per_run == pytest.approx(250_000 * 42.3 / 1000)


def test_compare_frame_matches_estimates():
    frame = costs.compare_frame(W)
    assert list(frame["option"]) == ["Modal batch", "Always-on server", "One call per transaction"]
    assert frame["cost_per_month"].tolist() == pytest.approx(
        [costs.modal_estimate(W).cost_per_month, 50.0, 120.0])


def test_break_even_volume_is_the_first_volume_where_modal_is_dearer():
    # One run a month, containers capped at 10: cost(v) = (v x 0.001 + 10) x rate once v > 40,000
    w = replace(W, runs_per_month=1)
    rate = CPU + 2 * MEM
    v = costs.break_even_volume(w)
    expected = (50.0 / rate - 10) / 0.001
    assert v == pytest.approx(expected, rel=1e-6)
    assert costs.modal_monthly(w, v) >= 50.0 > costs.modal_monthly(w, v - 1)


def test_break_even_none_when_modal_stays_cheaper_and_per_call_break_even():
    w = replace(W, server_monthly=1e9)
    assert costs.break_even_volume(w, limit=10**9) is None
    assert costs.per_call_break_even_volume(W) == 416_667   # $50 / $0.00012 = 416,666.7


def test_cost_table_rows_equal_estimates():
    table = costs.cost_table(W, volumes=[1_000, 1_000_000])
    assert table["transactions_per_month"].tolist() == [1_000, 1_000_000]
    assert table.loc[1, "modal"] == pytest.approx(costs.modal_estimate(W).cost_per_month)
    assert table["always_on"].tolist() == [50.0, 50.0]
    assert table["per_call"].tolist() == pytest.approx([0.12, 120.0])


def test_volume_steps_and_chart_volumes_reach_past_break_even():
    assert costs.volume_steps(1_000, 10_000) == [1_000, 2_000, 5_000, 10_000]
    w = replace(W, runs_per_month=1)
    vols = costs.chart_volumes(w)
    assert vols[-1] >= 2 * costs.break_even_volume(w) or vols[-1] >= 100_000_000


def test_measured_seconds_per_transaction():
    assert costs.measured_seconds_per_transaction(12.0, 6_000) == pytest.approx(0.002)
    assert costs.measured_seconds_per_transaction(0.0, 6_000) is None
    assert costs.measured_seconds_per_transaction(5.0, 0) is None
