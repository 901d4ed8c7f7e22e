"""Spreadsheet-safe CSV: text cells that a spreadsheet would run as a formula are neutralized.

A cell starting with =, +, -, @ (or a tab/carriage return) gets a leading apostrophe, which
spreadsheets show as plain text (OWASP "CSV injection"). Numeric columns stay numbers.
CSV is written by pyarrow: pandas' writer formats floats in Python, row by row.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

_FORMULA_START = r"^[=+\-@\t\r]"


def _safe_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    risky = pc.match_substring_regex(column, _FORMULA_START)
    if not pc.any(risky).as_py():
        return column
    quote, empty = pa.scalar("'", column.type), pa.scalar("", column.type)
    return pc.if_else(risky, pc.binary_join_element_wise(quote, column, empty), column)


def safe_table(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table whose text columns cannot start a spreadsheet formula."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            table = table.set_column(i, field.name, _safe_text(table.column(i)))
        elif pa.types.is_null(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
    return table


def neutralize(frame: pd.DataFrame) -> pd.DataFrame:
    """A pandas copy with the same protection (for previews and other writers)."""
    return safe_table(frame).to_pandas()


def _write(frame: pd.DataFrame, sink) -> None:
    pacsv.write_csv(safe_table(frame), sink, pacsv.WriteOptions(quoting_style="needed"))


def to_csv(frame: pd.DataFrame, path_or_buf: str | Path | IO) -> None:
    """Write results as spreadsheet-safe CSV: a path, '-' for stdout, or an open file."""
    if str(path_or_buf) == "-":
        _write(frame, sys.stdout.buffer)
        sys.stdout.flush()
    elif isinstance(path_or_buf, io.TextIOBase):
        path_or_buf.write(to_csv_bytes(frame).decode("utf-8"))
    elif isinstance(path_or_buf, (str, Path)):
        _write(frame, str(path_or_buf))
    else:
        _write(frame, path_or_buf)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The same CSV as bytes, for downloads."""
    buffer = io.BytesIO()
    _write(frame, buffer)
    return buffer.getvalue()


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Results as Parquet bytes, for downloads (types kept; no formula risk in a data file)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
