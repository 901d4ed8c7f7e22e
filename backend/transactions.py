"""The canonical transaction frame and its row checks.

Every importer produces this frame; every input row leaves the system as exactly one output
row: `ok` (scored), `skipped` (not a purchase: payment, refund, credit, fee...) or `error`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ["transaction_id", "user_id", "merchant", "category", "amount_usd", "mcc", "timestamp"]
OPTIONAL_COLUMNS = ["card_used", "description"]
# Internal columns an importer may add: where a row came from, and why it is not a purchase.
SOURCE_COLUMNS = ["source_file", "source_row", "skip_reason"]


def _text(values: pd.Series) -> pd.Series:
    """A column as text with blanks for missing values (no copy when it already is)."""
    if values.dtype == "str" or values.dtype == "string":
        return values.fillna("")
    return values.astype("str").where(values.notna(), "")


def parse_amount(values: pd.Series) -> pd.Series:
    """Dollar amounts as floats; `$1,234.56` and `(12.00)` accepted; anything else NaN."""
    if pd.api.types.is_numeric_dtype(values):
        amount = values.astype("float64")
    else:
        text = _text(values).str.strip()
        amount = pd.to_numeric(text, errors="coerce").astype("float64")
        retry = amount.isna() & (text != "")
        if retry.any():
            cleaned = text[retry].str.replace(r"[$,\s]", "", regex=True)
            negative = cleaned.str.match(r"^\(.*\)$")
            cleaned = cleaned.str.strip("()")
            fixed = pd.to_numeric(cleaned, errors="coerce").astype("float64")
            amount[retry] = fixed.where(~negative, -fixed)
    return amount.where(np.isfinite(amount))


def parse_timestamp(values: pd.Series) -> pd.Series:
    """UTC timestamps; ISO 8601 fast path, then any other date form pandas can read."""
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = pd.to_datetime(values, utc=True)
        return ts
    text = _text(values).str.strip()
    ts = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    retry = ts.isna() & (text != "")
    if retry.any():
        ts[retry] = pd.to_datetime(text[retry], errors="coerce", utc=True, format="mixed")
    return ts


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed copy of a canonical frame with `amount`, `ts`, `status`, `error`, `error_column`.

    Vectorized checks, in this order (the first problem wins): a non-numeric amount, an
    unparseable timestamp, a blank or repeated transaction id (its later rows), an importer's
    skip reason, an amount <= 0.
    """
    out = frame.copy(deep=False)   # copy-on-write: new columns never touch the caller's frame
    n = len(out)
    status = np.full(n, "ok", dtype=object)
    error = np.full(n, "", dtype=object)
    column = np.full(n, "", dtype=object)

    def flag(mask: np.ndarray, kind: str, col: str, message) -> None:
        mask = mask & (status == "ok")
        if not mask.any():
            return
        status[mask] = kind
        column[mask] = col
        error[mask] = message(mask) if callable(message) else message

    amount = parse_amount(out["amount_usd"])
    bad_amount = amount.isna().to_numpy()
    flag(bad_amount, "error", "amount_usd",
         lambda m: ("amount_usd is not a number: '" + _text(out["amount_usd"][m]).str.slice(0, 40) + "'").to_numpy(dtype=object))

    ts = parse_timestamp(out["timestamp"])
    flag(ts.isna().to_numpy(), "error", "timestamp",
         lambda m: ("timestamp is not a date: '" + _text(out["timestamp"][m]).str.slice(0, 40) + "'").to_numpy(dtype=object))

    ids = _text(out["transaction_id"]).str.strip()
    flag((ids == "").to_numpy(), "error", "transaction_id", "transaction_id is blank")
    flag(ids.duplicated(keep="first").to_numpy(), "error", "transaction_id",
         lambda m: ("duplicate transaction_id " + ids[m] + " (an earlier row has it)").to_numpy(dtype=object))

    if "skip_reason" in out:
        reason = _text(out["skip_reason"])
        flag((reason != "").to_numpy(), "skipped", "amount_usd", lambda m: reason[m].to_numpy(dtype=object))

    amt = amount.to_numpy(dtype="float64", na_value=np.nan)
    flag(~bad_amount & (amt <= 0), "skipped", "amount_usd",
         "not a purchase: amount <= 0 (refund, payment or credit)")

    out["amount"] = amount.astype("float64")
    out["ts"] = ts
    out["status"] = pd.array(status, dtype="str")
    out["error"] = pd.array(error, dtype="str")
    out["error_column"] = pd.array(column, dtype="str")
    return out


def problems(prepared: pd.DataFrame, file: str | None = None) -> pd.DataFrame:
    """Every row that is not `ok`: file, row, column, status and message (for the upload report)."""
    bad = prepared[prepared["status"] != "ok"]
    if "source_row" in bad:
        rows = bad["source_row"]
    else:
        rows = pd.Series(np.arange(len(prepared))[(prepared["status"] != "ok").to_numpy()] + 2, index=bad.index)
    files = bad["source_file"] if "source_file" in bad else pd.Series(file or "", index=bad.index)
    return pd.DataFrame({
        "file": files.to_numpy(),
        "row": rows.to_numpy(),
        "column": bad["error_column"].to_numpy(),
        "status": bad["status"].to_numpy(),
        "message": bad["error"].to_numpy(),
    })
