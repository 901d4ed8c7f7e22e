"""Card statements in, canonical transaction frame out.

`read_statement(file)` decodes the file, detects its format from the header (or a headerless
shape), and runs that format's importer. Each format is one module with `detect(header)` and
`parse(table, account=, card_used=)`; `FORMATS` lists them in detection order. A file no module
recognises can be read with a `ColumnMapping`.

    st = read_statement("Chase1234_Activity.csv", account="acme", card_used="chase_freedom_flex")
    st.format, st.rows_read, st.frame        # "chase", 42, canonical frame with 42 rows
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

import numpy as np
import pandas as pd

from backend.statements import (amex, bank_of_america, canonical, capital_one, chase, citi, discover,
                                mapping as mapping_module, us_bank, wells_fargo)
from backend.statements.frame import COLUMNS
from backend.statements.mapping import ColumnMapping, load_mapping, save_mapping
from backend.statements.reading import (RawText, Source, StatementError, Table, UnknownFormatError, open_text,
                                        read_table)

__all__ = ["read_statement", "detect", "suggest_card", "Statement", "StatementError", "UnknownFormatError", "CardHint",
           "ColumnMapping", "load_mapping", "save_mapping", "FORMATS", "KNOWN_FORMATS", "COLUMNS"]

# Detection order: the first whose detect() accepts the header wins. Headerless shapes last.
FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (
    canonical, chase, discover, amex, capital_one, citi, bank_of_america, us_bank, wells_fargo)}
KNOWN_FORMATS: tuple[str, ...] = tuple(FORMATS)
ISSUES_COLUMNS = ["file", "row", "column", "message"]


@dataclass
class Statement:
    """One imported file: what it was read as, and its canonical frame (one row per data row)."""
    name: str
    format: str
    issuer: str
    frame: pd.DataFrame
    rows_read: int
    encoding: str = "utf-8"
    # Rows the importer could not read cleanly (file, row, column, message). They are still in
    # `frame` (with an unreadable amount, so the row checks mark them `error`); this says why.
    issues: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ISSUES_COLUMNS))


@dataclass(frozen=True)
class CardHint:
    """What the upload page can pre-fill for a detected format."""
    issuer: str
    card_ids: tuple[str, ...]        # catalog cards of that issuer (may be empty)


def detect_header(first: list[str]) -> str | None:
    """The format whose detect() accepts this first record, or None."""
    for name, module in FORMATS.items():
        if module.detect(first):
            return name
    return None


def detect(source: Source, name: str | None = None) -> str | None:
    """The format name of a statement file (one of KNOWN_FORMATS), or None when unknown."""
    return detect_header(open_text(source, name).first)


def read_statement(source: Source, name: str | None = None, *, account: str = "default",
                   card_used: str = "", mapping: ColumnMapping | None = None) -> Statement:
    """Read one statement file (path, bytes, or uploaded file object) into a Statement.

    With `mapping`, the file is read through it whatever its header. Raises StatementError when
    the file is unreadable, empty, of an unknown format, or lacks required columns.
    """
    raw = open_text(source, name)
    if mapping is not None:
        table = read_table(raw, has_header=True)
        frame = mapping_module.parse(table, mapping, account=account, card_used=card_used)
        fmt, issuer = mapping_module.NAME, mapping.issuer
    else:
        fmt = detect_header(raw.first)
        if fmt is None:
            raise UnknownFormatError(unknown_format_message(raw), raw.first)
        module = FORMATS[fmt]
        table = read_table(raw, has_header=module.HAS_HEADER)
        frame = module.parse(table, account=account, card_used=card_used)
        issuer = module.ISSUER
    if len(frame) == 0:
        raise StatementError(f"{raw.name}: no transactions: the file has a header "
                             f"({fmt} format) but no rows under it")
    return Statement(name=raw.name, format=fmt, issuer=issuer, frame=frame, rows_read=len(table),
                     encoding=raw.encoding, issues=row_issues(table, frame))


def unknown_format_message(raw: RawText) -> str:
    header = ",".join(raw.first)
    shown = header if len(header) <= 120 else header[:117] + "..."
    return (f"{raw.name}: unknown statement format (first row: {shown}). Known formats: "
            f"{', '.join(KNOWN_FORMATS)}. To read it anyway, give a column mapping naming its date, "
            f"description and amount (or debit/credit) columns: fill in 'Map columns' on the Upload "
            f"page, or pass --mapping FILE (JSON or TOML) on the command line.")


def row_issues(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with more fields than the header, or (issuer formats) an unreadable amount."""
    shifted = (table.extra.str.strip() != "").to_numpy(dtype=bool)
    amount = frame["amount_usd"]
    unreadable = amount.isna().to_numpy() if amount.dtype.kind == "f" else np.zeros(len(frame), bool)
    bad = np.flatnonzero(shifted | unreadable)
    return pd.DataFrame({
        "file": table.name,
        "row": table.rows[bad],
        "column": np.where(shifted[bad], "", "amount"),
        "message": np.where(shifted[bad], "the row has more fields than the header (an unquoted comma?)",
                            "the amount is blank or not a number"),
    }, columns=ISSUES_COLUMNS)


def suggest_card(fmt: str, catalog=None) -> CardHint:
    """Issuer and catalog cards to pre-select for a detected format (chase -> Chase cards)."""
    if fmt not in FORMATS:
        return CardHint(issuer="", card_ids=())
    issuer = FORMATS[fmt].ISSUER
    if not issuer:
        return CardHint(issuer="", card_ids=())
    if catalog is None:
        from backend.catalog import load_catalog
        catalog = load_catalog()
    wanted = _issuer_key(issuer)
    cards = tuple(c.id for c in catalog.cards.values() if _issuer_key(c.issuer) == wanted)
    return CardHint(issuer=issuer, card_ids=cards)


def _issuer_key(issuer: str) -> str:
    """`U.S. Bank` and `US Bank` are the same issuer."""
    return "".join(ch for ch in issuer.lower() if ch.isalnum())
