"""Merchant-name categorization: accuracy on the labeled eval set, and speed on 1,000,000 rows.

    python bench/bench_categorize.py [--rows 1000000]

Runs tests/data/descriptors_eval.csv through backend.merchants.normalize and
backend.categories.categorize(frame, merchant_lookup=backend.merchants.lookup) with no MCC and
no issuer label, as for a statement that has neither. Saved corrections are not used (a fresh
empty REWARDPILOT_HOME), so the figures measure the dictionary, fuzzy matching and keywords.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend import merchants  # noqa: E402
from backend.categories import categorize  # noqa: E402

EVAL_FILE = ROOT / "tests" / "data" / "descriptors_eval.csv"


def read_eval(path: Path = EVAL_FILE) -> pd.DataFrame:
    return pd.read_csv(path, dtype="string", keep_default_na=False)


def predict(descriptors: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Category and evidence for raw descriptors, through the real pipeline."""
    frame = pd.DataFrame({"merchant": merchants.normalize(descriptors), "category": "", "mcc": ""})
    return categorize(frame, merchant_lookup=merchants.lookup)


def report_accuracy(data: pd.DataFrame) -> float:
    pred, evidence = predict(data["descriptor"])
    truth = data["category"]
    ok = (pred == truth).to_numpy()
    accuracy = ok.mean()
    print(f"eval rows: {len(data)}   accuracy: {accuracy:.1%} ({ok.sum()}/{len(data)})")
    print("evidence:", ", ".join(f"{k} {v}" for k, v in evidence.value_counts().items()))

    print(f"\n{'category':<22}{'n':>5}{'precision':>11}{'recall':>8}")
    for cat in sorted(set(truth) | set(pred)):
        t, p = truth == cat, pred == cat
        tp = int((t & p).sum())
        precision = tp / p.sum() if p.sum() else float("nan")
        recall = tp / t.sum() if t.sum() else float("nan")
        print(f"{cat:<22}{int(t.sum()):>5}{precision:>11.2f}{recall:>8.2f}")

    wrong = data.assign(predicted=pred, evidence=evidence)[~ok]
    if len(wrong):
        print("\nconfusion pairs (true -> predicted: count, e.g.):")
        pairs = wrong.groupby(["category", "predicted"]).agg(
            n=("descriptor", "size"), example=("descriptor", "first")).sort_values("n", ascending=False)
        for (true_cat, pred_cat), row in pairs.iterrows():
            print(f"  {true_cat} -> {pred_cat}: {row.n}   e.g. {merchants.mask_text(row.example)!r}")
    clubs = truth.isin(["wholesale_club", "superstore"])
    as_grocery = int((clubs & (pred == "grocery")).sum())
    print(f"\nwholesale club / superstore rows counted as grocery: {as_grocery} (must be 0)")
    return accuracy


def _timed(label: str, fn, rows: int):
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    print(f"  {label:<34}{seconds:7.2f} s   {rows / seconds:>12,.0f} rows/s")
    return out, seconds


def report_speed(data: pd.DataFrame, rows: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    descriptors = data["descriptor"].to_numpy(dtype=object)
    cases = {
        "eval descriptors as they are": pd.Series(descriptors[rng.integers(0, len(descriptors), rows)],
                                                  dtype="string"),
    }
    # Store numbers and reference codes make most real descriptors distinct: add a varying
    # number to each row (about 50,000 distinct strings).
    varied = cases["eval descriptors as they are"] + " #" + pd.Series(
        rng.integers(0, 50_000 // len(descriptors) + 1, rows).astype(str), dtype="string")
    cases["with varying store numbers"] = varied
    for title, series in cases.items():
        for cached in (merchants.normalize_text, merchants._normalize_pass, merchants.dictionary_match):
            cached.cache_clear()
        print(f"\n{rows:,} rows, {series.nunique():,} distinct descriptors ({title}), cold caches:")
        names, t1 = _timed("normalize", lambda: merchants.normalize(series), rows)
        (cats, _), t2 = _timed("lookup", lambda: merchants.lookup(names), rows)
        print(f"  {'normalize + lookup':<34}{t1 + t2:7.2f} s   {rows / (t1 + t2):>12,.0f} rows/s"
              f"   ({cats.notna().mean():.1%} of rows named a category)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["REWARDPILOT_HOME"] = home      # no saved corrections
        data = read_eval()
        merchants.dictionary()                     # load once, outside the timings
        print(f"dictionary: {len(merchants.dictionary())} merchants, "
              f"{len(merchants.dictionary().categories)} aliases")
        report_accuracy(data)
        report_speed(data, args.rows)


if __name__ == "__main__":
    main()
