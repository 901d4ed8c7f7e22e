"""American Express CSV: `Date,Description,Amount,Extended Details,Appears On Your Statement As,...`.

Older files add `Card Member,Account #`. Charges are positive, credits negative. Fields can
span lines (Extended Details) and files can start with blank rows: the reader handles both.
"""
from __future__ import annotations

import pandas as pd

from backend.statements.frame import build
from backend.statements.reading import Table, keys
from backend.statements.values import US_DATES, iso_dates, kinds_from, parse_money

NAME = "amex"
ISSUER = "American Express"
HAS_HEADER = True
_AMEX_ONLY = {"extended details", "appears on your statement as", "card member", "account #"}
_PREFIXES = {"fees & adjustments": "fee", "fees and adjustments": "fee", "interest": "interest"}


def detect(header: list[str]) -> bool:
    k = set(keys(header))
    return {"date", "description", "amount"} <= k and bool(k & _AMEX_ONLY)


def parse(table: Table, *, account: str, card_used: str) -> pd.DataFrame:
    return build(table, fmt=NAME, account=account, card_used=card_used,
                 timestamp=iso_dates(table.column("date"), US_DATES),
                 amount=parse_money(table.column("amount")),
                 description=table.column("description"),
                 category=table.column("category"),
                 kind=kinds_from(table.column("category"), {}, _PREFIXES))
