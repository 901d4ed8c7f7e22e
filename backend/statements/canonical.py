"""The canonical (seed) format: `transaction_id,user_id,merchant,category,amount_usd,mcc,timestamp`
plus optional `card_used` and `description`; other columns are ignored.

Values pass through as written (the row checks report a bad amount or date with its text),
except `merchant`, which is masked and normalized like every importer's (a blank one is named
from `description`). The file's own user_id and card_used win; the upload's account and card
fill blanks.
"""
from __future__ import annotations

import pandas as pd

from backend.statements.frame import COLUMNS, masked, merchant_names
from backend.statements.reading import StatementError, Table, keys
from backend.transactions import REQUIRED_COLUMNS

NAME = "canonical"
ISSUER = ""
HAS_HEADER = True


def detect(header: list[str]) -> bool:
    """Looks like the seed format (even with some required columns missing, to say which)."""
    k = set(keys(header))
    return "transaction_id" in k or "amount_usd" in k or len(k & set(REQUIRED_COLUMNS)) >= 4


def parse(table: Table, *, account: str, card_used: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in table.data]
    if missing:
        raise StatementError(
            f"{table.name}: read as the canonical format, but the header lacks the required "
            f"column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)})")
    cells = table.data
    index = cells.index

    def text(name: str, blank_as: str = "") -> pd.Series:
        col = table.column(name).astype("str")
        return col.where(col.str.strip() != "", blank_as) if blank_as else col

    description = masked(text("description"))
    # A blank merchant is named from the descriptor when there is one.
    merchant = merchant_names(masked(text("merchant")).where(lambda m: m != "", description))
    amount = cells["amount_usd"].astype("str")
    shifted = (table.extra.str.strip() != "").to_numpy()
    if shifted.any():   # more fields than the header: the cells are not where the header says
        amount[shifted] = "(row has extra fields)"
    frame = pd.DataFrame({
        "transaction_id": cells["transaction_id"].astype("str").str.strip(),
        "user_id": text("user_id", account),
        "merchant": merchant,
        "category": cells["category"].astype("str"),
        "amount_usd": amount,
        "mcc": cells["mcc"].astype("str").str.strip(),
        "timestamp": cells["timestamp"].astype("str").str.strip(),
        "card_used": text("card_used", card_used),
        "description": description,
        "source_file": pd.Series(table.name, index=index, dtype="str"),
        "source_row": table.rows,
        "skip_reason": pd.Series("", index=index, dtype="str"),
    })
    return frame[COLUMNS]
