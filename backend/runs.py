"""Batch runs: plan a frame into chunks, run them on an executor, store each as it finishes.

The flow (see DESIGN.md, Data flow):
1. `submit` prepares the whole frame once (`engine.prepare_frame`: row checks, duplicate ids,
   categories), plans chunks of whole account-years (caps tie an account's purchases of a
   year together, so that is the unit of parallel work), and stores the input and the plan.
2. One poller thread per process (the `RunManager`) keeps a bounded number of calls in flight,
   polls them with `get(timeout=0)`, stores each finished chunk atomically, retries failed
   calls with backoff and, after the last attempt, turns the chunk's rows into `error` rows
   that name the failure.
3. Everything needed to carry on lives in the store, so `resume` (here or in another process)
   picks a run up where it stopped: Modal calls are attached again by their stored call id,
   local ones are spawned again. A lease with a heartbeat keeps two processes off one run.
"""
from __future__ import annotations

import collections
import datetime as dt
import logging
import os
import re
import socket
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from backend import engine
from backend.catalog import Catalog, parse_catalog
from backend.executors import CallHandle, CallLost, Executor, get_executor
from backend.payload import ROW, PayloadError, encode_chunk, result_info, to_arrow
from backend.settings import Settings, get_settings
from backend.store import FINISHED_CHUNK, LEASE_STALE_S, OPEN_CHUNK, RunRecord, Store, error_rows, get_store
from backend.wallet import Wallet

log = logging.getLogger(__name__)
HEARTBEAT_S = 1.0
IDLE_S = 0.25                 # the poller's pause when no call is in flight
_DIGITS = re.compile(r"\d{8,}")


class RunBusy(RuntimeError):
    """Another live process holds the run's lease."""


@dataclass(frozen=True)
class RunOptions:
    """How a run is executed. None means: from settings (chunk_size, workers) or the executor."""
    executor: str = "local"
    chunk_size: int | None = None
    workers: int | None = None
    max_inflight: int | None = None     # local: 2 x workers; modal: settings.modal_max_inflight
    attempts: int = 3                   # calls per chunk before its rows become error rows
    backoff_s: float = 1.0              # first retry delay; doubles per failure, at most 60 s

    def resolved(self, settings: Settings) -> "RunOptions":
        workers = max(1, self.workers or settings.workers)
        inflight = self.max_inflight or (settings.modal_max_inflight if self.executor == "modal" else 2 * workers)
        return replace(self, chunk_size=max(1, self.chunk_size or settings.chunk_size), workers=workers,
                       max_inflight=max(1, inflight), attempts=max(1, self.attempts))


def mask_digits(text: str) -> str:
    """Runs of 8+ digits (possible card numbers) keep only their last 4."""
    return _DIGITS.sub(lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], text)


# -- planning -----------------------------------------------------------------------------
def plan_chunks(prepared: pd.DataFrame, chunk_size: int) -> tuple[pd.DataFrame, list[tuple[int, int]]]:
    """Order rows by chunk and return (rows with `_row`, [start, stop) of each chunk).

    A chunk holds whole account-years (user_id x calendar year of `ts`), packed greedily up to
    `chunk_size` rows; an account-year bigger than that is a chunk on its own. Rows without a
    valid `ts` (error rows) go with their account's first year. Rows keep their input order
    inside a chunk. Vectorized: group sizes, cumulative sums and one searchsorted per chunk.
    """
    n = len(prepared)
    if n == 0:
        return prepared.assign(**{ROW: np.arange(0)}), []
    account, _ = pd.factorize(prepared["user_id"].astype("string").fillna(""), sort=False)
    year = pd.Series(prepared["ts"].dt.year.to_numpy(dtype="float64", na_value=np.nan))
    year = year.fillna(year.groupby(account).transform("min")).fillna(-1).to_numpy()
    group = pd.DataFrame({"a": account, "y": year}).groupby(["a", "y"], sort=True).ngroup().to_numpy()
    sizes = np.bincount(group)
    ends = np.cumsum(sizes)
    chunk_of_group = np.empty(len(sizes), dtype=np.int64)
    first, offset, chunk = 0, 0, 0
    while first < len(sizes):
        last = max(int(np.searchsorted(ends, offset + chunk_size, side="right")), first + 1)
        chunk_of_group[first:last] = chunk
        offset, first, chunk = int(ends[last - 1]), last, chunk + 1
    row_chunk = chunk_of_group[group]
    order = np.argsort(row_chunk, kind="stable")
    ordered = prepared.iloc[order].reset_index(drop=True)
    ordered[ROW] = order
    stops = np.cumsum(np.bincount(row_chunk, minlength=chunk))
    starts = np.concatenate([[0], stops[:-1]])
    return ordered, [(int(a), int(b)) for a, b in zip(starts, stops)]


def output_columns(frame: pd.DataFrame) -> list[str]:
    """The columns `engine.score` returns for this frame."""
    return engine.OUTPUT_COLUMNS + (engine.CARD_USED_COLUMNS if "card_used" in frame.columns else [])


# -- the manager --------------------------------------------------------------------------
@dataclass
class _Active:
    """A run this process is working: its input in memory, its calls in flight."""
    run_id: str
    options: RunOptions
    executor: Executor
    table: pa.Table                      # the prepared input in chunk order; chunks are slices of it
    bounds: dict[int, tuple[int, int]]
    wallet: Wallet
    catalog: Catalog
    valuation: engine.Valuation
    columns: list[str]
    queue: collections.deque
    inflight: dict[int, CallHandle]
    retry_at: dict[int, float]
    finished: threading.Event
    last_beat: float = 0.0

    def rows(self, idx: int) -> pa.Table:
        start, stop = self.bounds[idx]
        return self.table.slice(start, stop - start)


class RunManager:
    """One per process: owns the poller thread and the executors; the store holds the truth."""

    def __init__(self, settings: Settings | None = None, store: Store | None = None,
                 poll_interval: float = 0.02, stale_after: float = LEASE_STALE_S):
        self.settings = settings or get_settings()
        self.store = store or get_store(self.settings)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.poll_interval = poll_interval
        self.stale_after = stale_after
        self._lock = threading.RLock()
        self._runs: dict[str, _Active] = {}
        self._executors: dict[tuple[str, int], Executor] = {}
        self._named: dict[str, Executor] = {}         # use_executor: name -> a given executor
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rewardpilot-poller", daemon=True)
        self._thread.start()

    # -- public API ---------------------------------------------------------------------
    def submit(self, frame: pd.DataFrame, wallet: Wallet, catalog: Catalog,
               valuation: engine.Valuation = engine.Valuation(), options: RunOptions = RunOptions(),
               name: str = "", merchant_lookup: engine.MerchantLookup | None = None) -> str:
        """Plan and store a run, then start it; returns its id at once (the work goes on)."""
        opts = options.resolved(self.settings)
        executor = self._executor(opts)                 # fails fast if the executor is unavailable
        prepared = engine.slim(engine.prepare_frame(frame, merchant_lookup))
        ordered, bounds = plan_chunks(prepared, opts.chunk_size)
        table = to_arrow(ordered)
        del prepared, ordered
        run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        columns = output_columns(frame)
        self.store.create_run(
            run_id, name=name, executor=opts.executor, options=asdict(opts), wallet=wallet.to_dict(),
            catalog=catalog.subset(wallet.card_ids()),
            valuation={"profile": valuation.profile, "overrides": dict(valuation.overrides)},
            columns=columns, prepared=table, bounds=bounds)
        self.store.acquire_lease(run_id, self.owner, self.stale_after)
        active = _Active(run_id, opts, executor, table, dict(enumerate(bounds)), wallet, catalog, valuation,
                         columns, collections.deque(range(len(bounds))), {}, {}, threading.Event())
        self._start(active)
        return run_id

    def resume(self, run_id: str) -> bool:
        """Carry on an unfinished (or cancelled) run here; False if there is nothing left to do.

        Finished chunk files are checked first: a missing or damaged one is redone.
        Raises RunBusy if another live process holds the run.
        """
        with self._lock:
            if run_id in self._runs:
                return True
        run = self.store.run(run_id)
        holder = self.store.acquire_lease(run_id, self.owner, self.stale_after)
        if holder is not None:
            raise RunBusy(_busy_message(holder))
        try:
            if run.status == "cancelled":
                self.store.requeue(run_id, ("cancelled",))
            self.store.verify_chunks(run_id)
            chunks = self.store.chunks(run_id)
            if all(c.state in FINISHED_CHUNK for c in chunks):
                self._finish_status(run_id)
                self.store.release_lease(run_id, self.owner)
                return False
            active = self._load(self.store.run(run_id))
        except BaseException:
            self.store.release_lease(run_id, self.owner)
            raise
        now = time.time()
        for chunk in chunks:
            if chunk.state == "queued" or (chunk.state == "running" and not chunk.call_id):
                active.queue.append(chunk.idx)
            elif chunk.state == "retrying":
                active.retry_at[chunk.idx] = chunk.next_try_at or now
            elif chunk.state == "running":
                try:
                    active.inflight[chunk.idx] = active.executor.attach(chunk.call_id)
                except CallLost:
                    active.queue.append(chunk.idx)
        self._start(active)
        return True

    def resume_unfinished(self) -> list[str]:
        """Resume every unfinished run no live process holds (called once on start)."""
        resumed = []
        for run_id in self.store.unfinished_runs():
            try:
                if self.resume(run_id):
                    resumed.append(run_id)
            except RunBusy:
                continue
            except Exception as exc:    # one broken run must not stop the others
                log.warning("run %s cannot be resumed: %s", run_id, exc)
                self.store.set_status(run_id, "failed", error=f"cannot be resumed: {exc}")
        return resumed

    def cancel(self, run_id: str) -> None:
        """Stop the run's remaining calls; finished chunks stay, the rest become `cancelled`."""
        with self._lock:
            active = self._runs.get(run_id)
            if active is not None:
                self._cancel_active(active)
                return
        run = self.store.run(run_id)
        if run.status in ("done", "failed", "cancelled"):
            return
        if self.store.acquire_lease(run_id, self.owner, self.stale_after) is not None:
            self.store.request_cancel(run_id)     # its holder cancels it at its next heartbeat
            return
        try:
            for call_id in self.store.cancel_open_chunks(run_id):
                self._cancel_call(run.executor, run.options, call_id)
        finally:
            self.store.release_lease(run_id, self.owner)

    def retry_failed(self, run_id: str) -> bool:
        """Run the chunks that ended as error rows again, with fresh attempts."""
        if self.store.requeue(run_id, ("failed",)) == 0:
            return False
        return self.resume(run_id)

    def wait(self, run_id: str, timeout: float | None = None) -> str:
        """Block until the run ends here (or, if another process works it, until it ends there).

        Returns the final status; raises TimeoutError when `timeout` passes first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            active = self._runs.get(run_id)
        if active is not None:
            if not active.finished.wait(timeout):
                raise TimeoutError(f"run {run_id} is still running after {timeout} s")
            return self.store.run(run_id).status
        while True:
            run = self.store.run(run_id)
            status = self.store.status(run)
            with self._lock:
                here = self._runs.get(run_id)
            if here is not None:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                return self.wait(run_id, left)
            if status not in ("queued", "running") or not run.lease_owner:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} is still {status} after {timeout} s")
            time.sleep(0.2)

    def use_executor(self, name: str, executor: Executor) -> None:
        """Runs whose options name `name` use this executor (benchmarks, custom executors)."""
        with self._lock:
            self._named[name] = executor

    def active_runs(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    def executor_for(self, run_id: str) -> Executor | None:
        """The executor working a run here (diagnostics and tests)."""
        with self._lock:
            active = self._runs.get(run_id)
            return active.executor if active else None

    def shutdown(self) -> None:
        """Stop the poller; runs in progress become `interrupted` (resume carries them on)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        with self._lock:
            for active in list(self._runs.values()):
                self.store.set_status(active.run_id, "interrupted")
                self.store.release_lease(active.run_id, self.owner)
                active.finished.set()
            self._runs.clear()
            for executor in self._executors.values():
                close = getattr(executor, "close", None)
                if close:
                    close()
            self._executors.clear()

    # -- internals: setting up ----------------------------------------------------------
    def _executor(self, opts: RunOptions) -> Executor:
        key = (opts.executor, opts.workers)
        with self._lock:
            if opts.executor in self._named:
                return self._named[opts.executor]
            if key not in self._executors:
                self._executors[key] = get_executor(opts.executor, self.settings, workers=opts.workers)
            return self._executors[key]

    def _load(self, run: RunRecord) -> _Active:
        known = {f for f in RunOptions.__dataclass_fields__}
        opts = RunOptions(**{k: v for k, v in run.options.items() if k in known}).resolved(self.settings)
        table = self.store.load_input(run.id)
        bounds = {c.idx: (c.start, c.stop) for c in self.store.chunks(run.id)}
        valuation = engine.Valuation(run.valuation["profile"], dict(run.valuation.get("overrides", {})))
        return _Active(run.id, opts, self._executor(opts), table, bounds, Wallet.from_dict(run.wallet),
                       parse_catalog(run.catalog, f"<run {run.id}>"), valuation, run.columns,
                       collections.deque(), {}, {}, threading.Event())

    def _start(self, active: _Active) -> None:
        self.store.set_status(active.run_id, "running")
        with self._lock:
            self._runs[active.run_id] = active
        self._wake.set()

    # -- internals: the poller ----------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            pause = IDLE_S
            with self._lock:
                runs = list(self._runs.values())
            for active in runs:
                try:
                    with self._lock:
                        if self._runs.get(active.run_id) is active:
                            pause = min(pause, self._step(active))
                except Exception as exc:   # a store or planning fault: stop this run, keep the others
                    log.exception("run %s stopped", active.run_id)
                    self._drop(active, status="interrupted", error=mask_digits(f"{type(exc).__name__}: {exc}"))
            if pause > 0:
                self._wake.wait(pause)
                self._wake.clear()

    def _step(self, active: _Active) -> float:
        """One pass over a run: heartbeat, poll calls, schedule retries, spawn, finish.

        Returns how long the poller may wait before the next pass: 0 right after a call ended
        (more may be ready), the poll interval while calls run, longer when idle.
        """
        if not self._beat(active):
            return IDLE_S
        ended = 0
        for idx, handle in list(active.inflight.items()):
            ended += self._poll(active, idx, handle)
            if not self._beat(active):       # many slow (remote) polls: keep the lease fresh
                return IDLE_S
        now = time.time()
        for idx, at in list(active.retry_at.items()):
            if at <= now:
                del active.retry_at[idx]
                active.queue.append(idx)
        while active.queue and len(active.inflight) < active.options.max_inflight:
            self._spawn(active, active.queue.popleft())
        if not (active.queue or active.inflight or active.retry_at):
            if self._requeue_strays(active):
                return 0.0
            self._finish_status(active.run_id)
            self.store.release_lease(active.run_id, self.owner)
            self._runs.pop(active.run_id, None)
            active.finished.set()
            return IDLE_S
        if ended:
            return 0.0
        if active.inflight:
            return self.poll_interval
        return min(IDLE_S, max(0.0, min(active.retry_at.values(), default=now) - now))

    def _beat(self, active: _Active) -> bool:
        """Refresh the lease when due; False when this process must stop working the run
        (another took it over, or a cancel was requested and has been carried out)."""
        now = time.time()
        if now - active.last_beat < HEARTBEAT_S:
            return True
        ours, cancel = self.store.heartbeat(active.run_id, self.owner)
        active.last_beat = now
        if not ours:      # taken over (we were presumed dead): stop touching it
            log.warning("run %s: lease lost, leaving it to its new holder", active.run_id)
            self._runs.pop(active.run_id, None)
            active.finished.set()
            return False
        if cancel:
            self._cancel_active(active)
            return False
        return True

    def _spawn(self, active: _Active, idx: int) -> None:
        try:
            payload = encode_chunk(active.rows(idx), active.wallet, active.catalog, active.valuation)
            handle = active.executor.spawn(payload)
        except Exception as exc:
            if _shutting_down(exc):     # the process is exiting: not the chunk's fault
                active.queue.appendleft(idx)
                self._stop.set()
                return
            self._failed(active, idx, None, exc)
            return
        if self.store.mark_spawned(active.run_id, idx, handle.call_id, self.owner):
            active.inflight[idx] = handle
        else:                     # finished meanwhile, or the run changed hands: check the lease now
            handle.cancel()
            active.last_beat = 0.0

    def _poll(self, active: _Active, idx: int, handle: CallHandle) -> bool:
        """Poll one call; True if it ended (stored, failed or to be spawned again)."""
        try:
            data = handle.get(timeout=0)
        except TimeoutError:
            return False
        except CallLost:
            del active.inflight[idx]
            active.queue.appendleft(idx)
            return True
        except Exception as exc:
            del active.inflight[idx]
            if type(exc).__name__ == "OutputExpiredError" or _shutting_down(exc):   # gone: run it again
                active.queue.appendleft(idx)
            else:
                self._failed(active, idx, handle.call_id, exc)
            return True
        del active.inflight[idx]
        self._store_result(active, idx, handle, data)
        return True

    def _store_result(self, active: _Active, idx: int, handle: CallHandle, data: bytes) -> None:
        try:       # only the metadata is read: the bytes are stored as the chunk file as they are
            info = result_info(data)
            missing = [c for c in active.columns + [ROW] if c not in info.columns]
            if missing:
                raise PayloadError(f"the result lacks column(s) {', '.join(missing)}")
        except Exception as exc:
            self._failed(active, idx, handle.call_id, exc)
            return
        self.store.finish_chunk_bytes(active.run_id, idx, handle.call_id, data, info, owner=self.owner)

    def _failed(self, active: _Active, idx: int, call_id: str | None, exc: BaseException) -> None:
        """One failed call: retry with backoff, or after the last attempt store error rows."""
        message = mask_digits(f"{type(exc).__name__}: {exc}".strip())[:500]
        failures, next_try = self.store.mark_failure(active.run_id, idx, call_id, message, active.options.backoff_s,
                                                     self.owner)
        if failures < active.options.attempts:
            active.retry_at[idx] = next_try
            return
        text = f"chunk {idx} failed after {failures} attempt(s): {message}"
        rows = error_rows(active.rows(idx).to_pandas(), text, active.columns)
        self.store.finish_chunk(active.run_id, idx, call_id, rows, None, state="failed", error=message,
                                owner=self.owner)

    def _requeue_strays(self, active: _Active) -> bool:
        """Before calling a run finished: queue any chunk still open in the store (a call of
        ours whose result was refused because the chunk changed hands meanwhile)."""
        strays = [c.idx for c in self.store.chunks(active.run_id) if c.state in OPEN_CHUNK]
        active.queue.extend(strays)
        return bool(strays)

    def _finish_status(self, run_id: str) -> None:
        states = {c.state for c in self.store.chunks(run_id)}
        self.store.set_status(run_id, "failed" if "failed" in states else "done")

    def _cancel_active(self, active: _Active) -> None:
        self.store.cancel_open_chunks(active.run_id)
        for handle in active.inflight.values():
            try:
                handle.cancel()
            except Exception as exc:     # best effort: its result will be ignored anyway
                log.warning("run %s: cancelling call %s failed: %s", active.run_id, handle.call_id, exc)
        active.inflight.clear()
        active.queue.clear()
        active.retry_at.clear()
        self.store.release_lease(active.run_id, self.owner)
        self._runs.pop(active.run_id, None)
        active.finished.set()

    def _cancel_call(self, executor_name: str, options: dict, call_id: str) -> None:
        """Best-effort cancel of a stored call no process is polling (Modal calls keep running)."""
        if executor_name == "local":
            return
        try:
            opts = RunOptions(executor=executor_name).resolved(self.settings)
            self._executor(opts).attach(call_id).cancel()
        except Exception as exc:
            log.warning("cancelling call %s failed: %s", call_id, exc)

    def _drop(self, active: _Active, status: str, error: str) -> None:
        with self._lock:
            self._runs.pop(active.run_id, None)
        try:
            self.store.set_status(active.run_id, status, error=error)
            self.store.release_lease(active.run_id, self.owner)
        finally:
            active.finished.set()


def _busy_message(holder: RunRecord) -> str:
    age = time.time() - (holder.heartbeat_at or 0)
    return (f"run {holder.id} is being worked by process {holder.lease_pid} on {holder.lease_host} "
            f"(heartbeat {age:.1f} s ago); wait for it, or cancel it with `python -m backend runs cancel {holder.id}`")


def _shutting_down(exc: BaseException) -> bool:
    """A pool refusing work because this process is exiting (`cannot schedule new futures
    after shutdown`): the chunk did nothing wrong, so it is not counted as an attempt."""
    return (isinstance(exc, RuntimeError) and "shutdown" in str(exc)) or sys.is_finalizing()


_manager: RunManager | None = None
_manager_lock = threading.Lock()


def get_manager(resume_unfinished: bool = True) -> RunManager:
    """The process-wide run manager; the first call resumes unfinished runs nobody holds."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = RunManager()
            # Stop the poller before the process pools shut down at exit (hooks run last-in
            # first-out), so an exiting process leaves its run `interrupted`, not failed.
            threading._register_atexit(shutdown_manager)
            if resume_unfinished:
                _manager.resume_unfinished()
        return _manager


def shutdown_manager() -> None:
    """Stop the process-wide manager (tests, CLI exit)."""
    global _manager
    with _manager_lock:
        if _manager is not None:
            _manager.shutdown()
            _manager = None
