"""The run store on real SQLite and real Parquet files, fed by the real engine (no executor)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from backend import engine
from backend.catalog import load_catalog
from backend.payload import ROW
from backend.runs import output_columns, plan_chunks
from backend.store import ChunkFileError, Store, error_rows
from backend.wallet import Wallet, parse_wallet
from bench.generate import generate

WALLET = Wallet(parse_wallet("amex_blue_cash_preferred,citi_double_cash,chase_freedom_flex"))


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(400, 8, seed=11, card_used="citi_double_cash")


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "home")


def new_run(store: Store, frame: pd.DataFrame, catalog, run_id: str = "r1", chunk_size: int = 100):
    """Plan and store a run the way RunManager.submit does; returns (ordered input, bounds)."""
    ordered, bounds = plan_chunks(engine.prepare_frame(frame), chunk_size)
    store.create_run(run_id, name="test", executor="local", options={"chunk_size": chunk_size},
                     wallet=WALLET.to_dict(), catalog=catalog.subset(WALLET.card_ids()),
                     valuation={"profile": "cash", "overrides": {}}, columns=output_columns(frame),
                     prepared=ordered, bounds=bounds)
    return ordered, bounds


def score_chunk(ordered: pd.DataFrame, bounds, idx: int, catalog) -> pd.DataFrame:
    rows = ordered.iloc[bounds[idx][0]:bounds[idx][1]]
    scored = engine.score_prepared(rows.drop(columns=[ROW]), WALLET, catalog).reset_index(drop=True)
    scored[ROW] = rows[ROW].to_numpy()
    return scored


def finish_all(store: Store, ordered, bounds, catalog, run_id: str = "r1") -> None:
    for idx in range(len(bounds)):
        assert store.mark_spawned(run_id, idx, f"call-{idx}")
        assert store.finish_chunk(run_id, idx, f"call-{idx}", score_chunk(ordered, bounds, idx, catalog), 0.5)


def test_results_come_back_in_input_order_equal_to_the_engine(store, frame, catalog):
    ordered, bounds = new_run(store, frame, catalog)
    assert len(bounds) > 2
    assert ordered[ROW].tolist() != list(range(len(frame)))      # chunk order differs from input order
    finish_all(store, ordered, bounds, catalog)
    pd.testing.assert_frame_equal(store.results("r1"), engine.score(frame, WALLET, catalog))
    summary = store.summary("r1")
    assert summary["total_transactions"] == len(frame)


def test_a_late_or_duplicate_result_is_not_counted_twice(store, frame, catalog):
    ordered, bounds = new_run(store, frame, catalog)
    scored = score_chunk(ordered, bounds, 0, catalog)
    store.mark_spawned("r1", 0, "old-call")
    store.mark_spawned("r1", 0, "new-call")           # spawned again (e.g. after a restart)
    assert not store.finish_chunk("r1", 0, "old-call", scored, 1.0)
    assert store.finish_chunk("r1", 0, "new-call", scored, 1.0)
    assert not store.finish_chunk("r1", 0, "new-call", scored, 1.0)
    snap = store.snapshot("r1")
    assert snap.done == 1 and snap.rows_done == bounds[0][1] - bounds[0][0]
    assert snap.rewards == pytest.approx(scored.loc[scored.status == "ok", "rewards_earned"].sum())


def test_snapshot_fields(store, frame, catalog):
    ordered, bounds = new_run(store, frame, catalog)
    store.acquire_lease("r1", "this-test")
    store.set_status("r1", "running")
    parts = [score_chunk(ordered, bounds, i, catalog) for i in range(2)]
    for i, part in enumerate(parts):
        store.mark_spawned("r1", i, f"c{i}")
        store.finish_chunk("r1", i, f"c{i}", part, 2.0 + i)
    store.mark_spawned("r1", 2, "c2")                             # in flight
    store.mark_failure("r1", 3, None, "RuntimeError: spawn refused", backoff_s=5)   # waiting to retry
    snap = store.snapshot("r1")
    done = pd.concat(parts)
    ok = done[done.status == "ok"]
    assert (snap.total_rows, snap.total_chunks) == (len(frame), len(bounds))
    assert (snap.done, snap.in_flight, snap.retrying, snap.failed) == (2, 1, 1, 0)
    assert snap.queued == len(bounds) - 4
    assert snap.rows_done == len(done)
    assert snap.rows_ok == len(ok) and snap.rows_skipped == int((done.status == "skipped").sum())
    assert snap.rewards_by_card == pytest.approx(ok.groupby("recommended_card")["rewards_earned"].sum().to_dict())
    assert snap.rewards_by_category == pytest.approx(ok.groupby("reward_category")["rewards_earned"].sum().to_dict())
    assert snap.missed_rewards == pytest.approx(done["missed_rewards"].sum())
    assert snap.compute_seconds == [(0, 2.0), (1, 3.0)]
    assert snap.cost_usd is not None and 0 < snap.cost_usd < 0.001
    assert snap.chunk_states[:4] == ["done", "done", "running", "retrying"]
    assert snap.errors[0]["chunk"] == 3 and "spawn refused" in snap.errors[0]["error"]
    assert snap.status == "running" and snap.live
    assert snap.throughput and all(rate >= 0 for _, rate in snap.throughput)
    assert sum(rate for _, rate in snap.throughput) > 0
    assert 0 < snap.progress < 1


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated"])
def test_a_damaged_chunk_file_is_detected_and_queued_again(store, frame, catalog, damage):
    ordered, bounds = new_run(store, frame, catalog)
    finish_all(store, ordered, bounds, catalog)
    store.set_status("r1", "done")
    path = store.chunk_path("r1", 1)
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"PAR1 not really")
    else:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ChunkFileError, match="chunk file\\(s\\) 1 missing or damaged"):
        store.results("r1")
    chunk = store.chunks("r1")[1]
    assert chunk.state == "queued" and chunk.checksum is None
    assert store.run("r1").status == "interrupted"      # resume carries it on
    assert store.snapshot("r1").done == len(bounds) - 1
    # the chunk redone, everything is whole again
    store.mark_spawned("r1", 1, "again")
    store.finish_chunk("r1", 1, "again", score_chunk(ordered, bounds, 1, catalog), 0.1)
    pd.testing.assert_frame_equal(store.results("r1"), engine.score(frame, WALLET, catalog))


def test_a_file_swapped_for_a_valid_one_of_another_length_is_caught(store, frame, catalog):
    ordered, bounds = new_run(store, frame, catalog)
    finish_all(store, ordered, bounds, catalog)
    store.chunk_path("r1", 0).write_bytes(store.chunk_path("r1", 1).read_bytes())
    assert store.verify_chunks("r1") == [0]


def test_unfinished_chunks_give_error_rows_naming_why(store, frame, catalog):
    ordered, bounds = new_run(store, frame, catalog)
    store.mark_spawned("r1", 0, "c0")
    store.finish_chunk("r1", 0, "c0", score_chunk(ordered, bounds, 0, catalog), 0.1)
    store.cancel_open_chunks("r1")
    results = store.results("r1")
    assert len(results) == len(frame)
    assert results["transaction_id"].tolist() == frame["transaction_id"].tolist()
    rest = results[results.error.str.startswith("not scored", na=False)]
    assert len(rest) == len(frame) - (bounds[0][1] - bounds[0][0])
    assert (rest.status == "error").all()
    assert rest.error.str.contains("cancelled").all()
    assert results.dtypes.to_dict() == engine.score(frame, WALLET, catalog).dtypes.to_dict()


def test_error_rows_keep_the_identity_of_each_input_row(frame):
    prepared = engine.prepare_frame(frame).assign(**{ROW: range(len(frame))})
    rows = error_rows(prepared, "chunk 3 failed after 3 attempt(s): boom", output_columns(frame))
    assert list(rows.columns) == output_columns(frame) + [ROW]
    assert rows["transaction_id"].tolist() == frame["transaction_id"].tolist()
    assert set(rows.status) == {"error"} and set(rows.error) == {"chunk 3 failed after 3 attempt(s): boom"}


def test_list_runs_newest_first(store, frame, catalog):
    new_run(store, frame, catalog, "older")
    time.sleep(0.01)
    ordered, bounds = new_run(store, frame, catalog, "newer")
    finish_all(store, ordered, bounds, catalog, "newer")
    store.set_status("newer", "done")
    runs = store.list_runs()
    assert [r["run_id"] for r in runs] == ["newer", "older"]
    assert runs[0]["status"] == "done" and runs[0]["done"] == len(bounds) and runs[0]["total"] == len(frame)
    assert runs[0]["rewards"] > 0 and runs[1]["rewards"] == 0
    assert runs[1]["status"] == "queued"


def test_lease_refused_while_live_and_taken_when_stale_or_dead(store, frame, catalog):
    new_run(store, frame, catalog)
    assert store.acquire_lease("r1", "A") is None
    holder = store.acquire_lease("r1", "B")
    assert holder is not None and holder.lease_owner == "A" and holder.lease_pid == os.getpid()
    ours, cancel = store.heartbeat("r1", "A")
    assert ours and not cancel
    # stale heartbeat: taken over
    assert store.acquire_lease("r1", "B", stale_after=0.0) is None
    assert store.heartbeat("r1", "A") == (False, False)
    # a holder whose process is gone (same host), heartbeat still fresh: taken over
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with store._tx() as con:
        con.execute("UPDATE runs SET lease_owner = 'C', lease_pid = ?, lease_host = ?, heartbeat_at = ?",
                    (int(gone.stdout), socket.gethostname(), time.time()))
    store.set_status("r1", "running")
    assert store.snapshot("r1").status == "interrupted"          # shown as such, not "running"
    assert store.acquire_lease("r1", "D") is None
    assert store.run("r1").lease_owner == "D"
    store.release_lease("r1", "D")
    assert store.run("r1").lease_owner is None


def test_cancel_request_reaches_the_holder(store, frame, catalog):
    new_run(store, frame, catalog)
    store.acquire_lease("r1", "A")
    store.request_cancel("r1")
    assert store.heartbeat("r1", "A") == (True, True)
