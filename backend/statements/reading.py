"""Turning an uploaded file into a table of text cells, the same way for every format.

Decoding (UTF-8 with or without BOM, else Windows-1252), finding the header past leading blank
rows, and reading every record with pyarrow's or pandas' CSV parser (quoted commas and newlines
included; no Python loop over rows).
Each data row keeps its `source_row`: its row number as a spreadsheet shows the file (blank
lines count, a quoted field that spans lines stays one row), so messages point where users look.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from pandas.errors import EmptyDataError, ParserError


class StatementError(ValueError):
    """A statement file that cannot be used at all; the message names the file and says why."""


class UnknownFormatError(StatementError):
    """No importer recognises the header: read it with a column mapping (`header` helps fill one)."""

    def __init__(self, message: str, header: list[str]):
        super().__init__(message)
        self.header = header


Source = str | Path | bytes | IO[bytes]

# Leading lines that hold nothing (Amex files can start with blank or comma-only rows).
_BLANK_LINES = re.compile(r'(?:[ \t,"]*(?:\r\n|\n|\r))*')
_BINARY_MAGIC = {b"PK\x03\x04": "an Excel/zip file", b"%PDF": "a PDF", b"\xd0\xcf\x11\xe0": "an old Excel file"}


@dataclass
class Table:
    """A statement's cells as text ('' when blank): one row per non-blank data record."""
    name: str
    header: list[str]                 # the header's fields as written ([] when the file has none)
    data: pd.DataFrame                # columns named by `key(header field)`, or 0..n-1 without a header
    rows: np.ndarray                  # source_row of each data row
    extra: pd.Series                  # fields beyond the header's width, joined ('' when none)
    encoding: str = "utf-8"

    def column(self, *names: str) -> pd.Series:
        """The first of `names` (header keys) present, else a blank column."""
        for n in names:
            if n in self.data:
                return self.data[n]
        return pd.Series("", index=self.data.index, dtype="str")

    def __len__(self) -> int:
        return len(self.data)


def key(name: str) -> str:
    """Header field -> lookup key: trimmed, lower case, single spaces (`Trans. Date` -> `trans. date`)."""
    return re.sub(r"\s+", " ", str(name).replace("\ufeff", "").strip().strip('"').strip()).lower()


def keys(header: list[str]) -> list[str]:
    return [key(h) for h in header]


def load_bytes(source: Source, name: str | None = None) -> tuple[bytes, str]:
    """The file's bytes and a display name (path, bytes, or an uploaded file object)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name or "upload.csv"
    if hasattr(source, "read"):
        data = source.getvalue() if hasattr(source, "getvalue") else source.read()
        return bytes(data), name or Path(getattr(source, "name", "upload.csv")).name
    path = Path(source)
    shown = name or path.name
    try:
        return path.read_bytes(), shown
    except OSError as exc:
        raise StatementError(f"{shown}: cannot read the file ({exc.strerror or exc})") from exc


def decode(data: bytes, name: str) -> tuple[str, str]:
    """Bytes -> (text, encoding). UTF-8 (BOM or not) first, then Windows-1252 (Excel on Windows)."""
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise StatementError(f"{name}: this is {what}, not a CSV file; export the statement as CSV")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:4096]:
        raise StatementError(f"{name}: this is a binary file, not a CSV file")
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise StatementError(f"{name}: unreadable text: neither UTF-8 nor Windows-1252 "
                             f"(byte {exc.start})") from exc


def split_header(text: str, name: str) -> tuple[list[str], int]:
    """The first non-blank record's fields and how many blank lines come before it."""
    lead = _BLANK_LINES.match(text)
    skipped = len(re.findall(r"\r\n|\n|\r", lead.group(0))) if lead else 0
    rest = text[lead.end() if lead else 0:]
    if not rest.strip(' \t\r\n,"'):
        raise StatementError(f"{name}: the file is empty")
    end = re.search(r"\r\n|\n|\r", rest)
    first = rest[: end.start()] if end else rest
    fields = pd.read_csv(io.StringIO(first), header=None, dtype=str, keep_default_na=False,
                         quoting=0, skip_blank_lines=False).iloc[0].tolist()
    return [str(f) for f in fields], skipped


def read_records(raw: "RawText", width: int, start: int) -> pd.DataFrame:
    """Records from number `start` (0-based) on as text: columns 0..width-1, then `width` holding
    any fields beyond the header ('' when none). The index is the record number - 1, blank
    lines counted, so `index + 1` is the row a spreadsheet shows.

    Fast path: pyarrow's multithreaded reader, which needs every row to have `width` fields.
    Otherwise pandas' C parser (ragged rows; a spare column catches one field too many), and
    for wider rows (an unquoted comma) the python parser, which keeps the extras joined.
    """
    text, name = raw.text, raw.name
    try:
        return _read_arrow(raw.utf8 or text.encode("utf-8"), width, start)
    except (pa.ArrowInvalid, ValueError):
        pass
    options = dict(header=None, names=list(range(width + 1)), dtype=str, keep_default_na=False,
                   na_filter=False, skip_blank_lines=False, index_col=False)
    try:
        return pd.read_csv(io.StringIO(text), **options).iloc[start:]
    except EmptyDataError as exc:
        raise StatementError(f"{name}: the file is empty") from exc
    except ParserError:
        pass

    def keep_extras(fields: list[str]) -> list[str]:
        return fields[:width] + [",".join(fields[width:])]

    try:
        return pd.read_csv(io.StringIO(text), engine="python", on_bad_lines=keep_extras, **options).iloc[start:]
    except ParserError as exc:
        raise StatementError(f"{name}: not a readable CSV file ({str(exc).strip()})") from exc


def _read_arrow(data: bytes, width: int, start: int) -> pd.DataFrame:
    names = [str(i) for i in range(width)]
    end = len(data)
    while end and data[end - 1] in b" \t\r\n":      # trailing blank lines: not records
        end -= 1
    table = pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(data)[:end]),
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=start),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names},
                                             strings_can_be_null=False, quoted_strings_can_be_null=False))
    index = pd.RangeIndex(start, start + table.num_rows)
    frame = pd.DataFrame({i: pd.Series(pd.array(table.column(c), dtype="str"), index=index)
                          for i, c in enumerate(names)})
    frame[width] = pd.Series("", index=index, dtype="str")
    return frame


@dataclass
class RawText:
    """A decoded statement and its first non-blank record (the header, or data if it has none)."""
    name: str
    text: str
    encoding: str
    first: list[str]
    skipped: int          # blank lines before `first`
    utf8: bytes = b""     # the text as UTF-8 without BOM (the input bytes themselves when UTF-8)


def open_text(source: Source, name: str | None = None) -> RawText:
    """Load and decode a statement and find its first record; StatementError if unusable."""
    data, shown = load_bytes(source, name)
    text, encoding = decode(data, shown)
    first, skipped = split_header(text, shown)
    utf8 = data.removeprefix(b"\xef\xbb\xbf") if encoding == "utf-8" else text.encode("utf-8")
    return RawText(name=shown, text=text, encoding=encoding, first=first, skipped=skipped, utf8=utf8)


def read_table(raw: RawText, has_header: bool = True) -> Table:
    """Every non-blank data record of the file as text cells, with its row number."""
    width = len(raw.first)
    body = read_records(raw, width, raw.skipped + 1 if has_header else raw.skipped)
    body = body[~_blank_rows(body)]
    rows = body.index.to_numpy(dtype=np.int64) + 1
    extra = body[width].astype("str").reset_index(drop=True)
    cells = body.iloc[:, :width].reset_index(drop=True)
    if has_header:
        header = [str(h) for h in raw.first]
        cells.columns = _unique(keys(header))
    else:
        header = []
    return Table(name=raw.name, header=header, data=cells, rows=rows, extra=extra, encoding=raw.encoding)


def _blank_rows(body: pd.DataFrame) -> np.ndarray:
    """Rows whose every field is empty (blank lines, `,,,,` rows); only the first column is
    checked on every row, the rest only where it is empty."""
    blank = (body[body.columns[0]].str.strip(' \t"') == "").to_numpy(dtype=bool, copy=True)
    for col in body.columns[1:]:
        idx = np.flatnonzero(blank)
        if not len(idx):
            break
        blank[idx] = (body[col].iloc[idx].str.strip(' \t"') == "").to_numpy()
    return blank


def _unique(names: list[str]) -> list[str]:
    """Header keys made unique (a repeated or blank header gets a numbered suffix)."""
    seen: dict[str, int] = {}
    out = []
    for i, n in enumerate(names):
        n = n or f"column {i + 1}"
        if n in seen:
            seen[n] += 1
            n = f"{n} ({seen[n]})"
        else:
            seen[n] = 1
        out.append(n)
    return out
