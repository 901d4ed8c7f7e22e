"""Bank of America credit card CSV: `Posted Date,Reference Number,Payee,Address,Amount`.

Purchases negative, payments and credits positive; no category.
"""
from __future__ import annotations

import pandas as pd

from backend.statements.frame import build
from backend.statements.reading import Table, keys
from backend.statements.values import US_DATES, iso_dates, parse_money

NAME = "bank_of_america"
ISSUER = "Bank of America"
HAS_HEADER = True


def detect(header: list[str]) -> bool:
    k = set(keys(header))
    return {"posted date", "payee", "amount"} <= k and bool(k & {"reference number", "address"})


def parse(table: Table, *, account: str, card_used: str) -> pd.DataFrame:
    return build(table, fmt=NAME, account=account, card_used=card_used,
                 timestamp=iso_dates(table.column("posted date"), US_DATES),
                 amount=-parse_money(table.column("amount")),
                 description=table.column("payee"))
