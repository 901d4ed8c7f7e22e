"""Realistic synthetic transactions: many accounts, a year of dates, a real MCC mix.

`python bench/generate.py 1000000 out.csv` writes a canonical CSV; `generate()` returns a frame.
"""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd

# (mcc, merchant, issuer-style category label, weight, typical amount)
MIX = [
    ("5411", "Whole Foods Market", "Groceries", 14, 85.0),
    ("5411", "Kroger", "Groceries", 10, 70.0),
    ("5300", "Costco Wholesale", "Shopping", 5, 180.0),
    ("5311", "Target", "Shopping", 5, 60.0),
    ("5310", "Walmart Supercenter", "Shopping", 5, 75.0),
    ("5812", "Chipotle", "Food & Drink", 10, 18.0),
    ("5814", "Starbucks", "Food & Drink", 8, 9.0),
    ("5813", "The Local Tavern", "Food & Drink", 3, 55.0),
    ("5541", "Shell Oil", "Gas", 8, 48.0),
    ("5542", "Chevron", "Gas", 4, 52.0),
    ("4121", "Uber", "Travel", 4, 24.0),
    ("3058", "Delta Air Lines", "Travel", 1, 420.0),
    ("7011", "Marriott Hotels", "Travel", 1, 310.0),
    ("3389", "Avis Rent A Car", "Travel", 1, 210.0),
    ("5912", "CVS Pharmacy", "Health & Wellness", 4, 25.0),
    ("5943", "Staples", "Shopping", 3, 95.0),
    ("4814", "Verizon Wireless", "Bills & Utilities", 2, 120.0),
    ("4899", "Comcast Xfinity", "Bills & Utilities", 1, 140.0),
    ("5815", "Netflix", "Entertainment", 2, 15.5),
    ("7311", "Google Ads", "Professional Services", 2, 400.0),
    ("4215", "UPS Store", "Shipping", 1, 35.0),
    ("5200", "The Home Depot", "Home", 3, 130.0),
    ("7997", "Planet Fitness", "Health & Wellness", 1, 25.0),
    ("5999", "Etsy", "Shopping", 2, 40.0),
    ("5942", "Amazon Marketplace", "Shopping", 6, 45.0),
    ("7372", "Adobe Creative Cloud", "Shopping", 1, 60.0),
]


def generate(n_rows: int, n_accounts: int | None = None, seed: int = 7, year: int = 2025,
             card_used: str | None = None) -> pd.DataFrame:
    """A canonical frame of `n_rows` purchases (about 1% refunds) spread over a year."""
    rng = np.random.default_rng(seed)
    n_accounts = n_accounts or max(1, n_rows // 400)
    weights = np.array([m[3] for m in MIX], dtype=float)
    pick = rng.choice(len(MIX), size=n_rows, p=weights / weights.sum())
    typical = np.array([m[4] for m in MIX])[pick]
    amount = np.round(rng.lognormal(np.log(typical), 0.6), 2)
    amount = np.where(rng.random(n_rows) < 0.01, -amount, amount)   # refunds and credits
    start = np.datetime64(f"{year}-01-01T00:00:00")
    seconds = rng.integers(0, 365 * 86400, size=n_rows)
    stamps = (start + seconds.astype("timedelta64[s]")).astype(str)
    frame = pd.DataFrame({
        "transaction_id": np.char.add("txn_", np.arange(n_rows).astype(str)),
        "user_id": np.char.add("acct_", rng.integers(0, n_accounts, size=n_rows).astype(str)),
        "merchant": np.array([m[1] for m in MIX], dtype=object)[pick],
        "category": np.array([m[2] for m in MIX], dtype=object)[pick],
        "amount_usd": amount,
        "mcc": np.array([m[0] for m in MIX], dtype=object)[pick],
        "timestamp": np.char.add(stamps, "Z"),
    })
    if card_used:
        frame["card_used"] = card_used
    return frame


if __name__ == "__main__":
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    out = sys.argv[2] if len(sys.argv) > 2 else "-"
    generate(rows).to_csv(sys.stdout if out == "-" else out, index=False)
