"""Where chunks run: one protocol, two executors (`local` process pool, `modal` cloud functions).

The run manager only ever sees this protocol, so a run behaves the same whichever executor
does the work. The semantics are Modal's (spawn, then poll with `get(timeout=0)`), because a
process pool can imitate them cheaply while the reverse is not true.

Contract for an executor (a new one, e.g. `backend/executors/modal.py`, follows it):
- `spawn(payload)` starts one call on a payload made by `backend.payload.encode_chunk` and
  returns at once with a handle whose `call_id` is stable text (stored in the run store).
- `attach(call_id)` finds a call again, possibly in another process after a restart. If the
  call cannot be found any more, raise `CallLost` (the manager then spawns the chunk again).
- `handle.get(timeout=0)` returns the result bytes (`backend.payload.score_payload`'s output),
  raises the BUILT-IN `TimeoutError` while the call is still running, raises `CallLost` when
  the result is gone (Modal: `OutputExpiredError`), and raises any other exception when the
  call failed (the manager retries it with backoff, then turns the chunk into error rows).
- `handle.cancel()` stops the call if it can; it must never raise for a finished call.
- Optional `close()`: release the executor's resources (pools, clients) at shutdown.
"""
from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

from backend.settings import Settings

EXECUTORS = ("local", "modal")


class ExecutorUnavailable(RuntimeError):
    """An executor that cannot run here; the message says how to enable it."""


class CallLost(RuntimeError):
    """A call (or its result) cannot be found any more: spawn the chunk again.

    Not a failure of the chunk, so it does not use up one of its attempts.
    """


@runtime_checkable
class CallHandle(Protocol):
    call_id: str

    def get(self, timeout: float = 0) -> bytes: ...

    def cancel(self) -> None: ...


@runtime_checkable
class Executor(Protocol):
    name: str

    def spawn(self, payload: bytes) -> CallHandle: ...

    def attach(self, call_id: str) -> CallHandle: ...


def get_executor(name: str, settings: Settings, workers: int | None = None) -> Executor:
    """The executor called `name`; `workers` sizes the local pool (default settings.workers).

    `modal` is imported only when asked for, so a machine without Modal credentials (or
    without the modal package) still runs everything locally.
    """
    if name == "local":
        from backend.executors.local import LocalExecutor
        return LocalExecutor(workers or settings.workers)
    if name == "modal":
        try:
            module = importlib.import_module("backend.executors.modal")
        except ImportError as exc:
            raise ExecutorUnavailable(
                f"the Modal executor cannot be loaded ({exc}). Install the pinned `modal` package, "
                "then set MODAL_TOKEN_ID / MODAL_TOKEN_SECRET (or run `modal token new`) and deploy "
                "the worker with `modal deploy backend/modal_app.py`; or use --executor local.") from exc
        factory = getattr(module, "create_executor", None) or getattr(module, "ModalExecutor")
        return factory(settings)
    raise ExecutorUnavailable(f"unknown executor {name!r}: use one of {', '.join(EXECUTORS)}")
