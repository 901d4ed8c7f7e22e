"""The `local` executor: a process pool on this machine, with Modal's spawn/poll semantics.

Why processes: scoring is CPU-bound pandas/numpy work, so threads would share one core.
Why `spawn`: a worker starts from a clean interpreter (no copied locks or threads from the
server) and sees the environment of the moment the pool was made.

A worker that dies (killed, out of memory) breaks a `ProcessPoolExecutor` as a whole. Then:
- calls that had started in the broken pool fail with `BrokenProcessPool` (the manager retries
  them, counting an attempt), and the pool is made again for what comes next;
- calls that were only queued (never started) are re-submitted quietly: they did nothing wrong.
A call marks itself started by writing its worker's pid to a file named after its id; a file
survives a killed process, where a message on a queue might not.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from backend.executors import CallLost


def _watch_parent(parent_pid: int) -> None:
    """Exit when the process that made the pool is gone (e.g. SIGKILLed), instead of idling forever."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(1)


def _init_worker(parent_pid: int) -> None:
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    import backend.payload  # noqa: F401  (pandas, pyarrow and the engine load once, at start)


def _warm() -> None:
    """A no-op call: makes the pool start its workers now."""


def _run_call(marks: str, call_id: str, payload: bytes) -> bytes:
    """What a worker runs: mark the call started, then score the payload."""
    from backend.payload import score_payload
    Path(marks, call_id).write_text(str(os.getpid()))
    return score_payload(payload)


@dataclass
class _Call:
    payload: bytes
    future: Future | None = None
    pool: ProcessPoolExecutor | None = None


class LocalCall:
    """A handle on one local call; `get` polls like `modal.FunctionCall.get`."""

    def __init__(self, executor: "LocalExecutor", call_id: str):
        self._executor = executor
        self.call_id = call_id

    def get(self, timeout: float = 0) -> bytes:
        return self._executor._result(self.call_id, timeout)

    def cancel(self) -> None:
        self._executor._cancel(self.call_id)

    def __repr__(self) -> str:
        return f"LocalCall({self.call_id})"


class LocalExecutor:
    """A process pool running `backend.payload.score_payload`, one call per chunk."""

    name = "local"

    def __init__(self, workers: int, warm: bool = True):
        self.workers = max(1, int(workers))
        self._lock = threading.RLock()
        self._pool: ProcessPoolExecutor | None = None
        self._calls: dict[str, _Call] = {}
        self._marks = tempfile.mkdtemp(prefix="rewardpilot-calls-")
        self.pools_made = 0          # how many pools this executor made (1 unless one broke)
        if warm:                     # start the workers now: they load while the run is planned
            pool = self._current_pool()
            for _ in range(self.workers):
                pool.submit(_warm)

    # -- the protocol -------------------------------------------------------------------
    def spawn(self, payload: bytes) -> LocalCall:
        call_id = f"local-{uuid.uuid4().hex}"
        with self._lock:
            self._calls[call_id] = _Call(payload)
            self._submit(call_id)
        return LocalCall(self, call_id)

    def attach(self, call_id: str) -> LocalCall:
        with self._lock:
            if call_id not in self._calls:
                raise CallLost(f"local call {call_id} is not known to this process (the pool that ran it "
                               "is gone, e.g. after a restart): the chunk must be spawned again")
        return LocalCall(self, call_id)

    def running_pids(self) -> dict[str, int]:
        """call id -> pid of the worker running it, for calls that have started (diagnostics, tests)."""
        out = {}
        with self._lock:
            for call_id in self._calls:
                try:
                    out[call_id] = int(Path(self._marks, call_id).read_text() or 0)
                except (FileNotFoundError, ValueError):
                    continue
        return {c: p for c, p in out.items() if p}

    def close(self) -> None:
        """Stop the pool: queued calls are dropped, running ones finish in the background."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            self._calls.clear()
        shutil.rmtree(self._marks, ignore_errors=True)

    # -- internals ----------------------------------------------------------------------
    def _current_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(os.getpid(),))
            self.pools_made += 1
        return self._pool

    def _submit(self, call_id: str) -> None:
        call = self._calls[call_id]
        for _ in range(2):   # a pool found broken at submit time is made again once
            pool = self._current_pool()
            try:
                call.future = pool.submit(_run_call, self._marks, call_id, call.payload)
                call.pool = pool
                return
            except BrokenProcessPool:
                self._drop_pool(pool)
        raise BrokenProcessPool("the local process pool cannot start workers")

    def _drop_pool(self, pool: ProcessPoolExecutor | None) -> None:
        if pool is not None and pool is self._pool:
            pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _started(self, call_id: str) -> bool:
        return os.path.exists(os.path.join(self._marks, call_id))

    def _forget(self, call_id: str) -> None:
        self._calls.pop(call_id, None)
        try:
            os.unlink(os.path.join(self._marks, call_id))
        except FileNotFoundError:
            pass

    def _result(self, call_id: str, timeout: float) -> bytes:
        with self._lock:
            call = self._calls.get(call_id)
            if call is None:
                raise CallLost(f"local call {call_id} is not known to this process")
            future = call.future
        if not future.done():
            if timeout <= 0 or not wait([future], timeout=timeout).done:
                raise TimeoutError(f"local call {call_id} is still running")
        with self._lock:
            if call.future is not future:     # re-submitted meanwhile by another poll
                raise TimeoutError(f"local call {call_id} is still running")
            try:
                result = future.result()
            except CancelledError:
                self._forget(call_id)
                raise
            except BrokenProcessPool as exc:
                self._drop_pool(call.pool)
                if not self._started(call_id):
                    self._submit(call_id)     # it never ran: queue it in the new pool
                    raise TimeoutError(f"local call {call_id} re-queued after a worker died") from None
                self._forget(call_id)
                raise BrokenProcessPool(f"the worker process running this chunk died ({exc})") from None
            except BaseException:
                self._forget(call_id)
                raise
            self._forget(call_id)
            return result

    def _cancel(self, call_id: str) -> None:
        with self._lock:
            call = self._calls.get(call_id)
            if call is not None and call.future is not None:
                call.future.cancel()     # a call already running in a worker finishes, unread
            self._forget(call_id)
