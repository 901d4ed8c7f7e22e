"""Import throughput: 1,000,000 Chase-format rows -> canonical frame -> categories.

Prints rows per second for `read_statement` (decode, parse, mask, normalize, ids; then again
with merchant names cached, as in a long-running server) and for categorizing the result
(`engine.prepare_frame` with the merchant dictionary when they exist, `categories.categorize`
otherwise). The import should keep pace with the engine.

    python bench/bench_import.py [--rows 1000000] [--keep FILE]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.statements import read_statement  # noqa: E402

# (descriptor template, Chase category). `{n}` is a store number, `{city}` a city and state.
MERCHANTS = [
    ("SQ *BLUE BOTTLE COFFEE", "Food & Drink"), ("TST* JOES PIZZA {n}", "Food & Drink"),
    ("STARBUCKS STORE {n} {city}", "Food & Drink"), ("CHIPOTLE {n} {city}", "Food & Drink"),
    ("DOORDASH*SWEETGREEN", "Food & Drink"), ("UBER   *EATS PENDING", "Food & Drink"),
    ("SHELL OIL {n} {city}", "Gas"), ("CHEVRON {n} {city}", "Gas"), ("EXXONMOBIL {n}", "Gas"),
    ("WHOLEFDS MKT {n} {city}", "Groceries"), ("TRADER JOE S #{n} {city}", "Groceries"),
    ("SAFEWAY #{n} {city}", "Groceries"), ("COSTCO WHSE #{n} {city}", "Shopping"),
    ("AMZN Mktp US*{code}", "Shopping"), ("Amazon.com*{code}", "Shopping"),
    ("PAYPAL *GITHUB {card}", "Shopping"), ("TARGET        000{n} {city}", "Shopping"),
    ("UNITED      {ticket}", "Travel"), ("DELTA AIR LINES ATLANTA", "Travel"),
    ("MARRIOTT {city}", "Travel"), ("HILTON GARDEN INN {city}", "Travel"),
    ("UBER   *TRIP HELP.UBER.COM CA", "Travel"), ("LYFT   *RIDE SUN 8AM", "Travel"),
    ("HERTZ RENT-A-CAR {city}", "Travel"), ("STAPLES {n} {city}", "Shopping"),
    ("OFFICE DEPOT #{n}", "Shopping"), ("VERIZON WRLS {code}", "Bills & Utilities"),
    ("COMCAST CABLE COMM", "Bills & Utilities"), ("NETFLIX.COM", "Entertainment"),
    ("SPOTIFY USA", "Entertainment"), ("GOOGLE *ADS{code}", "Shopping"),
    ("FACEBK *{code}", "Shopping"), ("ADOBE  *CREATIVE CLOUD", "Shopping"),
    ("CVS/PHARMACY #{n} {city}", "Health & Wellness"), ("WALGREENS #{n}", "Health & Wellness"),
    ("THE HOME DEPOT #{n} {city}", "Home"), ("LOWES #{n}* {city}", "Home"),
    ("FEDEX OFFIC{n}", "Shopping"), ("USPS PO {n} {city}", "Shopping"),
]
CITIES = ["SEATTLE WA", "SAN JOSE CA", "AUSTIN TX", "NEW YORK NY", "CHICAGO IL", "DENVER CO",
          "BOSTON MA", "MIAMI FL", "PORTLAND OR", "ATLANTA GA"]


def descriptor_pool(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`size` distinct-ish descriptors and their categories (a business sees thousands)."""
    descs, cats = [], []
    for i in rng.integers(0, len(MERCHANTS), size):
        template, category = MERCHANTS[i]
        descs.append(template.format(n=f"{rng.integers(1, 3000):04d}", city=CITIES[rng.integers(len(CITIES))],
                                     code=rng.integers(10**5, 10**6), ticket=rng.integers(10**12, 10**13),
                                     card="4111111111111111"))
        cats.append(category)
    return np.asarray(descs, dtype=object), np.asarray(cats, dtype=object)


def chase_rows(n: int, seed: int = 7, pool: int = 50_000) -> pd.DataFrame:
    """n realistic Chase rows drawn from a pool of descriptors, dates over one year."""
    rng = np.random.default_rng(seed)
    descs, cats = descriptor_pool(pool, rng)
    pick = rng.integers(0, pool, n)
    desc, category = descs[pick], cats[pick]
    days = pd.to_datetime("2025-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    amount = -np.round(rng.lognormal(3.2, 1.0, n), 2)
    kind = np.full(n, "Sale", dtype=object)
    payment = rng.random(n) < 0.01
    refund = (rng.random(n) < 0.01) & ~payment
    kind[payment], kind[refund] = "Payment", "Return"
    desc[payment] = "AUTOMATIC PAYMENT - THANK YOU"
    category[payment] = ""
    amount[payment | refund] = -amount[payment | refund]
    return pd.DataFrame({
        "Transaction Date": days.strftime("%m/%d/%Y"),
        "Post Date": (days + pd.Timedelta(days=1)).strftime("%m/%d/%Y"),
        "Description": desc, "Category": category, "Type": kind,
        "Amount": np.char.mod("%.2f", amount), "Memo": "",
    })


def categorizer():
    """(label, function) for the categorization step: engine.prepare_frame (row checks and
    categories) with the merchant dictionary when they exist, categories.categorize otherwise."""
    from backend import categories, merchants
    lookup = getattr(merchants, "lookup", None)
    try:
        from backend.engine import prepare_frame
        probe = pd.DataFrame({"transaction_id": ["t"], "user_id": ["u"], "merchant": ["m"], "category": [""],
                              "amount_usd": [1.0], "mcc": [""], "timestamp": ["2025-01-01"]})
        prepare_frame(probe, merchant_lookup=lookup)
    except (ImportError, NotImplementedError):
        return "categories.categorize", lambda f: categories.categorize(f, merchant_lookup=lookup)
    label = "engine.prepare_frame" + (" + merchants.lookup" if lookup else " (no merchants.lookup yet)")
    return label, lambda f: prepare_frame(f, merchant_lookup=lookup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the generated CSV here and keep it")
    args = parser.parse_args()

    t = time.perf_counter()
    rows = chase_rows(args.rows)
    path = args.keep or Path(tempfile.mkstemp(suffix="_chase.csv")[1])
    rows.to_csv(path, index=False)
    size_mb = path.stat().st_size / 1e6
    print(f"generated {args.rows:,} Chase rows ({size_mb:.0f} MB) in {time.perf_counter() - t:.1f} s")
    try:
        t = time.perf_counter()
        st = read_statement(path, account="bench", card_used="chase_freedom_flex")
        s = time.perf_counter() - t
        assert len(st.frame) == args.rows, (len(st.frame), args.rows)
        print(f"import     {args.rows / s:>12,.0f} rows/s  ({s:.2f} s, format {st.format}, "
              f"{(st.frame['skip_reason'] != '').sum():,} skipped, "
              f"{st.frame['description'].nunique():,} distinct descriptors)")
        t = time.perf_counter()
        read_statement(path, account="bench", card_used="chase_freedom_flex")
        s = time.perf_counter() - t
        print(f"re-import  {args.rows / s:>12,.0f} rows/s  ({s:.2f} s, merchant names already cached)")
        label, fn = categorizer()
        t = time.perf_counter()
        fn(st.frame)
        s = time.perf_counter() - t
        print(f"categorize {args.rows / s:>12,.0f} rows/s  ({s:.2f} s, {label})")
    finally:
        if not args.keep:
            os.unlink(path)


if __name__ == "__main__":
    main()
