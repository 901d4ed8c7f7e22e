"""US Bank CSV: `"Date","Transaction","Name","Memo","Amount"`.

DEBIT rows are negative. The Memo often carries the merchant category code as a
zero-padded field, e.g. `Download from usbank.com.; 05814; ; ; ;` -> MCC 5814.
"""
from __future__ import annotations

import pandas as pd

from backend.statements.frame import build
from backend.statements.reading import Table, keys
from backend.statements.values import ISO_DATES, by_unique, iso_dates, parse_money

NAME = "us_bank"
ISSUER = "U.S. Bank"
HAS_HEADER = True


def detect(header: list[str]) -> bool:
    return {"date", "transaction", "name", "memo", "amount"} <= set(keys(header))


def mcc_from_memo(memo: pd.Series) -> pd.Series:
    """The first `; 0dddd;` field of a memo as 4-digit MCC text ('' when there is none)."""
    def extract(u: pd.Series) -> pd.Series:
        code = u.str.extract(r";\s*(\d{4,5})\s*(?:;|$)", expand=False)
        num = pd.to_numeric(code, errors="coerce")
        num = num.where(num <= 9999)
        text = num.astype("Int64").astype("str").str.zfill(4)
        return text.where(num.notna(), "").astype("str")
    return by_unique(memo.astype("str"), extract)


def parse(table: Table, *, account: str, card_used: str) -> pd.DataFrame:
    return build(table, fmt=NAME, account=account, card_used=card_used,
                 timestamp=iso_dates(table.column("date"), ISO_DATES),
                 amount=-parse_money(table.column("amount")),
                 description=table.column("name"),
                 mcc=mcc_from_memo(table.column("memo")))
