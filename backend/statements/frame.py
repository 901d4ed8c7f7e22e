"""Assembling the canonical transaction frame from one statement's parsed columns.

Every issuer module ends here, so masking, merchant names, skip reasons and transaction ids
are made the same way for all of them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from backend import merchants
from backend.statements.reading import Table
from backend.statements.values import Distinct, skip_reasons

COLUMNS = ["transaction_id", "user_id", "merchant", "category", "amount_usd", "mcc", "timestamp",
           "card_used", "description", "source_file", "source_row", "skip_reason"]


def masked(text: pd.Series) -> pd.Series:
    """Raw descriptors with long digit runs (card numbers) masked, trimmed."""
    return Distinct.of(text).map(_mask).rows()


def merchant_names(descriptions: pd.Series) -> pd.Series:
    """Clean merchant names from (already masked) descriptors."""
    return Distinct.of(descriptions).map(_normalize).rows()


def _mask(values: pd.Series) -> pd.Series:
    return merchants.mask_digits(values).str.strip().astype("str")


def _normalize(values: pd.Series) -> pd.Series:
    return merchants.normalize(values).fillna("").astype("str")


def stable_ids(fmt: str, card_used: str, timestamp: pd.Series, amount: pd.Series,
               description: pd.Series | Distinct) -> pd.Series:
    """`<format>-<16 hex>` ids that survive re-uploads and overlapping exports.

    The hash covers (format, card, date, cents, masked descriptor) plus the occurrence number
    of that same tuple in the file, so two identical coffees on one day stay two purchases,
    while the same purchase read from two exports gets the same id (and is then caught as a
    duplicate). pandas' `hash_pandas_object` is SipHash with a fixed key: stable run to run.
    Text is hashed once per distinct value.
    """
    desc = description if isinstance(description, Distinct) else Distinct.of(description)
    cents = np.round(amount.to_numpy(dtype="float64", na_value=np.nan) * 100)
    cents = np.where(np.isfinite(cents), cents, -(2 ** 62)).astype(np.int64)
    dates = Distinct.of(timestamp.astype("str").str.slice(0, 10))
    first = _hash_columns(
        _hash_text(dates.values)[dates.codes],
        cents.view(np.uint64),
        _hash_text(desc.values.str.upper())[desc.codes],
    )
    salt = _hash_text(pd.Series([fmt, card_used], dtype="str"))
    final = _hash_columns(first, occurrences(first).view(np.uint64),
                          np.full(len(first), salt[0]), np.full(len(first), salt[1]))
    ids = _hex_ids(fmt, final)
    ids.index = amount.index
    return ids


def _hash_text(values: pd.Series) -> np.ndarray:
    return pd.util.hash_pandas_object(values.astype("str"), index=False, categorize=False).to_numpy()


def _hash_columns(*columns: np.ndarray) -> np.ndarray:
    """One uint64 per row from several uint64 columns (order matters)."""
    frame = pd.DataFrame({str(i): c for i, c in enumerate(columns)})
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def occurrences(keys: np.ndarray) -> np.ndarray:
    """0 for the first row of each key, 1 for its second, ... (groupby cumcount, sort-free)."""
    n = len(keys)
    codes, _ = pd.factorize(keys)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1] if n else np.zeros(0, np.int64)
    run = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    out = np.empty(n, dtype=np.int64)
    out[order] = run
    return out


def _hex_ids(prefix: str, hashes: np.ndarray) -> pd.Series:
    """uint64 -> `prefix-0123456789abcdef`: one fixed-width byte buffer handed to Arrow as a
    string array (no row loop, no per-row Python strings)."""
    hexes = np.frombuffer(hashes.astype(">u8").tobytes().hex().encode("ascii"), dtype=np.uint8)
    head = np.frombuffer(f"{prefix}-".encode("ascii"), dtype=np.uint8)
    width = len(head) + 16
    grid = np.empty((len(hashes), width), dtype=np.uint8)
    grid[:, : len(head)] = head
    grid[:, len(head):] = hexes.reshape(-1, 16)
    offsets = np.arange(0, (len(hashes) + 1) * width, width, dtype=np.int32)
    ids = pa.StringArray.from_buffers(len(hashes), pa.py_buffer(offsets), pa.py_buffer(grid))
    return pd.Series(pd.array(ids, dtype="str"))


def build(table: Table, *, fmt: str, timestamp: pd.Series, amount: pd.Series, description: pd.Series,
          account: str, card_used: str, category: pd.Series | None = None, mcc: pd.Series | None = None,
          kind: pd.Series | None = None) -> pd.DataFrame:
    """The canonical frame of an issuer statement (`amount` purchase-positive floats).

    A row with more fields than the header is shifted data: its amount is made unreadable so
    the row checks report it as an error rather than score a wrong number.
    """
    index = table.data.index
    amount = amount.astype("float64").copy()
    amount[(table.extra.str.strip() != "").to_numpy(dtype=bool)] = np.nan
    desc = Distinct.of(description).map(_mask)
    name = desc.map(_normalize)
    blank = pd.Series("", index=index, dtype="str")
    frame = pd.DataFrame({
        "transaction_id": stable_ids(fmt, card_used, timestamp, amount, desc),
        "user_id": pd.Series(account, index=index, dtype="str"),
        "merchant": name.rows(),
        "category": category.astype("str").str.strip() if category is not None else blank,
        "amount_usd": amount,
        "mcc": mcc.astype("str") if mcc is not None else blank,
        "timestamp": timestamp.astype("str"),
        "card_used": pd.Series(card_used, index=index, dtype="str"),
        "description": desc.rows(),
        "source_file": pd.Series(table.name, index=index, dtype="str"),
        "source_row": table.rows,
        "skip_reason": skip_reasons(amount, desc, kind),
    })
    return frame[COLUMNS]
