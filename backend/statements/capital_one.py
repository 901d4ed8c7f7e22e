"""Capital One CSV: `Transaction Date,Posted Date,Card No.,Description,Category,Debit,Credit`.

Purchases sit in Debit and payments/refunds in Credit, both written positive.
"""
from __future__ import annotations

import pandas as pd

from backend.statements.frame import build
from backend.statements.reading import Table, keys
from backend.statements.values import ISO_DATES, iso_dates, kinds_from, parse_money

NAME = "capital_one"
ISSUER = "Capital One"
HAS_HEADER = True
_KINDS = {"fee/interest charge": "fee", "fee": "fee", "fees": "fee", "interest": "interest",
          "interest charge": "interest"}


def detect(header: list[str]) -> bool:
    k = set(keys(header))
    return {"transaction date", "posted date", "description", "debit", "credit"} <= k


def debit_minus_credit(debit: pd.Series, credit: pd.Series) -> pd.Series:
    """Purchase-positive amount from two columns, whatever sign each was written with.

    A blank cell counts as 0; a row with neither (or an unreadable one) stays NaN.
    """
    d, c = parse_money(debit), parse_money(credit)
    d_blank = debit.str.strip() == ""
    c_blank = credit.str.strip() == ""
    amount = d.abs().where(~d_blank, 0.0) - c.abs().where(~c_blank, 0.0)
    unreadable = (d.isna() & ~d_blank) | (c.isna() & ~c_blank) | (d_blank & c_blank)
    return amount.where(~unreadable)


def parse(table: Table, *, account: str, card_used: str) -> pd.DataFrame:
    return build(table, fmt=NAME, account=account, card_used=card_used,
                 timestamp=iso_dates(table.column("transaction date"), ISO_DATES),
                 amount=debit_minus_credit(table.column("debit"), table.column("credit")),
                 description=table.column("description"),
                 category=table.column("category"),
                 kind=kinds_from(table.column("category"), _KINDS))
