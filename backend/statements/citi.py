"""Citi CSV: `Status,Date,Description,Debit,Credit` (some add `Member Name`).

Purchases in Debit; credits are written as negatives in Credit.
"""
from __future__ import annotations

import pandas as pd

from backend.statements.capital_one import debit_minus_credit
from backend.statements.frame import build
from backend.statements.reading import Table, keys
from backend.statements.values import US_DATES, iso_dates

NAME = "citi"
ISSUER = "Citi"
HAS_HEADER = True


def detect(header: list[str]) -> bool:
    return {"status", "date", "description", "debit", "credit"} <= set(keys(header))


def parse(table: Table, *, account: str, card_used: str) -> pd.DataFrame:
    return build(table, fmt=NAME, account=account, card_used=card_used,
                 timestamp=iso_dates(table.column("date"), US_DATES),
                 amount=debit_minus_credit(table.column("debit"), table.column("credit")),
                 description=table.column("description"))
