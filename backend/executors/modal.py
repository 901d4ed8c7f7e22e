"""The `modal` executor: each chunk is one call of the deployed `score_chunk` Modal function.

`spawn` calls `modal.Function.from_name(settings.modal_app, "score_chunk").spawn(payload)` and
keeps the call id (`fc-...`); `attach` finds a call again with `modal.FunctionCall.from_id`,
even from another process after a restart (Modal keeps results for 7 days).

Error mapping (what the run manager sees):
- still running: the built-in `TimeoutError`, passed through from `FunctionCall.get`;
- result gone (`OutputExpiredError`) or call id unknown (`NotFoundError`): `CallLost`, so the
  manager spawns the chunk again without counting an attempt;
- the remote body raised, or ran past its timeout: `CallFailed`, naming the remote error;
- no token, token rejected, app not deployed: `ExecutorUnavailable`, saying how to fix it;
- Modal did not answer in time: `ModalUnreachable` (a `CallFailed`) from spawn; from get,
  see below.

Why every Modal call here is bounded: with a token but no network, the modal client retries for
about 60 s before giving up. The run manager polls while holding its lock and must heartbeat
its run lease (stale after 15 s), and the dashboard must never freeze, so each blocking client
call runs in a daemon worker thread and the caller waits at most `poll_bound_s` (get, cancel;
plus the poll timeout) or `spawn_bound_s` (spawn: it uploads the payload). After one such stall
the executor fails fast, without touching the network, for `cooldown_s`, so a poller sweeping
many calls stalls once per cool-down, not once per call. The stalled worker thread ends on its
own when the client gives up.

While Modal does not answer, `get` reports the call as still running (the built-in
`TimeoutError`): a network blip must not turn calls that are running fine remotely into
failures and duplicate work. After `give_up_s` without an answer, `get` raises
`ModalUnreachable` instead, so a run cannot wait forever on a dead network.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any, Callable

import modal
import modal.config
import modal.exception

from backend.executors import CallLost, ExecutorUnavailable
from backend.settings import Settings, get_settings

log = logging.getLogger(__name__)

FUNCTION_NAME = "score_chunk"
DEPLOY_HINT = "deploy the worker once with `modal deploy backend/modal_app.py`"
SETUP_HOWTO = (
    "Modal is not set up on this machine: create a token with `modal token new` (or set the "
    "MODAL_TOKEN_ID and MODAL_TOKEN_SECRET environment variables), then " + DEPLOY_HINT + ". "
    "Until then, use the local executor."
)
_LONG_DIGITS = re.compile(r"\d{8,}")


class CallFailed(RuntimeError):
    """A Modal call ended in failure (the remote body raised, or timed out); retry the chunk."""


class ModalUnreachable(CallFailed):
    """Modal did not answer within the bound (network down, or Modal slow)."""


def modal_available() -> bool:
    """True when a Modal token is configured. Offline: reads env vars / ~/.modal.toml only."""
    config = modal.config.config
    return bool(config.get("token_id") and config.get("token_secret"))


def _mask(text: str) -> str:
    """Remote messages may quote row data: keep only the last 4 of long digit runs."""
    return _LONG_DIGITS.sub(lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], text)


class ModalExecutor:
    """Chunks as calls of the deployed `score_chunk` function (see the module docstring)."""

    name = "modal"

    def __init__(self, settings: Settings | None = None, *, poll_bound_s: float = 5.0,
                 spawn_bound_s: float = 10.0, cooldown_s: float = 30.0, give_up_s: float = 600.0):
        """Fails at once with `ExecutorUnavailable` when no token is configured (no network)."""
        if not modal_available():
            raise ExecutorUnavailable(SETUP_HOWTO)
        self.settings = settings or get_settings()
        self.poll_bound_s = poll_bound_s
        self.spawn_bound_s = spawn_bound_s
        self.cooldown_s = cooldown_s
        self.give_up_s = give_up_s
        self._stalled_until = 0.0
        self._silent_since: float | None = None   # first unanswered call since the last answer
        # Lazy handle: the lookup happens on the first spawn, inside a bounded call.
        self._function = modal.Function.from_name(self.settings.modal_app, FUNCTION_NAME)

    def spawn(self, payload: bytes) -> "ModalCall":
        """Start one call; `ExecutorUnavailable` when the app is not deployed in this workspace."""
        try:
            call = self.bounded("spawn", self.spawn_bound_s, self._function.spawn, payload)
        except modal.exception.NotFoundError as exc:
            raise ExecutorUnavailable(f"Modal has no function {FUNCTION_NAME!r} in app {self.settings.modal_app!r} "
                                      f"({exc}): {DEPLOY_HINT}.") from exc
        return ModalCall(self, call.object_id, call)

    def attach(self, call_id: str) -> "ModalCall":
        """A handle on a call spawned earlier (maybe by another process). No network until `get`."""
        if not call_id.startswith("fc-"):
            raise CallLost(f"{call_id!r} is not a Modal function call id")
        return ModalCall(self, call_id, modal.FunctionCall.from_id(call_id))

    def close(self) -> None:
        """Nothing to release: the modal client is process-wide and closes itself at exit."""

    def silent_for(self) -> float:
        """Seconds since Modal last failed to answer in time (0 when it answers)."""
        return 0.0 if self._silent_since is None else time.monotonic() - self._silent_since

    def bounded(self, what: str, seconds: float, fn: Callable[..., Any], *args: Any) -> Any:
        """Run one blocking modal client call, waiting at most `seconds`.

        Raises `ModalUnreachable` on a stall (and during the cool-down after one), maps a
        rejected token to `ExecutorUnavailable`; other errors pass through.
        """
        if time.monotonic() < self._stalled_until:
            raise ModalUnreachable(f"Modal did not answer recently; not trying {what} again before the "
                                   f"{self.cooldown_s:g}s cool-down ends")
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                box["value"] = fn(*args)
            except BaseException as exc:  # handed to the waiting caller
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name=f"modal-{what}", daemon=True).start()
        if not done.wait(seconds):
            now = time.monotonic()
            self._stalled_until = now + self.cooldown_s
            self._silent_since = self._silent_since or now
            raise ModalUnreachable(f"Modal did not answer {what} within {seconds:g}s (network down?)")
        self._silent_since = None
        error = box.get("error")
        if isinstance(error, modal.exception.AuthError):
            raise ExecutorUnavailable(f"Modal rejected the token ({error}). Create a new one with "
                                      f"`modal token new` or fix MODAL_TOKEN_ID / MODAL_TOKEN_SECRET.") from error
        if error is not None:
            raise error
        return box["value"]


class ModalCall:
    """A handle on one Modal function call; `get` polls like `modal.FunctionCall.get`."""

    def __init__(self, executor: ModalExecutor, call_id: str, call: modal.FunctionCall):
        self.call_id = call_id
        self._executor = executor
        self._call = call

    def get(self, timeout: float = 0) -> bytes:
        """The result bytes; the built-in TimeoutError while running (see module docstring)."""
        executor = self._executor
        try:
            value = executor.bounded("get", executor.poll_bound_s + timeout, self._call.get, timeout)
        except TimeoutError:
            raise
        except ModalUnreachable as exc:
            if executor.silent_for() < executor.give_up_s:
                raise TimeoutError(f"Modal call {self.call_id} counts as still running: {exc}") from exc
            raise ModalUnreachable(f"Modal has not answered for {executor.silent_for():.0f}s: {exc}") from exc
        except (modal.exception.OutputExpiredError, modal.exception.NotFoundError) as exc:
            raise CallLost(f"Modal call {self.call_id} has no result any more ({type(exc).__name__}): "
                           "spawn the chunk again") from exc
        except (ExecutorUnavailable, CallFailed):
            raise
        except modal.exception.FunctionTimeoutError as exc:
            raise CallFailed(f"Modal call {self.call_id} ran past its timeout "
                             f"(REWARDPILOT_MODAL_TIMEOUT_S): {_mask(str(exc))}") from exc
        except Exception as exc:
            raise CallFailed(f"Modal call {self.call_id} failed: {type(exc).__name__}: {_mask(str(exc))}") from exc
        if not isinstance(value, bytes):
            raise CallFailed(f"Modal call {self.call_id} returned {type(value).__name__}, not bytes: "
                             f"is the deployed app current? ({DEPLOY_HINT})")
        return value

    def cancel(self) -> None:
        """Best effort: a call that cannot be cancelled (finished, unreachable) is left alone."""
        try:
            self._executor.bounded("cancel", self._executor.poll_bound_s, self._call.cancel)
        except Exception as exc:
            log.warning("could not cancel Modal call %s: %s", self.call_id, _mask(str(exc)))
