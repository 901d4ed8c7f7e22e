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


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed copy of a canonical frame with `amount`, `ts`, `status`, `error`, `error_column`.

    Vectorized checks, in this order (the first problem wins): a non-numeric amount, an
    unparseable timestamp, a repeated transaction id (its later rows), an importer's skip
    reason, an amount <= 0.
    """
    out = frame.copy()
    n = len(out)
    status = np.full(n, "ok", dtype=object)
    error = np.full(n, "", dtype=object)
    column = np.full(n, "", dtype=object)

    def flag(mask: np.ndarray, kind: str, col: str, message) -> None:
        mask = mask & (status == "ok")
        status[mask] = kind
        column[mask] = col
        error[mask] = message[mask] if isinstance(message, np.ndarray) else message

    raw_amount = out["amount_usd"].astype("string").str.strip()
    amount = pd.to_numeric(raw_amount.str.replace(r"[$,\s]", "", regex=True), errors="coerce")
    amount = amount.where(np.isfinite(amount.astype("float64")))
    bad_amount = amount.isna().to_numpy()
    flag(bad_amount, "error", "amount_usd",
         ("amount_usd is not a number: " + raw_amount.fillna("(blank)").str.slice(0, 40)).to_numpy(dtype=object))

    raw_ts = out["timestamp"].astype("string").str.strip()
    ts = pd.to_datetime(raw_ts, errors="coerce", utc=True, format="mixed")
    flag(ts.isna().to_numpy(), "error", "timestamp",
         ("timestamp is not a date: " + raw_ts.fillna("(blank)").str.slice(0, 40)).to_numpy(dtype=object))

    ids = out["transaction_id"].astype("string")
    flag(ids.isna().to_numpy() | (ids.str.strip() == "").fillna(True).to_numpy(), "error", "transaction_id",
         "transaction_id is blank")
    flag(ids.duplicated(keep="first").to_numpy() & ids.notna().to_numpy(), "error", "transaction_id",
         ("duplicate transaction_id " + ids.fillna("") + " (an earlier row has it)").to_numpy(dtype=object))

    if "skip_reason" in out:
        reason = out["skip_reason"].astype("string").fillna("")
        has = (reason != "").to_numpy()
        flag(has, "skipped", "amount_usd", reason.to_numpy(dtype=object))

    amt = amount.to_numpy(dtype="float64", na_value=np.nan)
    flag(~bad_amount & (amt <= 0), "skipped", "amount_usd",
         "not a purchase: amount <= 0 (refund, payment or credit)")

    out["amount"] = amount.astype("float64")
    out["ts"] = ts
    out["status"] = status
    out["error"] = error
    out["error_column"] = column
    return out


def problems(prepared: pd.DataFrame, file: str | None = None) -> pd.DataFrame:
    """Every row that is not `ok`: file, row, column, status and message (for the upload report)."""
    bad = prepared[prepared["status"] != "ok"]
    if "source_row" in bad:
        rows = bad["source_row"]
    else:
        rows = pd.Series(bad.index + 2, index=bad.index)   # +1 header line, +1 for 1-based rows
    files = bad["source_file"] if "source_file" in bad else pd.Series(file or "", index=bad.index)
    return pd.DataFrame({
        "file": files.to_numpy(),
        "row": rows.to_numpy(),
        "column": bad["error_column"].to_numpy(),
        "status": bad["status"].to_numpy(),
        "message": bad["error"].to_numpy(),
    })
