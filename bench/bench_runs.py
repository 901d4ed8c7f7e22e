"""Batch-run benchmark: prints figures, asserts nothing.

    python bench/bench_runs.py [ROWS]        (default 1,000,000)

In one run:
1. 1,000 transactions end to end through the run manager on the local executor (submit ->
   results frame), with a cold pool (worker start included) and a warm one; the old product
   took 42.3 s for 1,000.
2. ROWS transactions through the local executor with 2 workers (submit -> results frame, pool
   start included: what `score --executor local` costs) vs the in-process engine
   (engine.score); the ratio's target is <= 1.0.
3. The manager's own overhead per chunk: the same run again with an executor that answers
   every call at once with the result bytes of step 2 (so no scoring time is left in it).
4. The estimated Modal cost of that run, from the compute seconds the workers measured
   (backend.costs.call_cost at settings.modal_cpu / modal_memory_mib); target < $0.01.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend import engine  # noqa: E402
from backend.catalog import load_catalog  # noqa: E402
from backend.runs import RunManager, RunOptions  # noqa: E402
from backend.store import Store  # noqa: E402
from backend.wallet import Wallet, parse_wallet  # noqa: E402
from bench.generate import generate  # noqa: E402

WALLET = Wallet(parse_wallet("amex_blue_cash_preferred,citi_double_cash,chase_ink_business_cash,"
                             "chase_freedom_flex,citi_custom_cash"))
OLD_PRODUCT_1K_S = 42.3


class _Done:
    """A call that has already finished."""

    def __init__(self, call_id: str, data: bytes):
        self.call_id, self._data = call_id, data

    def get(self, timeout: float = 0) -> bytes:
        return self._data

    def cancel(self) -> None:
        pass


class InstantExecutor:
    """Answers the i-th spawn with the i-th stored result (the manager spawns chunks in order)."""

    name = "instant"

    def __init__(self, results: list[bytes]):
        self._results, self._next = results, 0

    def spawn(self, payload: bytes) -> _Done:
        data = self._results[self._next]
        self._next += 1
        return _Done(f"instant-{self._next}", data)

    def attach(self, call_id: str) -> _Done:
        raise KeyError(call_id)


def through_manager(manager: RunManager, frame, catalog, options: RunOptions) -> tuple[str, dict]:
    """Run a frame to its results frame; returns (run id, seconds per phase and in total)."""
    started = time.perf_counter()
    run_id = manager.submit(frame, WALLET, catalog, options=options)
    submitted = time.perf_counter()
    status = manager.wait(run_id)
    finished = time.perf_counter()
    results = manager.store.results(run_id)
    ended = time.perf_counter()
    assert status == "done" and len(results) == len(frame), (status, len(results))
    return run_id, {"submit": submitted - started, "chunks": finished - submitted, "results": ended - finished,
                    "total": ended - started}


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    catalog = load_catalog()
    with tempfile.TemporaryDirectory() as home:
        store = Store(home)

        small = generate(1000, 25, seed=1)
        cold = RunManager(store=store)
        _, cold_s = through_manager(cold, small, catalog, RunOptions(workers=2))
        _, warm_s = through_manager(cold, small, catalog, RunOptions(workers=2))
        cold.shutdown()
        print(f"1,000 transactions end to end (run manager, local, 2 workers): {cold_s['total']:.2f} s with a cold "
              f"pool, {warm_s['total']:.2f} s warm   (old product {OLD_PRODUCT_1K_S} s: "
              f"{OLD_PRODUCT_1K_S / cold_s['total']:,.0f}x faster cold)")

        frame = generate(rows, max(1, rows // 400), seed=7)
        started = time.perf_counter()
        prepared = engine.prepare_frame(frame)
        prepared_s = time.perf_counter() - started
        engine.score_prepared(prepared, WALLET, catalog)
        engine_s = time.perf_counter() - started
        del prepared
        print(f"{rows:,} transactions, in-process engine:          {engine_s:6.2f} s "
              f"(prepare_frame {prepared_s:.2f} s + score_prepared {engine_s - prepared_s:.2f} s)")

        for chunk_size in (None, 25_000):
            manager = RunManager(store=store)
            run_id, t = through_manager(manager, frame, catalog, RunOptions(workers=2, chunk_size=chunk_size))
            manager.shutdown()
            snap = store.snapshot(run_id)
            print(f"{rows:,} transactions, local executor, 2 workers: {t['total']:6.2f} s   ratio "
                  f"{t['total'] / engine_s:.2f} (target <= 1.0)   {snap.total_chunks} chunks of <= "
                  f"{snap.options['chunk_size']:,} rows: submit (prepare + plan + store input) {t['submit']:.2f} s, "
                  f"chunks {t['chunks']:.2f} s ({snap.compute_seconds_total:.1f} worker-seconds), "
                  f"results frame {t['results']:.2f} s")
            if chunk_size is None:
                default_run, default_snap = run_id, snap

        run_id, snap = default_run, default_snap
        results = [store.chunk_path(run_id, c.idx).read_bytes() for c in store.chunks(run_id)]
        instant = RunManager(store=store)
        instant.use_executor("instant", InstantExecutor(results))
        _, t = through_manager(instant, frame, catalog, RunOptions(executor="instant", workers=2))
        instant.shutdown()
        print(f"manager overhead per chunk (encode payload, poll, store file + totals): "
              f"{t['chunks'] / snap.total_chunks * 1000:.1f} ms x {snap.total_chunks} chunks "
              f"(calls answered at once; submit {t['submit']:.2f} s and results {t['results']:.2f} s not included)")

        cost = "unknown (backend.costs missing)" if snap.cost_usd is None else f"${snap.cost_usd:.4f}"
        print(f"estimated Modal cost of the {rows:,}-row run: {cost} for {snap.compute_seconds_total:.1f} "
              f"compute seconds over {snap.total_chunks} calls (target < $0.01)")


if __name__ == "__main__":
    main()
