"""Property tests: whatever text a Chase export holds, every row comes back once, in order."""
from __future__ import annotations

import csv

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.merchants import mask_digits
from backend.statements import read_statement

# Descriptor text with the characters that break naive CSV readers.
text = st.text(alphabet=st.sampled_from(list('AZaz09 ,"\'*#/\n\t\r-éÜ')), min_size=1, max_size=30)
row = st.tuples(text, st.integers(-10**7, 10**7).filter(lambda c: c != 0), st.integers(1, 28))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=25), quote_all=st.booleans())
def test_chase_rows_round_trip(rows, quote_all, tmp_path):
    if not quote_all:   # a bare CR outside quotes is a line break to every reader
        rows = [(d.replace("\r", " "), c, day) for d, c, day in rows]
    descs = [d for d, _, _ in rows]
    cents = [c for _, c, _ in rows]
    raw = pd.DataFrame({
        "Transaction Date": [f"01/{d:02d}/2026" for _, _, d in rows],
        "Post Date": "01/29/2026", "Description": descs, "Category": "Shopping",
        "Type": ["Sale" if c < 0 else "Return" for c in cents],
        "Amount": [f"{c / 100:.2f}" for c in cents], "Memo": "",
    })
    path = tmp_path / "chase.csv"
    raw.to_csv(path, index=False, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    f = read_statement(path).frame
    assert len(f) == len(rows)
    assert f["amount_usd"].round(2).tolist() == [-c / 100 for c in cents]
    assert f["timestamp"].tolist() == [f"2026-01-{d:02d}" for _, _, d in rows]
    expected = mask_digits(pd.Series(descs, dtype="str")).str.strip().tolist()
    assert f["description"].tolist() == expected
    assert (f["skip_reason"] != "").tolist() == [c > 0 for c in cents]
    # identical (date, amount, descriptor) rows get distinct ids; every id is unique
    assert f["transaction_id"].is_unique
