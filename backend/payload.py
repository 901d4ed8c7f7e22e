"""Chunk payloads and results as compact, self-contained bytes (Arrow / Parquet; never pickle).

A payload (Arrow IPC stream) carries everything a worker needs and nothing else: the chunk's
prepared rows (with their position in the whole input, `_row`, so results reassemble in input
order), and, in the schema metadata, the wallet, the catalog entries of the wallet's cards and
the valuation. The same bytes run in a local pool process or in a Modal container.

A result is Parquet bytes: the scored rows with `_row`, and in the file metadata the compute
seconds and the chunk's totals (rows ok/skipped/error, rewards by card and category). The
worker does that work, so the run manager stores the bytes as they came (they *are* the chunk
file) and reads only the small metadata: its own cost per chunk stays tiny.

Test hooks (tests only): `REWARDPILOT_TEST_CHUNK_SLEEP=<seconds>` makes `score_payload` sleep
before scoring, so a test can kill a worker or the manager while chunks are in flight;
`REWARDPILOT_TEST_CHUNK_FAIL=<message>` makes every call fail with that message.
"""
from __future__ import annotations

import io
import json
import os
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from backend import engine
from backend.catalog import Catalog, parse_catalog
from backend.wallet import Wallet

ROW = "_row"                       # position of a row in the run's whole input
FORMAT = 1                         # bump when the payload layout changes
META_KEY = b"rewardpilot"
SLEEP_ENV = "REWARDPILOT_TEST_CHUNK_SLEEP"
FAIL_ENV = "REWARDPILOT_TEST_CHUNK_FAIL"
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


class PayloadError(ValueError):
    """Bytes that are not a RewardPilot payload or result of this format."""


@dataclass
class ChunkTotals:
    """What a progress snapshot needs from one finished chunk, so it never re-reads rows."""
    rows_ok: int
    rows_skipped: int
    rows_error: int
    rewards: float
    missed_rewards: float | None
    by_card: dict[str, float]
    by_category: dict[str, float]


@dataclass
class ResultInfo:
    """A result's metadata, read without decoding its rows."""
    rows: int
    columns: list[str]
    compute_seconds: float | None
    totals: ChunkTotals


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A frame as an Arrow table; object columns of mixed types become text instead of failing."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        fixed = frame.copy()
        for col in fixed.columns[fixed.dtypes == object]:
            fixed[col] = fixed[col].astype("string")
        return pa.Table.from_pandas(fixed, preserve_index=False)


def _with_meta(table: pa.Table, meta: dict) -> pa.Table:
    return table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta).encode()})


def _meta(schema: pa.Schema, kind: str) -> dict:
    try:
        meta = json.loads((schema.metadata or {})[META_KEY])
    except (KeyError, ValueError) as exc:
        raise PayloadError(f"not a RewardPilot {kind} (no {META_KEY.decode()} metadata: {exc})") from None
    if meta.get("format") != FORMAT or meta.get("kind") != kind:
        raise PayloadError(f"unsupported {kind}: format {meta.get('format')!r}, kind {meta.get('kind')!r} "
                           f"(this build reads format {FORMAT})")
    return meta


# -- payloads -----------------------------------------------------------------------------
def encode_chunk(rows: pd.DataFrame | pa.Table, wallet: Wallet, catalog: Catalog,
                 valuation: engine.Valuation = engine.Valuation()) -> bytes:
    """Prepared rows (with `_row`) + wallet + its cards' catalog entries + valuation -> bytes.

    `rows` may be an Arrow table (a zero-copy slice of the run's input: the manager's fast path).
    """
    table = rows if isinstance(rows, pa.Table) else to_arrow(rows.reset_index(drop=True))
    if ROW not in table.column_names:
        raise ValueError(f"chunk rows need a {ROW!r} column (their position in the input)")
    meta = {"format": FORMAT, "kind": "chunk", "wallet": wallet.to_dict(),
            "catalog": catalog.subset(wallet.card_ids()),
            "valuation": {"profile": valuation.profile, "overrides": dict(valuation.overrides)}}
    table = _with_meta(table, meta)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_IPC_OPTIONS) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode_chunk(payload: bytes) -> tuple[pd.DataFrame, Wallet, Catalog, engine.Valuation]:
    """The inverse of `encode_chunk`."""
    try:
        table = pa.ipc.open_stream(pa.py_buffer(payload)).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise PayloadError(f"not a RewardPilot chunk ({exc})") from None
    meta = _meta(table.schema, "chunk")
    wallet = Wallet.from_dict(meta["wallet"])
    catalog = parse_catalog(meta["catalog"], "<payload>")
    valuation = engine.Valuation(meta["valuation"]["profile"], dict(meta["valuation"]["overrides"]))
    return table.to_pandas(), wallet, catalog, valuation


# -- results ------------------------------------------------------------------------------
def chunk_totals(results: pd.DataFrame) -> ChunkTotals:
    """Counts and rewards (by card, by category) of a chunk's output rows."""
    status = results["status"].astype("string").fillna("error").to_numpy(dtype=object)
    ok = status == "ok"
    rewards = pd.to_numeric(results["rewards_earned"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    rewards = np.where(ok, rewards, 0.0)

    def by(column: str) -> dict[str, float]:
        if column not in results or not ok.any():
            return {}
        keys = results[column].astype("string").fillna("").to_numpy(dtype=object)[ok]
        sums = pd.Series(rewards[ok]).groupby(keys).sum()
        return {str(k): float(v) for k, v in sums.items()}

    missed = None
    if "missed_rewards" in results:
        missed = float(pd.to_numeric(results["missed_rewards"], errors="coerce").fillna(0.0).sum())
    return ChunkTotals(rows_ok=int(ok.sum()), rows_skipped=int((status == "skipped").sum()),
                       rows_error=int((status == "error").sum()), rewards=float(rewards.sum()),
                       missed_rewards=missed, by_card=by("recommended_card"), by_category=by("reward_category"))


def result_bytes(results: pd.DataFrame, compute_seconds: float | None) -> bytes:
    """Output rows (with `_row`) -> Parquet bytes carrying their totals and compute seconds."""
    meta = {"format": FORMAT, "kind": "result", "compute_seconds": compute_seconds,
            "totals": asdict(chunk_totals(results))}
    buf = io.BytesIO()
    pq.write_table(_with_meta(to_arrow(results.reset_index(drop=True)), meta), buf, compression="lz4")
    return buf.getvalue()


def score_payload(payload: bytes) -> bytes:
    """What a worker runs: decode, `engine.score_prepared`, encode the results with `_row`."""
    _test_hooks()
    start = time.perf_counter()
    rows, wallet, catalog, valuation = decode_chunk(payload)
    positions = rows.pop(ROW).to_numpy()
    scored = engine.score_prepared(rows, wallet, catalog, valuation).reset_index(drop=True)
    scored[ROW] = positions
    # the seconds cover decoding and scoring; encoding the answer is not timed (a few ms)
    return result_bytes(scored, time.perf_counter() - start)


def result_info(data: bytes) -> ResultInfo:
    """Rows, columns, compute seconds and totals of result bytes, from the metadata only."""
    try:
        meta_data = pq.read_metadata(io.BytesIO(data))
        schema = meta_data.schema.to_arrow_schema()
    except (pa.ArrowInvalid, OSError) as exc:
        raise PayloadError(f"not a RewardPilot result ({exc})") from None
    meta = _meta(schema, "result")
    seconds = meta.get("compute_seconds")
    return ResultInfo(rows=meta_data.num_rows, columns=list(schema.names),
                      compute_seconds=None if seconds is None else float(seconds),
                      totals=ChunkTotals(**meta["totals"]))


def read_result_table(data: bytes, use_threads: bool = True) -> pa.Table:
    """Result bytes -> an Arrow table (scored rows with `_row`)."""
    try:
        table = pq.read_table(io.BytesIO(data), use_threads=use_threads)
    except (pa.ArrowInvalid, OSError) as exc:
        raise PayloadError(f"not a RewardPilot result ({exc})") from None
    _meta(table.schema, "result")
    return table


def decode_result(data: bytes) -> tuple[pd.DataFrame, float]:
    """Result bytes -> (scored rows with `_row`, compute seconds)."""
    table = read_result_table(data)
    seconds = _meta(table.schema, "result").get("compute_seconds")
    return table.to_pandas(), float(seconds or 0.0)


def _test_hooks() -> None:
    """Slow or failing calls on demand, for tests that need calls in flight or failing."""
    sleep = float(os.environ.get(SLEEP_ENV) or 0)
    if sleep > 0:
        time.sleep(sleep)
    message = os.environ.get(FAIL_ENV)
    if message:
        raise RuntimeError(message)
