"""Spreadsheet-safe CSV: text cells that a spreadsheet would run as a formula are neutralized.

A cell starting with =, +, -, @ (or a tab/carriage return) gets a leading apostrophe, which
spreadsheets show as plain text (OWASP "CSV injection"). Numeric columns stay numbers.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import IO

import pandas as pd

_FORMULA_START = r"^[=+\-@\t\r]"


def neutralize(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text columns cannot start a spreadsheet formula."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_string_dtype(column) or column.dtype == object:
            text = column.astype("str").where(column.notna())
            risky = text.str.contains(_FORMULA_START, regex=True, na=False)
            if risky.any():
                out[name] = text.where(~risky, "'" + text)
    return out


def to_csv(frame: pd.DataFrame, path_or_buf: str | Path | IO[str]) -> None:
    """Write results as spreadsheet-safe CSV (path, open text file or '-' for stdout)."""
    import sys

    target = sys.stdout if str(path_or_buf) == "-" else path_or_buf
    neutralize(frame).to_csv(target, index=False, float_format="%.10g")


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The same CSV as bytes, for downloads."""
    buffer = io.StringIO()
    to_csv(frame, buffer)
    return buffer.getvalue().encode("utf-8")
