"""Chase credit card CSV: `Transaction Date,Post Date,Description,Category,Type,Amount,Memo`.

Purchases are negative; `Type` says Sale / Return / Payment / Fee / Adjustment.
"""
from __future__ import annotations

import pandas as pd

from backend.statements.frame import build
from backend.statements.reading import Table, keys
from backend.statements.values import US_DATES, iso_dates, kinds_from, parse_money

NAME = "chase"
ISSUER = "Chase"
HAS_HEADER = True
_DATE = ("transaction date", "trans date", "trans. date")
_KINDS = {"sale": "purchase", "return": "refund", "payment": "payment", "fee": "fee",
          "adjustment": "adjustment", "interest": "interest", "credit": "credit"}


def detect(header: list[str]) -> bool:
    k = set(keys(header))
    return bool(k & set(_DATE)) and {"post date", "description", "type", "amount"} <= k


def parse(table: Table, *, account: str, card_used: str) -> pd.DataFrame:
    return build(table, fmt=NAME, account=account, card_used=card_used,
                 timestamp=iso_dates(table.column(*_DATE), US_DATES),
                 amount=-parse_money(table.column("amount")),
                 description=table.column("description"),
                 category=table.column("category"),
                 kind=kinds_from(table.column("type"), _KINDS))
