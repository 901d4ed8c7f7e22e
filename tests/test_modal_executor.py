"""The real `modal` client (1.6.4) through ModalExecutor, against a local fake control plane.

The fake (tests/fake_modal.py) runs the real `score_chunk` body for every spawned input, so
these tests cover spawn -> poll -> result, remote failures, expired outputs, attach after a
restart and cancel over Modal's own protocol, payload blobs included.
"""
from __future__ import annotations

import socket
import time
from pathlib import Path

import pandas as pd
import pytest

from backend.executors import CallLost, ExecutorUnavailable, get_executor
from backend.executors.modal import CallFailed, ModalExecutor, ModalUnreachable, modal_available
from backend.payload import decode_result, score_payload
from backend.settings import get_settings
from fake_modal import FakeModal, point_client_at, reset_modal_client, sample_payloads


@pytest.fixture
def fake(modal_server, monkeypatch):
    modal_server.reset()
    point_client_at(monkeypatch, modal_server)
    yield modal_server
    reset_modal_client()


@pytest.fixture(scope="module")
def payloads() -> list[bytes]:
    return sample_payloads()


def assert_same_result(got: bytes, payload: bytes) -> None:
    """Same scored rows as scoring the payload here (compute seconds differ, rows must not)."""
    got_rows, _ = decode_result(got)
    want_rows, _ = decode_result(score_payload(payload))
    assert len(got_rows) > 0
    pd.testing.assert_frame_equal(got_rows, want_rows)


def finish(fake: FakeModal, handle, timeout: float = 30) -> bytes:
    fake.wait_done(handle.call_id, timeout)
    return handle.get(timeout=0)


def test_fake_speaks_the_pinned_client_version():
    """The fake implements Modal's private protocol as of one client version: keep them in step."""
    import modal
    from fake_modal import MODAL_VERSION
    assert modal.__version__ == MODAL_VERSION
    assert f"modal=={MODAL_VERSION}" in (Path(__file__).resolve().parents[1] / "requirements.txt").read_text().split()


def test_spawn_pending_then_done(fake, payloads):
    fake.hold_new_calls = True
    handle = ModalExecutor().spawn(payloads[0])
    assert handle.call_id.startswith("fc-")
    with pytest.raises(TimeoutError) as info:
        handle.get(timeout=0)
    assert type(info.value) is TimeoutError  # the built-in one, as the run manager expects
    assert fake.state(handle.call_id) == "held"
    fake.release()
    assert_same_result(finish(fake, handle), payloads[0])
    # a chunk payload is larger than Modal's 8 KiB inline limit for spawned calls: it went up as a
    # blob, and the result came back as one, just like with the real service
    assert {"FunctionGet", "BlobCreate", "FunctionMap", "FunctionGetOutputs", "BlobGet"} <= set(fake.rpc_log)


def test_several_calls_each_get_their_own_result(fake, payloads):
    executor = ModalExecutor()
    handles = [executor.spawn(p) for p in payloads]
    assert len({h.call_id for h in handles}) == len(payloads) > 1
    for handle, payload in zip(reversed(handles), reversed(payloads)):
        assert_same_result(finish(fake, handle), payload)


def test_get_with_timeout_waits_for_the_result(fake, payloads):
    handle = ModalExecutor().spawn(payloads[1])
    assert_same_result(handle.get(timeout=30), payloads[1])


def test_remote_failure_names_the_remote_error(fake, payloads):
    fake.fail_next(1, "worker crashed on card 4111111111111111")
    handle = ModalExecutor().spawn(payloads[0])
    fake.wait_done(handle.call_id)
    with pytest.raises(CallFailed) as info:
        handle.get(timeout=0)
    message = str(info.value)
    assert handle.call_id in message and "RuntimeError" in message and "worker crashed" in message
    assert "4111111111111111" not in message and "1111" in message  # long digit runs are masked


def test_real_body_failure_surfaces(fake):
    """Bytes that are not a payload make the real score_payload raise, remotely."""
    handle = ModalExecutor().spawn(b"not a payload")
    fake.wait_done(handle.call_id)
    with pytest.raises(CallFailed, match="PayloadError"):
        handle.get(timeout=0)


def test_call_past_its_timeout_fails(fake, payloads):
    fake.time_out_next()
    handle = ModalExecutor().spawn(payloads[0])
    fake.wait_done(handle.call_id)
    with pytest.raises(CallFailed, match="timeout"):
        handle.get(timeout=0)


def test_expired_output_is_call_lost_then_spawn_again(fake, payloads):
    executor = ModalExecutor()
    handle = executor.spawn(payloads[0])
    fake.wait_done(handle.call_id)
    fake.expire(handle.call_id)
    with pytest.raises(CallLost, match=handle.call_id):
        handle.get(timeout=0)
    again = executor.spawn(payloads[0])
    assert again.call_id != handle.call_id
    assert_same_result(finish(fake, again), payloads[0])


def test_attach_by_call_id_after_a_restart(fake, payloads):
    fake.hold_new_calls = True
    call_id = ModalExecutor().spawn(payloads[2]).call_id  # only the id is kept, as the run store does
    fake.restart()           # control plane drops connections and volatile state; calls survive
    reset_modal_client()     # and this process "restarts" too: a fresh modal client
    handle = ModalExecutor().attach(call_id)
    assert handle.call_id == call_id
    with pytest.raises(TimeoutError):
        handle.get(timeout=0)
    fake.release(call_id)
    assert_same_result(finish(fake, handle), payloads[2])
    assert "FunctionGet" not in fake.rpc_log  # attach needs no function lookup, only the call id


def test_attach_unknown_or_malformed_call_is_lost(fake):
    executor = ModalExecutor()
    with pytest.raises(CallLost):
        executor.attach("fc-never-spawned").get(timeout=0)
    with pytest.raises(CallLost):
        executor.attach("local-123")


def test_cancel(fake, payloads):
    fake.hold_new_calls = True
    executor = ModalExecutor()
    handle = executor.spawn(payloads[0])
    handle.cancel()
    assert fake.state(handle.call_id) == "cancelled"
    with pytest.raises(CallFailed, match="cancelled"):
        handle.get(timeout=0)
    handle.cancel()  # cancelling again is harmless
    fake.hold_new_calls = False
    done = executor.spawn(payloads[1])
    result = finish(fake, done)
    done.cancel()  # a finished call: no error, result untouched
    assert_same_result(result, payloads[1])


def test_get_executor_builds_the_modal_executor(fake, payloads):
    executor = get_executor("modal", get_settings())
    assert isinstance(executor, ModalExecutor) and executor.name == "modal"
    assert_same_result(finish(fake, executor.spawn(payloads[0])), payloads[0])


def test_app_not_deployed_says_how_to_deploy(fake, payloads, monkeypatch):
    monkeypatch.setenv("REWARDPILOT_MODAL_APP", "not-deployed-app")
    with pytest.raises(ExecutorUnavailable, match="modal deploy backend/modal_app.py"):
        ModalExecutor().spawn(payloads[0])


def test_rejected_token_is_unavailable(fake, payloads, monkeypatch):
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-wrong")
    reset_modal_client()
    with pytest.raises(ExecutorUnavailable, match="modal token new"):
        ModalExecutor().spawn(payloads[0])


def _no_token(monkeypatch) -> None:
    import modal.config
    monkeypatch.setattr(modal.config, "_user_config", {})
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    reset_modal_client()


def _dead_url() -> str:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_no_token_is_unavailable_at_once_with_how_to(monkeypatch):
    _no_token(monkeypatch)
    monkeypatch.setenv("MODAL_SERVER_URL", _dead_url())  # any network attempt would retry for ~60 s
    assert not modal_available()
    started = time.monotonic()
    for make in (ModalExecutor, lambda: get_executor("modal", get_settings())):
        with pytest.raises(ExecutorUnavailable) as info:
            make()
        message = str(info.value)
        assert "modal token new" in message and "MODAL_TOKEN_ID" in message and "MODAL_TOKEN_SECRET" in message
        assert "modal deploy backend/modal_app.py" in message
    assert time.monotonic() - started < 5  # hang guard: not the ~60 s network retry path


def test_modal_available_reads_env_tokens(monkeypatch):
    _no_token(monkeypatch)
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-x")
    assert not modal_available()  # both halves are needed
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-x")
    assert modal_available()


@pytest.fixture
def dead_modal(monkeypatch):
    """Tokens set, but nothing listens at the server URL: the client would retry for ~60 s."""
    import modal.config
    monkeypatch.setattr(modal.config, "_user_config", {})
    monkeypatch.setenv("MODAL_SERVER_URL", _dead_url())
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-x")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-x")
    reset_modal_client()
    yield
    reset_modal_client()


def test_unreachable_modal_spawn_is_bounded_then_fails_fast(dead_modal, payloads):
    executor = ModalExecutor(spawn_bound_s=1.0, cooldown_s=600)
    with pytest.raises(ModalUnreachable, match="within 1s"):
        executor.spawn(payloads[0])
    # during the cool-down nothing touches the network: calls fail at once instead of stalling
    with pytest.raises(ModalUnreachable, match="cool-down"):
        executor.spawn(payloads[0])
    executor.attach("fc-anything").cancel()  # best effort, never raises


def test_unreachable_modal_poll_counts_as_running_until_give_up(dead_modal):
    patient = ModalExecutor(poll_bound_s=0.5, cooldown_s=600, give_up_s=600)
    with pytest.raises(TimeoutError) as info:   # a blip: the call is presumably still running
        patient.attach("fc-anything").get(timeout=0)
    assert "still running" in str(info.value)
    with pytest.raises(TimeoutError):           # cool-down: same answer, no network
        patient.attach("fc-anything").get(timeout=0)
    impatient = ModalExecutor(poll_bound_s=0.5, cooldown_s=600, give_up_s=0)
    with pytest.raises(ModalUnreachable):       # silent for longer than give_up_s: a failure
        impatient.attach("fc-anything").get(timeout=0)
