"""A bundled sample statement, so the dashboard can be tried without a file of one's own.

`sample_statement.csv` is in the canonical format: 303 rows over three accounts (ops, sales,
eng) from January to June 2026, with the card that paid, a dozen rows without an MCC, a refund,
a card payment and one row whose amount is not a number.
"""
from __future__ import annotations

from pathlib import Path

SAMPLE_STATEMENT = Path(__file__).parent / "sample_statement.csv"


def sample_statement_bytes() -> bytes:
    return SAMPLE_STATEMENT.read_bytes()
