"""The durable run store: SQLite (WAL) for runs and chunk states, Parquet files for rows.

Layout under `$REWARDPILOT_HOME` (default `./.rewardpilot`):
```
runs.db                          runs, chunks, chunk_rewards (per-chunk aggregates)
runs/<run_id>/input.parquet      the prepared input, in chunk order, with `_row` (its input position)
runs/<run_id>/chunk-<idx>.parquet   one finished chunk's output rows, with `_row`
```
Why this shape: a dashboard reads a snapshot every second, so progress and rewards so far come
from small per-chunk aggregate rows, never from re-reading results; and any process can carry
on a run from the database and the input file alone. A chunk file is written to a temporary
name and renamed inside the transaction that marks the chunk done, with its checksum and row
count recorded, so a missing, corrupt or half-written file is detected when read and the chunk
is redone. A chunk only becomes `done` if the call that finished is the chunk's current call
(compare-and-set on `call_id`), so a late or duplicate result is never counted twice.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from backend import engine
from backend.payload import ROW, PayloadError, ResultInfo, read_result_table, result_bytes, result_info, to_arrow
from backend.settings import Settings, get_settings

try:   # the cost model is optional: without it, cost is simply unknown (None)
    from backend.costs import call_cost
except ImportError:  # pragma: no cover - depends on another module being installed
    call_cost = None

RUN_STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
CHUNK_STATES = ("queued", "running", "done", "retrying", "failed", "cancelled")
FINISHED_CHUNK = ("done", "failed")          # a file with one output row per input row exists
OPEN_CHUNK = ("queued", "running", "retrying")
UNFINISHED_RUN = ("queued", "running", "interrupted")
LEASE_STALE_S = 15.0                          # a heartbeat older than this frees the run
ERROR_ROW_COLUMNS = ["transaction_id", "user_id", "merchant", "amount_usd", "mcc", "timestamp",
                     "reward_category", "card_used"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    executor TEXT NOT NULL,
    options TEXT NOT NULL,            -- JSON of RunOptions
    wallet TEXT NOT NULL,             -- JSON of Wallet.to_dict()
    catalog TEXT NOT NULL,            -- JSON of Catalog.subset(wallet cards)
    valuation TEXT NOT NULL,          -- JSON {profile, overrides}
    columns TEXT NOT NULL,            -- JSON list: the output columns of this run
    total_rows INTEGER NOT NULL,
    total_chunks INTEGER NOT NULL,
    input_checksum TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    lease_owner TEXT,
    lease_pid INTEGER,
    lease_host TEXT,
    heartbeat_at REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE TABLE IF NOT EXISTS chunks (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,           -- slice [start, stop) of input.parquet
    stop INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,   -- calls spawned
    failures INTEGER NOT NULL DEFAULT 0,   -- calls that failed
    call_id TEXT,
    error TEXT,
    compute_seconds REAL,
    spawned_at REAL,
    finished_at REAL,
    next_try_at REAL,
    checksum TEXT,
    rows_ok INTEGER NOT NULL DEFAULT 0,
    rows_skipped INTEGER NOT NULL DEFAULT 0,
    rows_error INTEGER NOT NULL DEFAULT 0,
    rewards REAL NOT NULL DEFAULT 0,
    missed_rewards REAL,
    PRIMARY KEY (run_id, idx)
);
CREATE TABLE IF NOT EXISTS chunk_rewards (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    kind TEXT NOT NULL,               -- card | category
    key TEXT NOT NULL,
    rewards REAL NOT NULL,
    PRIMARY KEY (run_id, idx, kind, key)
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
"""


class StoreError(RuntimeError):
    """A run or file the store cannot use; the message names the run and chunk."""


class UnknownRun(StoreError):
    """No run with that id in this store (a mistyped id: the caller's input)."""


class ChunkFileError(StoreError):
    """Finished chunk files that are missing or damaged; those chunks were set to be redone."""

    def __init__(self, run_id: str, bad: list[int]):
        self.run_id, self.bad = run_id, bad
        super().__init__(f"run {run_id}: chunk file(s) {', '.join(map(str, bad))} missing or damaged; "
                         f"they were queued again: `python -m backend runs resume {run_id}` redoes them")


@dataclass
class RunRecord:
    id: str
    name: str
    status: str
    executor: str
    options: dict
    wallet: dict
    catalog: dict
    valuation: dict
    columns: list[str]
    total_rows: int
    total_chunks: int
    input_checksum: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    lease_owner: str | None
    lease_pid: int | None
    lease_host: str | None
    heartbeat_at: float | None
    cancel_requested: bool
    error: str | None


@dataclass
class ChunkRecord:
    idx: int
    start: int
    stop: int
    rows: int
    state: str
    attempts: int
    failures: int
    call_id: str | None
    error: str | None
    compute_seconds: float | None
    spawned_at: float | None
    finished_at: float | None
    next_try_at: float | None
    checksum: str | None


@dataclass
class Snapshot:
    """A run's progress at one moment: cheap to read every second."""
    run_id: str
    name: str
    status: str
    executor: str
    total_rows: int
    total_chunks: int
    done: int                      # chunks scored
    failed: int                    # chunks whose rows became error rows after their last attempt
    in_flight: int
    retrying: int
    queued: int
    cancelled: int
    rows_done: int                 # rows of done + failed chunks
    rows_ok: int
    rows_skipped: int
    rows_error: int
    elapsed_s: float
    rows_per_second: float
    throughput: list[tuple[float, float]]    # (seconds since start, rows per second)
    eta_s: float | None
    rewards: float
    rewards_by_category: dict[str, float]
    rewards_by_card: dict[str, float]
    missed_rewards: float | None
    compute_seconds: list[tuple[int, float]]  # (chunk idx, seconds) of finished calls
    compute_seconds_total: float
    cost_usd: float | None                    # estimated Modal cost of the compute so far
    errors: list[dict]                        # latest chunk errors, newest first
    chunk_states: list[str]                   # state of every chunk, by idx (for a strip)
    created_at: str
    started_at: str | None
    finished_at: str | None
    options: dict = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    @property
    def live(self) -> bool:
        """Still being worked (worth refreshing a view of it)."""
        return self.status in ("queued", "running")

    @property
    def progress(self) -> float:
        """Share of input rows with an output row, 0..1."""
        return self.rows_done / self.total_rows if self.total_rows else 1.0

    def to_dict(self) -> dict:
        return asdict(self)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid exists on this machine."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_is_live(run: RunRecord, now: float | None = None, stale_after: float = LEASE_STALE_S) -> bool:
    """A lease holds while its heartbeat is fresh and, on this host, its process exists."""
    if not run.lease_owner or run.heartbeat_at is None:
        return False
    now = time.time() if now is None else now
    if now - run.heartbeat_at > stale_after:
        return False
    if run.lease_host == socket.gethostname() and not pid_alive(run.lease_pid):
        return False
    return True


def error_rows(rows: pd.DataFrame, message: str, columns: list[str]) -> pd.DataFrame:
    """Output rows (status `error`, this message) for input rows that could not be scored."""
    out = pd.DataFrame(index=pd.RangeIndex(len(rows)), columns=columns, dtype=object)
    for col in ERROR_ROW_COLUMNS:
        if col in columns and col in rows:
            out[col] = rows[col].to_numpy()
    if "amount" in rows:          # the parsed amount, as the engine reports it
        out["amount_usd"] = rows["amount"].to_numpy()
    out["status"] = "error"
    out["error"] = message
    out[ROW] = rows[ROW].to_numpy()
    return out


def _conform(frame: pd.DataFrame, like: pd.DataFrame | None) -> pd.DataFrame:
    """Give stand-in rows the dtypes of real output rows, so concatenation keeps them."""
    if like is None:
        return frame
    for col in frame.columns:
        if col in like and frame[col].dtype != like[col].dtype:
            try:
                frame[col] = frame[col].astype(like[col].dtype)
            except (TypeError, ValueError):
                pass
    return frame


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _write_atomic(path: Path, data: bytes) -> Path:
    """Write to a temporary name in the same folder and fsync; the caller renames."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


class Store:
    """All reads and writes of runs; safe from several threads and processes."""

    def __init__(self, home: str | Path | None = None):
        self.home = Path(home) if home is not None else Path(get_settings().home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.db_path = self.home / "runs.db"
        self._local = threading.local()
        con = self._con()
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(SCHEMA)

    # -- plumbing -----------------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE) so writers queue, never deadlock."""
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def run_dir(self, run_id: str) -> Path:
        return self.home / "runs" / run_id

    def chunk_path(self, run_id: str, idx: int) -> Path:
        return self.run_dir(run_id) / f"chunk-{idx}.parquet"

    # -- creating and reading runs ------------------------------------------------------
    def create_run(self, run_id: str, *, name: str, executor: str, options: dict, wallet: dict,
                   catalog: dict, valuation: dict, columns: list[str], prepared: pd.DataFrame | pa.Table,
                   bounds: list[tuple[int, int]]) -> None:
        """Store a planned run: its input file (in chunk order, with `_row`) and queued chunks."""
        folder = self.run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        table = prepared if isinstance(prepared, pa.Table) else to_arrow(prepared.reset_index(drop=True))
        data = _parquet_bytes(table)
        os.replace(_write_atomic(folder / "input.parquet", data), folder / "input.parquet")
        now = time.time()
        with self._tx() as con:
            con.execute(
                "INSERT INTO runs (id, name, status, executor, options, wallet, catalog, valuation, columns,"
                " total_rows, total_chunks, input_checksum, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, name, "queued", executor, json.dumps(options), json.dumps(wallet), json.dumps(catalog),
                 json.dumps(valuation), json.dumps(columns), table.num_rows, len(bounds),
                 hashlib.sha256(data).hexdigest(), now))
            con.executemany("INSERT INTO chunks (run_id, idx, start, stop, rows, state) VALUES (?,?,?,?,?,?)",
                            [(run_id, i, a, b, b - a, "queued") for i, (a, b) in enumerate(bounds)])

    def load_input(self, run_id: str) -> pa.Table:
        """The run's prepared input (checksum verified), as Arrow: chunks are zero-copy slices of it."""
        run = self.run(run_id)
        path = self.run_dir(run_id) / "input.parquet"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"run {run_id}: its input file {path} is missing; the run cannot go on") from None
        if hashlib.sha256(data).hexdigest() != run.input_checksum:
            raise StoreError(f"run {run_id}: its input file {path} is damaged (checksum); the run cannot go on")
        return pq.read_table(io.BytesIO(data))

    def run(self, run_id: str) -> RunRecord:
        row = self._con().execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UnknownRun(f"no run {run_id!r} in {self.db_path}; see `python -m backend runs list`")
        data = dict(row)
        for key in ("options", "wallet", "catalog", "valuation", "columns"):
            data[key] = json.loads(data[key])
        data["cancel_requested"] = bool(data["cancel_requested"])
        return RunRecord(**data)

    def chunks(self, run_id: str) -> list[ChunkRecord]:
        rows = self._con().execute(
            "SELECT idx, start, stop, rows, state, attempts, failures, call_id, error, compute_seconds,"
            " spawned_at, finished_at, next_try_at, checksum FROM chunks WHERE run_id = ? ORDER BY idx",
            (run_id,)).fetchall()
        return [ChunkRecord(**dict(r)) for r in rows]

    def status(self, run: RunRecord) -> str:
        """The status to show: a `running` run whose holder is gone is `interrupted`."""
        if run.status == "running" and not lease_is_live(run):
            return "interrupted"
        return run.status

    def unfinished_runs(self) -> list[str]:
        rows = self._con().execute(
            "SELECT id FROM runs WHERE status IN ('queued', 'running', 'interrupted') ORDER BY created_at").fetchall()
        return [r["id"] for r in rows]

    # -- run state ----------------------------------------------------------------------
    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        now = time.time()
        with self._tx() as con:
            if status == "running":
                con.execute("UPDATE runs SET status = ?, started_at = COALESCE(started_at, ?), finished_at = NULL,"
                            " error = NULL WHERE id = ?", (status, now, run_id))
            elif status in ("done", "failed", "cancelled"):
                con.execute("UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ?",
                            (status, now, error, run_id))
            else:
                con.execute("UPDATE runs SET status = ?, error = ? WHERE id = ?", (status, error, run_id))

    def request_cancel(self, run_id: str) -> None:
        """Ask whoever holds the run to cancel it (seen at its next heartbeat)."""
        self.run(run_id)
        with self._tx() as con:
            con.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))

    def cancel_open_chunks(self, run_id: str) -> list[str]:
        """Mark every unfinished chunk `cancelled` and the run `cancelled`; returns their call ids."""
        now = time.time()
        with self._tx() as con:
            calls = [r["call_id"] for r in con.execute(
                "SELECT call_id FROM chunks WHERE run_id = ? AND state = 'running' AND call_id IS NOT NULL",
                (run_id,))]
            con.execute("UPDATE chunks SET state = 'cancelled', next_try_at = NULL WHERE run_id = ?"
                        " AND state IN ('queued', 'running', 'retrying')", (run_id,))
            con.execute("UPDATE runs SET status = 'cancelled', finished_at = ?, cancel_requested = 0 WHERE id = ?",
                        (now, run_id))
        return calls

    def requeue(self, run_id: str, states: tuple[str, ...]) -> int:
        """Queue chunks in these states again (fresh attempts); returns how many."""
        marks = ",".join("?" * len(states))
        with self._tx() as con:
            idxs = [r["idx"] for r in con.execute(
                f"SELECT idx FROM chunks WHERE run_id = ? AND state IN ({marks})", (run_id, *states))]
            self._reset_chunks(con, run_id, idxs)
            if idxs:
                con.execute("UPDATE runs SET status = 'queued', finished_at = NULL, cancel_requested = 0"
                            " WHERE id = ?", (run_id,))
        return len(idxs)

    def _reset_chunks(self, con: sqlite3.Connection, run_id: str, idxs: list[int]) -> None:
        for idx in idxs:
            con.execute("UPDATE chunks SET state = 'queued', attempts = 0, failures = 0, call_id = NULL,"
                        " error = NULL, compute_seconds = NULL, spawned_at = NULL, finished_at = NULL,"
                        " next_try_at = NULL, checksum = NULL, rows_ok = 0, rows_skipped = 0, rows_error = 0,"
                        " rewards = 0, missed_rewards = NULL WHERE run_id = ? AND idx = ?", (run_id, idx))
            con.execute("DELETE FROM chunk_rewards WHERE run_id = ? AND idx = ?", (run_id, idx))
            self.chunk_path(run_id, idx).unlink(missing_ok=True)

    # -- leases -------------------------------------------------------------------------
    def acquire_lease(self, run_id: str, owner: str, stale_after: float = LEASE_STALE_S) -> RunRecord | None:
        """Take the run for `owner` unless a live holder has it; returns the holder if refused."""
        with self._tx() as con:
            run = self.run(run_id)
            if run.lease_owner not in (None, owner) and lease_is_live(run, stale_after=stale_after):
                return run
            con.execute("UPDATE runs SET lease_owner = ?, lease_pid = ?, lease_host = ?, heartbeat_at = ?"
                        " WHERE id = ?", (owner, os.getpid(), socket.gethostname(), time.time(), run_id))
        return None

    def heartbeat(self, run_id: str, owner: str) -> tuple[bool, bool]:
        """Refresh the lease: (still ours, cancel requested)."""
        with self._tx() as con:
            cur = con.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ? AND lease_owner = ?",
                              (time.time(), run_id, owner))
            row = con.execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return cur.rowcount == 1, bool(row and row["cancel_requested"])

    def release_lease(self, run_id: str, owner: str) -> None:
        with self._tx() as con:
            con.execute("UPDATE runs SET lease_owner = NULL, lease_pid = NULL, lease_host = NULL,"
                        " heartbeat_at = NULL WHERE id = ? AND lease_owner = ?", (run_id, owner))

    # -- chunk life ---------------------------------------------------------------------
    def mark_spawned(self, run_id: str, idx: int, call_id: str, owner: str | None = None) -> bool:
        """Record a call the moment it is spawned (so a restart can find it).

        With `owner`, only while it holds the run's lease (a process that lost the run to
        another must not overwrite the new holder's call ids): the lease fences every write.
        """
        with self._tx() as con:
            if not _holds(con, run_id, owner):
                return False
            cur = con.execute(
                "UPDATE chunks SET state = 'running', call_id = ?, attempts = attempts + 1, spawned_at = ?,"
                " next_try_at = NULL WHERE run_id = ? AND idx = ? AND state IN ('queued', 'retrying', 'running')",
                (call_id, time.time(), run_id, idx))
        return cur.rowcount == 1

    def mark_failure(self, run_id: str, idx: int, call_id: str | None, error: str,
                     backoff_s: float, owner: str | None = None) -> tuple[int, float]:
        """One failed call (or spawn): the chunk waits to be retried, the delay doubling per failure.

        Returns (the chunk's failure count, when it may be tried again).
        """
        now = time.time()
        with self._tx() as con:
            row = con.execute("SELECT failures, call_id, state FROM chunks WHERE run_id = ? AND idx = ?",
                              (run_id, idx)).fetchone()
            failures = int(row["failures"]) + 1
            next_try = now + min(60.0, backoff_s * 2 ** (failures - 1))
            if row["state"] in OPEN_CHUNK and (call_id is None or row["call_id"] == call_id) \
                    and _holds(con, run_id, owner):
                con.execute("UPDATE chunks SET state = 'retrying', failures = ?, error = ?, next_try_at = ?,"
                            " finished_at = ? WHERE run_id = ? AND idx = ?",
                            (failures, error, next_try, now, run_id, idx))
            else:
                failures -= 1
        return failures, next_try

    def finish_chunk(self, run_id: str, idx: int, call_id: str | None, results: pd.DataFrame,
                     compute_seconds: float | None, state: str = "done", error: str | None = None,
                     owner: str | None = None) -> bool:
        """Store a chunk's output rows given as a frame (e.g. error rows); see `finish_chunk_bytes`."""
        data = result_bytes(results, compute_seconds)
        return self.finish_chunk_bytes(run_id, idx, call_id, data, result_info(data), state, error, owner)

    def finish_chunk_bytes(self, run_id: str, idx: int, call_id: str | None, data: bytes, info: ResultInfo,
                           state: str = "done", error: str | None = None, owner: str | None = None) -> bool:
        """Store a chunk's result bytes as its file (atomically) with their totals.

        False if the call was not the chunk's current one, or `owner` no longer holds the run.
        `state` is `done` (scored) or `failed` (its rows are error rows naming the failure).
        A done chunk keeps the error of its last failed attempt, so retried failures stay visible.
        """
        path = self.chunk_path(run_id, idx)
        tmp = _write_atomic(path, data)
        totals = info.totals
        try:
            with self._tx() as con:
                allowed = "('running', 'retrying')" if call_id is not None else "('running', 'retrying', 'queued')"
                row = con.execute("SELECT call_id, rows FROM chunks WHERE run_id = ? AND idx = ?"
                                  f" AND state IN {allowed}", (run_id, idx)).fetchone()
                if row is None or (call_id is not None and row["call_id"] != call_id) \
                        or not _holds(con, run_id, owner):
                    return False
                if info.rows != row["rows"]:
                    raise StoreError(f"run {run_id}: chunk {idx} returned {info.rows} rows "
                                     f"for {row['rows']} input rows")
                con.execute(
                    "UPDATE chunks SET state = ?, error = COALESCE(?, error), compute_seconds = ?, finished_at = ?,"
                    " next_try_at = NULL, checksum = ?, rows_ok = ?, rows_skipped = ?, rows_error = ?, rewards = ?,"
                    " missed_rewards = ? WHERE run_id = ? AND idx = ?",
                    (state, error, info.compute_seconds, time.time(), hashlib.sha256(data).hexdigest(),
                     totals.rows_ok, totals.rows_skipped, totals.rows_error, totals.rewards, totals.missed_rewards,
                     run_id, idx))
                con.execute("DELETE FROM chunk_rewards WHERE run_id = ? AND idx = ?", (run_id, idx))
                con.executemany("INSERT INTO chunk_rewards (run_id, idx, kind, key, rewards) VALUES (?,?,?,?,?)",
                                [(run_id, idx, "card", k, v) for k, v in totals.by_card.items()]
                                + [(run_id, idx, "category", k, v) for k, v in totals.by_category.items()])
                os.replace(tmp, path)    # inside the transaction: a crash before COMMIT redoes the chunk
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def read_chunk(self, run_id: str, idx: int, checksum: str | None, rows: int) -> pa.Table | None:
        """A finished chunk's rows, or None if its file is missing, damaged or the wrong length."""
        try:
            data = self.chunk_path(run_id, idx).read_bytes()
            if checksum is not None and hashlib.sha256(data).hexdigest() != checksum:
                return None
            table = read_result_table(data, use_threads=False)   # small files: threads cost more
        except (OSError, PayloadError):
            return None
        return table if table.num_rows == rows else None

    def verify_chunks(self, run_id: str) -> list[int]:
        """Check every finished chunk's file; queue the bad ones again. Returns their idx."""
        bad = []
        for chunk in self.chunks(run_id):
            if chunk.state in FINISHED_CHUNK and not self._file_ok(run_id, chunk):
                bad.append(chunk.idx)
        self._redo(run_id, bad)
        return bad

    def _file_ok(self, run_id: str, chunk: ChunkRecord) -> bool:
        try:
            data = self.chunk_path(run_id, chunk.idx).read_bytes()
            if hashlib.sha256(data).hexdigest() != chunk.checksum:
                return False
            return pq.ParquetFile(io.BytesIO(data)).metadata.num_rows == chunk.rows
        except (OSError, ValueError):
            return False

    def _redo(self, run_id: str, idxs: list[int]) -> None:
        if not idxs:
            return
        with self._tx() as con:
            self._reset_chunks(con, run_id, idxs)
            con.execute("UPDATE runs SET status = CASE WHEN status IN ('done', 'failed') THEN 'interrupted'"
                        " ELSE status END, finished_at = NULL WHERE id = ?", (run_id,))

    # -- reading progress and results ---------------------------------------------------
    def snapshot(self, run_id: str, settings: Settings | None = None) -> Snapshot:
        """Progress, throughput, ETA, rewards and cost so far, from the database only."""
        settings = settings or get_settings()
        run = self.run(run_id)
        chunks = self.chunks(run_id)
        con = self._con()
        totals = con.execute(
            "SELECT COALESCE(SUM(rows_ok), 0) ok, COALESCE(SUM(rows_skipped), 0) sk, COALESCE(SUM(rows_error), 0) er,"
            " COALESCE(SUM(rewards), 0) rw, SUM(missed_rewards) missed FROM chunks WHERE run_id = ?"
            " AND state IN ('done', 'failed')", (run_id,)).fetchone()
        by = {"card": {}, "category": {}}
        for r in con.execute("SELECT r.kind, r.key, SUM(r.rewards) s FROM chunk_rewards r JOIN chunks c"
                             " ON c.run_id = r.run_id AND c.idx = r.idx WHERE r.run_id = ?"
                             " AND c.state IN ('done', 'failed') GROUP BY r.kind, r.key ORDER BY s DESC", (run_id,)):
            by[r["kind"]][r["key"]] = float(r["s"])
        states = [c.state for c in chunks]
        count = {s: states.count(s) for s in CHUNK_STATES}
        status = self.status(run)
        if status != "running":          # nobody is polling them: they wait to be spawned again
            states = ["queued" if st == "running" else st for st in states]
            count["queued"] += count["running"]
            count["running"] = 0
        finished = [c for c in chunks if c.state in FINISHED_CHUNK]
        rows_done = sum(c.rows for c in finished)
        now = time.time()
        start = run.started_at or run.created_at
        end = run.finished_at if run.status in ("done", "failed", "cancelled") and run.finished_at else now
        elapsed = max(0.0, end - start)
        throughput, recent_rate = _throughput(finished, start, elapsed, now)
        remaining = run.total_rows - rows_done
        eta = 0.0 if remaining == 0 else (remaining / recent_rate if recent_rate > 0 and status == "running" else None)
        compute = [(c.idx, float(c.compute_seconds)) for c in finished if c.compute_seconds is not None]
        cost = None
        if call_cost is not None:
            cost = float(sum(call_cost(s, settings.modal_cpu, settings.modal_memory_mib) for _, s in compute))
        errors = sorted((c for c in chunks if c.error), key=lambda c: c.finished_at or 0, reverse=True)[:10]
        return Snapshot(
            run_id=run.id, name=run.name, status=status, executor=run.executor, total_rows=run.total_rows,
            total_chunks=run.total_chunks, done=count["done"], failed=count["failed"], in_flight=count["running"],
            retrying=count["retrying"], queued=count["queued"], cancelled=count["cancelled"], rows_done=rows_done,
            rows_ok=int(totals["ok"]), rows_skipped=int(totals["sk"]), rows_error=int(totals["er"]),
            elapsed_s=elapsed, rows_per_second=rows_done / elapsed if elapsed > 0 else 0.0,
            throughput=throughput, eta_s=eta, rewards=float(totals["rw"]),
            rewards_by_category=by["category"], rewards_by_card=by["card"],
            missed_rewards=None if totals["missed"] is None else float(totals["missed"]),
            compute_seconds=compute, compute_seconds_total=float(sum(s for _, s in compute)), cost_usd=cost,
            errors=[{"chunk": c.idx, "state": c.state, "attempts": c.attempts, "failures": c.failures,
                     "error": c.error, "at": _iso(c.finished_at)} for c in errors],
            chunk_states=states, created_at=_iso(run.created_at), started_at=_iso(run.started_at),
            finished_at=_iso(run.finished_at), options=run.options)

    def list_runs(self) -> list[dict]:
        """Every run, newest first, with its progress and rewards (one query)."""
        rows = self._con().execute(
            "SELECT r.*, COALESCE(SUM(c.state = 'done'), 0) done, COALESCE(SUM(c.state = 'failed'), 0) failed,"
            " COALESCE(SUM(CASE WHEN c.state IN ('done', 'failed') THEN c.rewards END), 0) rewards"
            " FROM runs r LEFT JOIN chunks c ON c.run_id = r.id GROUP BY r.id ORDER BY r.created_at DESC").fetchall()
        out = []
        for row in rows:
            run = self.run(row["id"]) if row["status"] == "running" else None
            out.append({"run_id": row["id"], "name": row["name"],
                        "status": self.status(run) if run else row["status"], "executor": row["executor"],
                        "total": row["total_rows"], "chunks": row["total_chunks"], "done": int(row["done"]),
                        "failed": int(row["failed"]), "created_at": _iso(row["created_at"]),
                        "rewards": round(float(row["rewards"]), 2)})
        return out

    def results(self, run_id: str) -> pd.DataFrame:
        """Every input row's output row, in input order, with exactly the run's output columns.

        Chunks not finished (cancelled, still queued) give `error` rows that say so, so the
        frame always has one row per input row. A damaged chunk file raises ChunkFileError.
        The chunks are concatenated in Arrow, converted to pandas once, then put in input order.
        """
        run = self.run(run_id)
        chunks = self.chunks(run_id)
        keep = run.columns + [ROW]
        parts: dict[int, pa.Table] = {}
        bad = []
        for chunk in chunks:
            if chunk.state in FINISHED_CHUNK:
                table = self.read_chunk(run_id, chunk.idx, chunk.checksum, chunk.rows)
                if table is None:
                    bad.append(chunk.idx)
                else:
                    parts[chunk.idx] = table.select(keep)
        if bad:
            self._redo(run_id, bad)
            raise ChunkFileError(run_id, bad)
        missing = [c for c in chunks if c.idx not in parts]
        if missing:
            like = next(iter(parts.values()), None)
            like_frame = like.slice(0, 0).to_pandas() if like is not None else None
            prepared = self.load_input(run_id)
            status = self.status(run)
            for chunk in missing:
                rows = prepared.slice(chunk.start, chunk.rows).to_pandas()
                frame = error_rows(rows, f"not scored: chunk {chunk.idx} is {chunk.state} (run {status})", run.columns)
                frame = _conform(frame, like_frame)
                parts[chunk.idx] = pa.Table.from_pandas(frame, schema=like.schema if like is not None else None,
                                                        preserve_index=False).select(keep)
        if not parts:
            return pd.DataFrame(columns=run.columns)
        whole = pa.concat_tables([parts[i] for i in sorted(parts)], promote_options="permissive").to_pandas()
        order = np.argsort(whole[ROW].to_numpy(), kind="stable")
        return whole.iloc[order][run.columns].reset_index(drop=True)

    def summary(self, run_id: str) -> dict:
        """`engine.summarize` of the run's results, timed by the run's elapsed seconds."""
        snap = self.snapshot(run_id)
        return engine.summarize(self.results(run_id), seconds=snap.elapsed_s)


def _holds(con: sqlite3.Connection, run_id: str, owner: str | None) -> bool:
    """Whether `owner` holds the run's lease (None: the caller does not take part in leases)."""
    if owner is None:
        return True
    row = con.execute("SELECT lease_owner FROM runs WHERE id = ?", (run_id,)).fetchone()
    return row is not None and row["lease_owner"] == owner


def _throughput(finished: list[ChunkRecord], start: float, elapsed: float,
                now: float) -> tuple[list[tuple[float, float]], float]:
    """Rows per second in time buckets since the start, and the rate of the last 30 seconds."""
    if elapsed <= 0:
        return [], 0.0
    width = max(1.0, elapsed / 40)
    buckets = int(np.ceil(elapsed / width))
    at = np.array([c.finished_at for c in finished if c.finished_at], dtype=float)
    rows = np.array([c.rows for c in finished if c.finished_at], dtype=float)
    slot = np.clip(((at - start) // width).astype(int), 0, buckets - 1) if len(at) else np.array([], int)
    per = np.bincount(slot, weights=rows, minlength=buckets) / width
    series = [(round((i + 1) * width, 3), float(v)) for i, v in enumerate(per)]
    window = min(30.0, elapsed)
    recent = rows[at >= now - window].sum() if len(at) else 0.0
    return series, float(recent / window) if window > 0 else 0.0


_default: Store | None = None
_default_lock = threading.Lock()


def get_store(settings: Settings | None = None) -> Store:
    """The store under settings.home (one per home per process)."""
    global _default
    home = Path((settings or get_settings()).home)
    with _default_lock:
        if _default is None or _default.home != home:
            _default = Store(home)
        return _default


def snapshot(run_id: str) -> Snapshot:
    return get_store().snapshot(run_id)


def list_runs() -> list[dict]:
    return get_store().list_runs()


def results(run_id: str) -> pd.DataFrame:
    return get_store().results(run_id)


def summary(run_id: str) -> dict:
    return get_store().summary(run_id)
