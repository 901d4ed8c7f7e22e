"""Wells Fargo CSV: no header, five fields `"01/05/2026","-21.77","*","","GROCERY SEATTLE WA"`
(date, amount, flag, check number, description). Purchases negative.

Detected by shape: five fields, the first a M/D/YYYY date, the second an amount.
"""
from __future__ import annotations

import re

import pandas as pd

from backend.statements.frame import build
from backend.statements.reading import Table
from backend.statements.values import US_DATES, iso_dates, parse_money

NAME = "wells_fargo"
ISSUER = "Wells Fargo"
HAS_HEADER = False
_DATE = re.compile(r"^\s*\d{1,2}/\d{1,2}/\d{2,4}\s*$")
_AMOUNT = re.compile(r"^\s*[-+]?\$?\(?[\d,]*\.?\d+\)?\s*$")


def detect(header: list[str]) -> bool:
    return len(header) == 5 and bool(_DATE.match(header[0])) and bool(_AMOUNT.match(header[1]))


def parse(table: Table, *, account: str, card_used: str) -> pd.DataFrame:
    cells = table.data
    return build(table, fmt=NAME, account=account, card_used=card_used,
                 timestamp=iso_dates(cells[0], US_DATES),
                 amount=-parse_money(cells[1]),
                 description=cells[4])
