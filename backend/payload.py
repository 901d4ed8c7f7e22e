"""Chunk payloads and results as compact, self-contained bytes (Arrow IPC; never pickle).

A payload carries everything a worker needs and nothing else: the chunk's prepared rows (with
their position in the whole input, `_row`, so results reassemble in input order), and, in the
schema metadata, the wallet, the catalog entries of the wallet's cards and the valuation.
The same bytes run in a local pool process or in a Modal container.

Test hook (tests only): `REWARDPILOT_TEST_CHUNK_SLEEP=<seconds>` makes `score_payload` sleep
before scoring, so a test can kill a worker or the manager while chunks are in flight.
`REWARDPILOT_TEST_CHUNK_FAIL=<message>` makes every call fail with that message.
"""
from __future__ import annotations

import json
import os
import time

import pandas as pd
import pyarrow as pa

from backend import engine
from backend.catalog import Catalog, parse_catalog
from backend.wallet import Wallet

ROW = "_row"                       # position of a row in the run's whole input
FORMAT = 1                         # bump when the payload layout changes
META_KEY = b"rewardpilot"
SLEEP_ENV = "REWARDPILOT_TEST_CHUNK_SLEEP"
FAIL_ENV = "REWARDPILOT_TEST_CHUNK_FAIL"
_WRITE_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


class PayloadError(ValueError):
    """Bytes that are not a RewardPilot payload or result of this format."""


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A frame as an Arrow table; object columns of mixed types become text instead of failing."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        fixed = frame.copy()
        for col in fixed.columns[fixed.dtypes == object]:
            fixed[col] = fixed[col].astype("string")
        return pa.Table.from_pandas(fixed, preserve_index=False)


def _write(frame: pd.DataFrame, meta: dict) -> bytes:
    table = to_arrow(frame.reset_index(drop=True))
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta).encode()})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_WRITE_OPTIONS) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _read(data: bytes, kind: str) -> tuple[pd.DataFrame, dict]:
    try:
        table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
        meta = json.loads((table.schema.metadata or {})[META_KEY])
    except (pa.ArrowInvalid, KeyError, ValueError) as exc:
        raise PayloadError(f"not a RewardPilot {kind} ({exc})") from None
    if meta.get("format") != FORMAT or meta.get("kind") != kind:
        raise PayloadError(f"unsupported {kind}: format {meta.get('format')!r}, kind {meta.get('kind')!r} "
                           f"(this build reads format {FORMAT})")
    return table.to_pandas(), meta


def encode_chunk(rows: pd.DataFrame, wallet: Wallet, catalog: Catalog,
                 valuation: engine.Valuation = engine.Valuation()) -> bytes:
    """Prepared rows (with `_row`) + wallet + its cards' catalog entries + valuation -> bytes."""
    if ROW not in rows.columns:
        raise ValueError(f"chunk rows need a {ROW!r} column (their position in the input)")
    meta = {"format": FORMAT, "kind": "chunk", "wallet": wallet.to_dict(),
            "catalog": catalog.subset(wallet.card_ids()),
            "valuation": {"profile": valuation.profile, "overrides": dict(valuation.overrides)}}
    return _write(rows, meta)


def decode_chunk(payload: bytes) -> tuple[pd.DataFrame, Wallet, Catalog, engine.Valuation]:
    """The inverse of `encode_chunk`."""
    rows, meta = _read(payload, "chunk")
    wallet = Wallet.from_dict(meta["wallet"])
    catalog = parse_catalog(meta["catalog"], "<payload>")
    valuation = engine.Valuation(meta["valuation"]["profile"], dict(meta["valuation"]["overrides"]))
    return rows, wallet, catalog, valuation


def score_payload(payload: bytes) -> bytes:
    """What a worker runs: decode, `engine.score_prepared`, encode the results with `_row`.

    The result carries the seconds this took, which cost estimates are built from.
    """
    _test_hooks()
    start = time.perf_counter()
    rows, wallet, catalog, valuation = decode_chunk(payload)
    positions = rows.pop(ROW).to_numpy()
    scored = engine.score_prepared(rows, wallet, catalog, valuation).reset_index(drop=True)
    scored[ROW] = positions
    seconds = time.perf_counter() - start
    return _write(scored, {"format": FORMAT, "kind": "result", "compute_seconds": seconds})


def decode_result(data: bytes) -> tuple[pd.DataFrame, float]:
    """Result bytes -> (scored rows with `_row`, compute seconds)."""
    frame, meta = _read(data, "result")
    return frame, float(meta["compute_seconds"])


def _test_hooks() -> None:
    """Slow or failing calls on demand, for tests that need calls in flight or failing."""
    sleep = float(os.environ.get(SLEEP_ENV) or 0)
    if sleep > 0:
        time.sleep(sleep)
    message = os.environ.get(FAIL_ENV)
    if message:
        raise RuntimeError(message)
