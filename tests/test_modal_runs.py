"""Whole runs on the `modal` executor through the run manager, against the fake control plane.

Same results as the local executor; a remote failure is retried; after a restart of both the
app and the control plane, the run is resumed by attaching to the stored call ids; cancel
reaches the remote calls.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from backend.catalog import load_catalog
from backend.runs import RunManager, RunOptions
from backend.settings import get_settings
from backend.store import Store
from backend.wallet import Wallet, parse_wallet
from fake_modal import point_client_at, reset_modal_client
from helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]
WALLET = Wallet(parse_wallet("amex_business_gold,chase_ink_business_unlimited,capital_one_spark_cash_plus"))
CHUNK = 80  # rows: the 303-row sample makes several chunks


@pytest.fixture
def fake(modal_server, monkeypatch, tmp_path):
    modal_server.reset()
    point_client_at(monkeypatch, modal_server)
    monkeypatch.setenv("REWARDPILOT_HOME", str(tmp_path / "home"))
    yield modal_server
    reset_modal_client()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_csv(ROOT / "backend" / "samples" / "sample_statement.csv", dtype="string", keep_default_na=False)


@pytest.fixture(scope="module")
def local_results(frame, tmp_path_factory) -> pd.DataFrame:
    """The reference: the same run on the local executor."""
    settings = get_settings()
    store = Store(tmp_path_factory.mktemp("local"))
    manager = RunManager(settings, store)
    try:
        run_id = manager.submit(frame, WALLET, load_catalog(),
                                options=RunOptions(executor="local", chunk_size=CHUNK, workers=1))
        assert manager.wait(run_id, timeout=120) == "done"
        return store.results(run_id)
    finally:
        manager.shutdown()


def _manager() -> tuple[RunManager, Store]:
    settings = get_settings()
    store = Store(settings.home)
    return RunManager(settings, store), store


MODAL = RunOptions(executor="modal", chunk_size=CHUNK, attempts=3, backoff_s=0.05)


def test_modal_run_matches_local_and_retries_a_failure(fake, frame, local_results):
    fake.fail_next(1, "container lost")
    manager, store = _manager()
    try:
        run_id = manager.submit(frame, WALLET, load_catalog(), options=MODAL)
        assert manager.wait(run_id, timeout=120) == "done"
        chunks = store.chunks(run_id)
        assert len(chunks) > 2 and all(c.state == "done" and c.call_id.startswith("fc-") for c in chunks)
        assert sum(c.failures for c in chunks) == 1          # the failed call was retried, once
        assert len(fake.calls) == len(chunks) + 1
        pd.testing.assert_frame_equal(store.results(run_id), local_results)
    finally:
        manager.shutdown()


def test_expired_output_is_spawned_again(fake, frame, local_results):
    fake.hold_new_calls = True
    manager, store = _manager()
    try:
        run_id = manager.submit(frame, WALLET, load_catalog(), options=MODAL)
        n = len(store.chunks(run_id))
        wait_for(lambda: len(fake.calls) == n, what="every chunk spawned", every=0.02)
        first = sorted(fake.calls)[0]
        fake.expire(first)                                   # its output is gone before it is read
        fake.hold_new_calls = False
        fake.release()
        assert manager.wait(run_id, timeout=120) == "done"
        assert len(fake.calls) == n + 1 and sum(c.failures for c in store.chunks(run_id)) == 0
        pd.testing.assert_frame_equal(store.results(run_id), local_results)
    finally:
        manager.shutdown()


def test_resume_after_restart_attaches_to_stored_calls(fake, frame, local_results):
    fake.hold_new_calls = True
    manager, store = _manager()
    run_id = manager.submit(frame, WALLET, load_catalog(), options=MODAL)
    n = len(store.chunks(run_id))
    wait_for(lambda: len(fake.calls) == n and all(c.call_id for c in store.chunks(run_id)),
             what="calls stored", every=0.02)
    manager.shutdown()                      # the app stops with every call still running remotely
    spawned = set(fake.calls)
    fake.restart()                          # so does the control plane; calls and results survive
    reset_modal_client()

    manager, store = _manager()             # a new process, in effect
    try:
        assert manager.resume(run_id)
        fake.release()
        assert manager.wait(run_id, timeout=120) == "done"
        assert set(fake.calls) == spawned   # nothing spawned again: attached by stored call id
        assert {c.call_id for c in store.chunks(run_id)} == spawned
        pd.testing.assert_frame_equal(store.results(run_id), local_results)
    finally:
        manager.shutdown()


def test_cancel_reaches_the_remote_calls(fake, frame):
    fake.hold_new_calls = True
    manager, store = _manager()
    try:
        run_id = manager.submit(frame, WALLET, load_catalog(), options=MODAL)
        n = len(store.chunks(run_id))
        wait_for(lambda: len(fake.calls) == n, what="every chunk spawned", every=0.02)
        manager.cancel(run_id)
        assert {fake.state(c) for c in fake.calls} == {"cancelled"}
        assert store.run(run_id).status == "cancelled"
    finally:
        manager.shutdown()
