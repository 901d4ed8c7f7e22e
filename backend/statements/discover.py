"""Discover CSV: `Trans. Date,Post Date,Description,Amount,Category`.

Purchases positive, payments and credits negative; Category names fees, interest and rewards.
"""
from __future__ import annotations

import pandas as pd

from backend.statements.frame import build
from backend.statements.reading import Table, keys
from backend.statements.values import US_DATES, iso_dates, kinds_from, parse_money

NAME = "discover"
ISSUER = "Discover"
HAS_HEADER = True
_DATE = ("trans. date", "trans date", "transaction date")
_KINDS = {"fees": "fee", "fee": "fee", "interest": "interest", "interest charges": "interest",
          "awards and rebate credits": "credit", "cashback bonus": "credit"}


def detect(header: list[str]) -> bool:
    k = set(keys(header))
    return bool(k & set(_DATE)) and {"post date", "description", "amount"} <= k and "type" not in k


def parse(table: Table, *, account: str, card_used: str) -> pd.DataFrame:
    return build(table, fmt=NAME, account=account, card_used=card_used,
                 timestamp=iso_dates(table.column(*_DATE), US_DATES),
                 amount=parse_money(table.column("amount")),
                 description=table.column("description"),
                 category=table.column("category"),
                 kind=kinds_from(table.column("category"), _KINDS))
