"""Batch runs through the run manager on the real local executor (real processes, real SQLite).

Test hooks used (read by backend.payload.score_payload in the pool's worker processes, which
see the environment of the moment their pool was made):
REWARDPILOT_TEST_CHUNK_SLEEP=<s> slows every call so chunks are in flight when a test acts;
REWARDPILOT_TEST_CHUNK_FAIL=<msg> makes every call fail.
"""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest

from backend import engine
from backend.catalog import load_catalog
from backend.payload import FAIL_ENV, SLEEP_ENV
from backend.runs import RunBusy, RunManager, RunOptions, mask_digits, plan_chunks
from backend.store import ChunkFileError, Store
from backend.wallet import Wallet, parse_wallet
from bench.generate import generate
from helpers import wait_for

WALLET = Wallet(parse_wallet("amex_blue_cash_preferred,citi_double_cash,chase_freedom_flex,citi_custom_cash"),
                accounts={"acct_3": parse_wallet("bank_of_america_customized_cash:dining,chase_ink_business_cash")})


def make_frame() -> pd.DataFrame:
    """Two calendar years, 30 accounts (about 6 purchases per account-year), interleaved; plus
    rows the checks reject."""
    a = generate(220, 30, seed=5, year=2024, card_used="citi_double_cash")
    b = generate(140, 30, seed=6, year=2025, card_used="citi_double_cash")
    b["transaction_id"] = "b_" + b["transaction_id"]
    frame = pd.concat([a, b], ignore_index=True).sample(frac=1.0, random_state=1).reset_index(drop=True)
    frame["amount_usd"] = frame["amount_usd"].astype(str)
    frame.loc[3, "timestamp"] = "not a date"
    frame.loc[10, "amount_usd"] = "abc"
    frame.loc[20, "transaction_id"] = frame.loc[21, "transaction_id"]
    return frame


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="module")
def reference(frame, catalog) -> pd.DataFrame:
    return engine.score(frame, WALLET, catalog)


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "home")


@pytest.fixture
def managers(store):
    """Make managers on this test's store; all are shut down at the end."""
    made: list[RunManager] = []

    def make(**kwargs) -> RunManager:
        made.append(RunManager(store=store, **kwargs))
        return made[-1]
    yield make
    for m in made:
        m.shutdown()




# -- planning ---------------------------------------------------------------------------
def test_plan_keeps_account_years_whole_and_packs_up_to_the_target(frame):
    prepared = engine.prepare_frame(frame)
    ordered, bounds = plan_chunks(prepared, 40)
    assert sorted(ordered["_row"]) == list(range(len(frame)))
    year = ordered["ts"].dt.year
    year = year.fillna(year.groupby(ordered["user_id"]).transform("min"))   # undated rows: first year
    key = (ordered["user_id"] + "/" + year.astype("string")).to_numpy()
    chunk_of_row = np.repeat(np.arange(len(bounds)), [b - a for a, b in bounds])
    assert (pd.Series(chunk_of_row).groupby(key).nunique() == 1).all()   # an account-year never splits
    sizes = [b - a for a, b in bounds]
    assert max(sizes) <= 40 and sum(sizes) == len(frame)
    # greedy: no chunk could have taken the next chunk's first account-year (one of its groups)
    group_size = pd.Series(key).map(pd.Series(key).value_counts()).to_numpy()
    biggest_next = [group_size[a:b].max() for a, b in bounds]
    assert all(sizes[i] + biggest_next[i + 1] > 40 for i in range(len(bounds) - 1))
    # inside a chunk, rows keep their input order
    assert all(ordered["_row"].iloc[a:b].is_monotonic_increasing for a, b in bounds)


def test_plan_rows_without_a_date_go_with_their_accounts_first_chunk(frame):
    prepared = engine.prepare_frame(frame)
    ordered, bounds = plan_chunks(prepared, 40)
    bad = ordered.index[ordered["_row"] == 3][0]
    user = ordered.loc[bad, "user_id"]
    chunk_of_row = np.repeat(np.arange(len(bounds)), [b - a for a, b in bounds])
    assert chunk_of_row[bad] == chunk_of_row[(ordered["user_id"] == user).to_numpy()].min()


def test_plan_an_account_year_bigger_than_the_target_is_one_chunk():
    prepared = engine.prepare_frame(generate(300, 2, seed=1))
    ordered, bounds = plan_chunks(prepared, 10)
    assert len(bounds) == 2 and sum(b - a for a, b in bounds) == 300


# -- results are the engine's, whatever the execution ---------------------------------
@pytest.mark.parametrize("workers, chunk_sizes", [(1, (1, None)), (2, (7, None))])
def test_same_results_as_the_engine_for_any_chunk_size_and_worker_count(managers, frame, reference, catalog,
                                                                          workers, chunk_sizes):
    manager = managers()
    for chunk_size in chunk_sizes:
        run_id = manager.submit(frame, WALLET, catalog, options=RunOptions(chunk_size=chunk_size, workers=workers))
        assert manager.wait(run_id, timeout=120) == "done"
        pd.testing.assert_frame_equal(manager.store.results(run_id), reference)
        snap = manager.store.snapshot(run_id)
        assert snap.rows_done == len(frame) and snap.done == snap.total_chunks
        if chunk_size == 1:
            assert snap.total_chunks >= 55         # one account-year per chunk
        assert snap.rewards == pytest.approx(reference.loc[reference.status == "ok", "rewards_earned"].sum())
        summary = manager.store.summary(run_id)
        assert summary["total_transactions"] == len(frame)


def test_a_killed_worker_fails_only_its_calls_and_the_run_completes(managers, frame, reference, catalog, monkeypatch):
    monkeypatch.setenv(SLEEP_ENV, "0.3")
    manager = managers()
    run_id = manager.submit(frame, WALLET, catalog, options=RunOptions(chunk_size=50, workers=2, backoff_s=0.05))
    executor = manager.executor_for(run_id)
    pids = wait_for(executor.running_pids, what="a call to start in a worker")
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    assert manager.wait(run_id, timeout=120) == "done"
    pd.testing.assert_frame_equal(manager.store.results(run_id), reference)
    chunks = manager.store.chunks(run_id)
    hit = [c for c in chunks if c.failures]
    assert hit and all("BrokenProcessPool" in c.error and "died" in c.error for c in hit)
    assert all(c.state == "done" for c in chunks)
    assert len(hit) <= 2                       # at most the calls running in the broken pool
    assert executor.pools_made == 2            # the pool was made again for the retries


def test_retries_exhausted_give_error_rows_naming_the_failure(managers, frame, reference, catalog, monkeypatch):
    monkeypatch.setenv(FAIL_ENV, "scorer exploded on card 4111111111111111")
    failing = managers()
    run_id = failing.submit(frame, WALLET, catalog,
                            options=RunOptions(chunk_size=150, workers=1, attempts=2, backoff_s=0.01))
    assert failing.wait(run_id, timeout=60) == "failed"
    results = failing.store.results(run_id)
    assert len(results) == len(frame)
    assert results["transaction_id"].tolist() == frame["transaction_id"].tolist()
    assert (results.status == "error").all()
    assert results.error.str.contains(r"failed after 2 attempt\(s\): RuntimeError: scorer exploded").all()
    assert not results.error.str.contains("4111111111111111").any()        # card numbers masked
    assert results.error.str.contains("************1111", regex=False).all()
    snap = failing.store.snapshot(run_id)
    assert snap.failed == snap.total_chunks and snap.rows_error == len(frame) and snap.errors
    assert all(c.attempts == 2 and c.failures == 2 for c in failing.store.chunks(run_id))
    # fixed (a fresh pool without the failure), the failed chunks run again and the run is whole
    monkeypatch.delenv(FAIL_ENV)
    fixed = managers()
    assert fixed.retry_failed(run_id)
    assert fixed.wait(run_id, timeout=60) == "done"
    pd.testing.assert_frame_equal(fixed.store.results(run_id), reference)


def test_cancel_keeps_finished_chunks_and_nothing_half_written(managers, store, frame, reference, catalog, monkeypatch):
    monkeypatch.setenv(SLEEP_ENV, "0.3")
    manager = managers()
    run_id = manager.submit(frame, WALLET, catalog, options=RunOptions(chunk_size=30, workers=1))
    wait_for(lambda: store.snapshot(run_id).done >= 2, what="two chunks done")
    manager.cancel(run_id)
    assert manager.wait(run_id, timeout=5) == "cancelled"
    snap = store.snapshot(run_id)
    assert snap.status == "cancelled" and snap.done >= 2 and snap.cancelled >= 1
    assert snap.done + snap.cancelled == snap.total_chunks and snap.in_flight == snap.queued == 0
    time.sleep(0.8)                 # a call that was running finishes in the pool: it must not count
    again = store.snapshot(run_id)
    assert (again.done, again.rows_done) == (snap.done, snap.rows_done)
    files = sorted(p.name for p in store.run_dir(run_id).iterdir())
    assert files == sorted(["input.parquet"] + [f"chunk-{c.idx}.parquet" for c in store.chunks(run_id)
                                                  if c.state == "done"])      # no temp files, no extras
    results = store.results(run_id)
    assert len(results) == len(frame)
    assert (results.error.str.startswith("not scored", na=False)).sum() == len(frame) - snap.rows_done
    # resumed later (by a fresh manager), the cancelled chunks run and the run is whole
    monkeypatch.delenv(SLEEP_ENV)
    later = managers()
    assert later.resume(run_id)
    assert later.wait(run_id, timeout=60) == "done"
    pd.testing.assert_frame_equal(store.results(run_id), reference)


def test_a_corrupt_chunk_file_is_detected_and_redone(managers, store, frame, reference, catalog):
    manager = managers()
    run_id = manager.submit(frame, WALLET, catalog, options=RunOptions(chunk_size=80, workers=1))
    assert manager.wait(run_id, timeout=60) == "done"
    path = store.chunk_path(run_id, 2)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ChunkFileError, match="chunk file\\(s\\) 2"):
        store.results(run_id)
    assert manager.resume(run_id)
    assert manager.wait(run_id, timeout=60) == "done"
    pd.testing.assert_frame_equal(store.results(run_id), reference)
    assert [c.attempts for c in store.chunks(run_id)] == [1] * store.run(run_id).total_chunks


def test_a_second_manager_cannot_take_a_live_run_but_takes_a_stale_one(managers, store, frame, reference,
                                                                        catalog, monkeypatch):
    monkeypatch.setenv(SLEEP_ENV, "0.2")
    first = managers()
    run_id = first.submit(frame, WALLET, catalog, options=RunOptions(chunk_size=50, workers=1))
    second = managers()
    with pytest.raises(RunBusy, match=f"being worked by process {os.getpid()}"):
        second.resume(run_id)
    wait_for(lambda: store.snapshot(run_id).done >= 1, what="a chunk done")
    # a manager that judges the first one's heartbeat stale takes the run over; the first backs off
    monkeypatch.delenv(SLEEP_ENV)
    third = managers(stale_after=0.0)
    assert third.resume(run_id)
    assert store.run(run_id).lease_owner == third.owner
    wait_for(lambda: run_id not in first.active_runs(), what="the first manager to let go")
    assert third.wait(run_id, timeout=60) == "done"
    pd.testing.assert_frame_equal(store.results(run_id), reference)
    snap = store.snapshot(run_id)
    assert snap.rows_done == len(frame) and snap.done == snap.total_chunks


def test_cancel_from_another_manager_reaches_the_holder(managers, store, frame, catalog, monkeypatch):
    monkeypatch.setenv(SLEEP_ENV, "0.3")
    holder = managers()
    run_id = holder.submit(frame, WALLET, catalog, options=RunOptions(chunk_size=50, workers=1))
    managers().cancel(run_id)                         # the run is live elsewhere: a request
    assert holder.wait(run_id, timeout=10) == "cancelled"
    assert store.snapshot(run_id).status == "cancelled"


def test_mask_digits():
    assert mask_digits("card 4111111111111111 and id 1234567") == "card ************1111 and id 1234567"
