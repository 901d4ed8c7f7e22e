"""The CLI process killed with SIGKILL mid-run, then `python -m backend runs resume`.

Real processes all the way: `python -m backend score --executor local` (slowed by the test
hook REWARDPILOT_TEST_CHUNK_SLEEP so chunks are in flight), a second CLI that must not take the
live run, SIGKILL, and a resume in a fresh process that must finish with every input row
exactly once and the same CSV as an uninterrupted in-process run.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from backend.payload import SLEEP_ENV
from backend.store import Store
from bench.generate import generate
from helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]
WALLET = "amex_blue_cash_preferred,citi_double_cash,chase_freedom_flex"


def cli(*args: str, env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, **kwargs)


def children(pid: int) -> set[int]:
    """Direct children of a process (Linux /proc)."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            pass
    return out




@pytest.fixture
def setup(tmp_path):
    frame = generate(300, 12, seed=21)
    frame.loc[9, "timestamp"] = "yesterday"                         # an error row
    source = tmp_path / "statement.csv"
    frame.to_csv(source, index=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REWARDPILOT_")}
    env["REWARDPILOT_HOME"] = str(tmp_path / "home")
    env["PYTHONPATH"] = str(ROOT)
    return frame, source, env, tmp_path


def slow_batch(source: Path, env: dict, out: Path) -> subprocess.Popen:
    """`score --executor local` in its own process, one worker, chunks slowed to 0.3 s each."""
    return subprocess.Popen([sys.executable, "-m", "backend", "score", str(source), "--wallet", WALLET,
                             "--executor", "local", "--chunk-size", "30", "--workers", "1", "--out", str(out)],
                            cwd=ROOT, env={**env, SLEEP_ENV: "0.3"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_cli_killed_mid_run_then_resumed_equals_an_uninterrupted_run(setup):
    frame, source, env, tmp = setup
    run = slow_batch(source, env, tmp / "never.csv")
    try:
        store = Store(tmp / "home")
        run_id = wait_for(lambda: next((r["run_id"] for r in store.list_runs() if r["done"] >= 2), None),
                          what="two chunks done")
        # a second process cannot take the live run
        busy = cli("runs", "resume", run_id, env=env)
        assert busy.returncode == 3, busy.stderr
        assert f"being worked by process {run.pid}" in busy.stderr
        workers = children(run.pid)
        assert workers
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
        run.communicate()
    assert not (tmp / "never.csv").exists()
    # its pool workers notice their parent is gone and exit (no orphans left running)
    wait_for(lambda: not any(Path(f"/proc/{p}").exists() and "zombie" not in _state(p) for p in workers),
             timeout=15, what="orphaned pool workers to exit")

    shown = json.loads(cli("runs", "show", run_id, "--json", env=env).stdout)
    assert shown["status"] == "interrupted" and 2 <= shown["done"] < shown["total_chunks"]

    resumed = cli("runs", "resume", run_id, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Run {run_id}: done" in resumed.stdout

    exported = cli("runs", "export", run_id, "--out", str(tmp / "resumed.csv"), env=env)
    assert exported.returncode == 0, exported.stderr
    plain = cli("score", str(source), "--wallet", WALLET, "--out", str(tmp / "uninterrupted.csv"), env=env)
    assert plain.returncode == 0, plain.stderr
    got = pd.read_csv(tmp / "resumed.csv", dtype=str, keep_default_na=False)
    want = pd.read_csv(tmp / "uninterrupted.csv", dtype=str, keep_default_na=False)
    assert sorted(got["transaction_id"]) == sorted(frame["transaction_id"])      # every row exactly once
    pd.testing.assert_frame_equal(got, want)

    listed = json.loads(cli("runs", "list", "--json", env=env).stdout)
    assert [(r["run_id"], r["status"], r["total"]) for r in listed] == [(run_id, "done", len(frame))]
    chunks = store.chunks(run_id)
    assert sum(c.rows for c in chunks) == len(frame) and {c.state for c in chunks} == {"done"}


def test_cli_cancel_reaches_the_process_running_the_run(setup):
    frame, source, env, tmp = setup
    run = slow_batch(source, env, tmp / "partial.csv")
    try:
        store = Store(tmp / "home")
        run_id = wait_for(lambda: next((r["run_id"] for r in store.list_runs() if r["done"] >= 1), None),
                          what="a chunk done")
        cancelled = cli("runs", "cancel", run_id, env=env)
        assert cancelled.returncode == 0, cancelled.stderr
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err
    assert f"run {run_id} ended cancelled" in err
    snap = store.snapshot(run_id)
    assert snap.status == "cancelled" and snap.cancelled >= 1
    partial = pd.read_csv(tmp / "partial.csv", dtype=str, keep_default_na=False)
    assert len(partial) == len(frame)                       # every row accounted for, unscored ones say why
    assert partial["error"].str.startswith("not scored").sum() == len(frame) - snap.rows_done


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "gone"
