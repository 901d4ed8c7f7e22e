"""Scoring core benchmark: prints figures, asserts nothing.

    python bench/bench_engine.py [ROWS]        (default 1,000,000)

In one run: the CLI's wall time and peak memory for ROWS transactions against a 5-card wallet
with capped and rotating cards; the I/O floor (reading that input and writing an output of the
same shape with pandas/pyarrow, in a fresh process) and the ratio of the two; and the engine
alone on one core (prepare_frame + score_prepared, in process).
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.generate import generate  # noqa: E402

WALLET = "amex_blue_cash_preferred,citi_double_cash,chase_ink_business_cash,chase_freedom_flex,citi_custom_cash"

IO_FLOOR = """
import sys, pandas as pd
frame = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False, engine="pyarrow")
out = frame.copy()
for name in ["reward_category", "recommended_card", "recommended_card_name", "reward_rate", "rewards_earned",
             "runner_up_card", "runner_up_rewards", "confidence", "reasoning", "status", "error"]:
    out[name] = frame["merchant"] if name in ("reasoning", "recommended_card_name") else frame["amount_usd"]
out.to_csv(sys.argv[2], index=False)
"""


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        src, out, floor_out = (Path(tmp) / name for name in ("in.csv", "out.csv", "floor.csv"))
        generate(rows).to_csv(src, index=False)
        print(f"input: {rows:,} rows, {src.stat().st_size / 2**20:.0f} MiB; wallet: {WALLET}")

        floor, floor_mem = timed([sys.executable, "-c", IO_FLOOR, str(src), str(floor_out)])
        print(f"I/O floor (read + write same shape): {floor:6.2f} s   peak {floor_mem:6.0f} MiB")
        cli, cli_mem = timed([sys.executable, "-m", "backend", "score", str(src), "--wallet", WALLET, "--out", str(out)])
        print(f"CLI end to end:                      {cli:6.2f} s   peak {cli_mem:6.0f} MiB   "
              f"{rows / cli:,.0f} tx/s   ratio to I/O floor {cli / floor:.2f}x (target <= 3x; memory target < 1536 MiB)")

        import pandas as pd
        from backend.catalog import load_catalog
        from backend.engine import prepare_frame, score_prepared
        from backend.wallet import Wallet, parse_wallet

        frame = pd.read_csv(src, dtype=str, keep_default_na=False)
        catalog, wallet = load_catalog(), Wallet(parse_wallet(WALLET))
        started = time.perf_counter()
        prepared = prepare_frame(frame)
        middle = time.perf_counter()
        score_prepared(prepared, wallet, catalog)
        done = time.perf_counter()
        print(f"engine alone, one core: prepare {middle - started:.2f} s + score {done - middle:.2f} s = "
              f"{done - started:.2f} s -> {rows / (done - started):,.0f} tx/s (target >= 200,000); "
              f"score_prepared alone {rows / (done - middle):,.0f} tx/s")
        print(f"(old product: 1,000 transactions in 42.3 s = 23.6 tx/s; this CPU: {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
