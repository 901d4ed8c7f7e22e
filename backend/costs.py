"""What a batch costs: Modal's published prices and the cost calculator's arithmetic.

Prices change, so they are a dataclass the user can edit (the dashboard shows their date).
Three ways to run a month of transactions are compared:
- Modal batch: chunks fanned out over at most `max_containers` containers, billed per second
  for the higher of reserved and used CPU / memory, cold start included;
- an always-on server: a fixed monthly price, whatever the volume;
- one call per transaction (the old product): measured at 1,000 transactions in 42.3 s for $0.12.
Every figure the cost calculator page shows comes from here.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

import pandas as pd

MIB_PER_GIB = 1024


@dataclass(frozen=True)
class Prices:
    """Modal's published rates (keep editable: they change)."""
    cpu_core_second: float = 0.0000131       # $ per physical core per second
    memory_gib_second: float = 0.00000222    # $ per GiB per second
    min_cpu: float = 0.125                   # every container reserves at least this many cores
    min_memory_mib: float = 128.0            # ... and at least this much memory
    as_of: dt.date = dt.date(2026, 1, 1)
    source: str = "https://modal.com/pricing"


DEFAULT_PRICES = Prices()

# The old product: one remote call per transaction, measured on 1,000 transactions.
PER_CALL_TRANSACTIONS = 1000
PER_CALL_SECONDS = 42.3
PER_CALL_DOLLARS = 0.12

# Fallbacks when no run has been measured yet.
BENCH_SECONDS_PER_TRANSACTION = 0.00003   # engine compute per transaction, one core, 5,000-row chunks (measured)
COLD_START_SECONDS = 1.0                  # Modal's guide: about 1 s per container
DEFAULT_SERVER_MONTHLY = 40.0             # a small always-on VM (about 1 core, 1-2 GiB)
DEFAULT_SERVER_WORKERS = 2                # cores the always-on server scores with


def billed_rate(cpu: float = 1.0, memory_mib: float = 1024, prices: Prices | None = None) -> float:
    """Dollars per second of one container: the higher of reservation and use, per resource."""
    p = prices or DEFAULT_PRICES
    cores = max(float(cpu), p.min_cpu)
    gib = max(float(memory_mib), p.min_memory_mib) / MIB_PER_GIB
    return cores * p.cpu_core_second + gib * p.memory_gib_second


def call_cost(compute_seconds: float, cpu: float = 1.0, memory_mib: int = 1024,
              prices: Prices | None = None) -> float:
    """Dollars for one Modal call that ran `compute_seconds` (the run manager's cost so far)."""
    return max(float(compute_seconds), 0.0) * billed_rate(cpu, memory_mib, prices)


def per_call_cost_per_transaction() -> float:
    """The old product's price of one transaction: $0.12 / 1,000 = $0.00012."""
    return PER_CALL_DOLLARS / PER_CALL_TRANSACTIONS


def per_call_throughput() -> float:
    """The old product's transactions per second: 1,000 / 42.3 s = 23.6/s."""
    return PER_CALL_TRANSACTIONS / PER_CALL_SECONDS


@dataclass(frozen=True)
class Workload:
    """The cost calculator's inputs."""
    transactions_per_month: int = 1_000_000
    runs_per_month: int = 1
    chunk_size: int = 5000
    cpu: float = 1.0
    memory_mib: float = 1024
    max_containers: int = 100
    seconds_per_transaction: float = BENCH_SECONDS_PER_TRANSACTION
    cold_start_seconds: float = COLD_START_SECONDS
    server_monthly: float = DEFAULT_SERVER_MONTHLY
    server_workers: int = DEFAULT_SERVER_WORKERS

    @property
    def transactions_per_run(self) -> float:
        return self.transactions_per_month / max(self.runs_per_month, 1)


@dataclass(frozen=True)
class Estimate:
    """One way of running the workload: cost and wall time per run and per month."""
    name: str
    cost_per_run: float
    cost_per_month: float
    wall_seconds_per_run: float
    compute_seconds_per_run: float   # billed seconds (Modal), busy seconds (server, per call)
    transactions_per_month: float = 0.0
    note: str = ""

    @property
    def cost_per_transaction(self) -> float:
        return self.cost_per_month / self.transactions_per_month if self.transactions_per_month else 0.0


def chunks_per_run(w: Workload) -> int:
    """A run is cut into chunks of `chunk_size` transactions (the last may be short)."""
    return math.ceil(w.transactions_per_run / max(w.chunk_size, 1)) if w.transactions_per_run > 0 else 0


def containers_per_run(w: Workload) -> int:
    """Containers started: one per chunk up to `max_containers` (each pays one cold start)."""
    return min(chunks_per_run(w), max(w.max_containers, 1))


def modal_estimate(w: Workload, prices: Prices | None = None) -> Estimate:
    """Modal batch: billed seconds = compute + one cold start per container.

    Wall time = waves x per-chunk time + one cold start, where waves = ceil(chunks / max
    containers) (a partial wave still takes a whole chunk's time) and per-chunk time =
    min(chunk size, transactions per run) x seconds per transaction.
    """
    chunks = chunks_per_run(w)
    containers = containers_per_run(w)
    compute = w.transactions_per_run * w.seconds_per_transaction
    billed = compute + containers * w.cold_start_seconds
    per_run = billed * billed_rate(w.cpu, w.memory_mib, prices)
    waves = math.ceil(chunks / max(w.max_containers, 1)) if chunks else 0
    chunk_seconds = min(w.chunk_size, w.transactions_per_run) * w.seconds_per_transaction
    wall = waves * chunk_seconds + (w.cold_start_seconds if chunks else 0.0)
    return Estimate("Modal batch", per_run, per_run * w.runs_per_month, wall, billed,
                    w.transactions_per_month, f"{chunks:,} chunks on up to {containers:,} containers")


def server_estimate(w: Workload) -> Estimate:
    """Always-on server: a fixed monthly price shared by the month's runs; scores on its cores."""
    compute = w.transactions_per_run * w.seconds_per_transaction
    wall = compute / max(w.server_workers, 1)
    per_run = w.server_monthly / max(w.runs_per_month, 1)
    return Estimate("Always-on server", per_run, w.server_monthly, wall, compute,
                    w.transactions_per_month,
                    f"${w.server_monthly:,.2f}/month whatever the volume, {w.server_workers} workers")


def per_call_estimate(w: Workload) -> Estimate:
    """One call per transaction (the old product), at its measured price and speed."""
    n = w.transactions_per_run
    per_run = n * per_call_cost_per_transaction()
    wall = n / per_call_throughput()
    return Estimate("One call per transaction", per_run, per_run * w.runs_per_month, wall, wall,
                    w.transactions_per_month,
                    f"${per_call_cost_per_transaction():.5f}/transaction, {per_call_throughput():.1f}/s")


def compare(w: Workload, prices: Prices | None = None) -> list[Estimate]:
    """The three ways side by side."""
    return [modal_estimate(w, prices), server_estimate(w), per_call_estimate(w)]


def compare_frame(w: Workload, prices: Prices | None = None) -> pd.DataFrame:
    """`compare` as a table for the page."""
    return pd.DataFrame([{
        "option": e.name, "cost_per_run": e.cost_per_run, "cost_per_month": e.cost_per_month,
        "cost_per_transaction": e.cost_per_transaction, "wall_seconds_per_run": e.wall_seconds_per_run,
        "note": e.note} for e in compare(w, prices)])


def modal_monthly(w: Workload, transactions_per_month: float, prices: Prices | None = None) -> float:
    return modal_estimate(replace(w, transactions_per_month=int(transactions_per_month)), prices).cost_per_month


def volume_steps(low: int = 1_000, high: int = 100_000_000) -> list[int]:
    """Monthly volumes 1-2-5 per decade from `low` to at least `high`, for the chart."""
    out, decade = [], 10 ** int(math.floor(math.log10(max(low, 1))))
    while not out or out[-1] < high:
        for m in (1, 2, 5):
            if low <= m * decade and (not out or out[-1] < high):
                out.append(m * decade)
        decade *= 10
    return out


def chart_volumes(w: Workload, prices: Prices | None = None) -> list[int]:
    """Volumes for the chart: 1,000 a month up to past the break-even point (or 100 M)."""
    high = max(100_000_000, w.transactions_per_month)
    even = break_even_volume(w, prices, limit=10**12)
    if even:
        high = max(high, even * 2)
    return volume_steps(1_000, high)


def cost_table(w: Workload, prices: Prices | None = None, volumes: list[int] | None = None) -> pd.DataFrame:
    """Monthly cost of each option against monthly volume (the chart and its data table)."""
    volumes = volumes or chart_volumes(w, prices)
    rows = []
    for v in volumes:
        wv = replace(w, transactions_per_month=int(v))
        rows.append({"transactions_per_month": int(v),
                     "modal": modal_estimate(wv, prices).cost_per_month,
                     "always_on": server_estimate(wv).cost_per_month,
                     "per_call": per_call_estimate(wv).cost_per_month})
    return pd.DataFrame(rows)


def break_even_volume(w: Workload, prices: Prices | None = None, limit: int = 10**13) -> int | None:
    """The smallest monthly volume at which Modal costs at least the always-on server.

    Modal's monthly cost never falls as volume grows, so a bisection over whole transactions
    finds it. None if Modal stays cheaper up to `limit` transactions a month (or is already
    dearer at one transaction: then returns 1).
    """
    def dearer(v: int) -> bool:
        return modal_monthly(w, v, prices) >= w.server_monthly
    if dearer(1):
        return 1
    if not dearer(limit):
        return None
    lo, hi = 1, limit          # dearer(lo) is False, dearer(hi) is True
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if dearer(mid):
            hi = mid
        else:
            lo = mid
    return hi


def per_call_break_even_volume(w: Workload) -> int:
    """Monthly volume at which one-call-per-transaction costs at least the always-on server."""
    return math.ceil(w.server_monthly / per_call_cost_per_transaction() - 1e-9)


def measured_seconds_per_transaction(compute_seconds: float, transactions: int) -> float | None:
    """Compute seconds per transaction from a finished run (None when it measured nothing)."""
    if not transactions or compute_seconds is None or compute_seconds <= 0:
        return None
    return float(compute_seconds) / transactions
