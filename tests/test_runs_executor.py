"""The local executor on its own: Modal's get/TimeoutError semantics over a real process pool."""
from __future__ import annotations

import numpy as np
import pytest

from backend import engine
from backend.catalog import load_catalog
from backend.executors import CallLost, ExecutorUnavailable, get_executor
from backend.executors.local import LocalExecutor
from backend.payload import ROW, SLEEP_ENV, decode_result, encode_chunk
from backend.settings import get_settings
from backend.wallet import Wallet, parse_wallet
from bench.generate import generate

WALLET = Wallet(parse_wallet("citi_double_cash,chase_freedom_flex"))


@pytest.fixture(scope="module")
def payload() -> bytes:
    rows = engine.prepare_frame(generate(200, 3, seed=2))
    rows[ROW] = np.arange(len(rows))
    return encode_chunk(rows, WALLET, load_catalog())


def test_get_raises_the_builtin_timeout_while_running_then_returns_the_result(payload, monkeypatch):
    monkeypatch.setenv(SLEEP_ENV, "0.5")
    executor = LocalExecutor(1)
    try:
        handle = executor.spawn(payload)
        assert handle.call_id.startswith("local-")
        with pytest.raises(TimeoutError) as info:
            handle.get(timeout=0)
        assert type(info.value) is TimeoutError
        data = handle.get(timeout=30)
        rows, seconds = decode_result(data)
        assert len(rows) == 200 and rows[ROW].tolist() == list(range(200)) and seconds > 0
        # a finished call is handed over once; afterwards its id is unknown, like after a restart
        with pytest.raises(CallLost, match="spawned again"):
            executor.attach(handle.call_id)
    finally:
        executor.close()


def test_attach_finds_a_live_call_and_cancel_drops_a_queued_one(payload, monkeypatch):
    monkeypatch.setenv(SLEEP_ENV, "0.3")
    executor = LocalExecutor(1, warm=False)
    try:
        first, second, third = (executor.spawn(payload) for _ in range(3))
        again = executor.attach(first.call_id)
        third.cancel()
        with pytest.raises(CallLost):
            third.get(timeout=0)
        assert decode_result(again.get(timeout=30))[0].shape[0] == 200
        assert decode_result(second.get(timeout=30))[0].shape[0] == 200
        with pytest.raises(CallLost, match="not known to this process"):
            executor.attach("local-from-another-process")
    finally:
        executor.close()


def test_unknown_executor_names_the_choices():
    with pytest.raises(ExecutorUnavailable, match="use one of local, modal"):
        get_executor("spark", get_settings())
