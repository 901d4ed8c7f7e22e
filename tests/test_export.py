"""Spreadsheet-safe CSV."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from backend.export import neutralize, to_csv, to_csv_bytes


def test_formula_cells_are_neutralized_and_numbers_kept():
    frame = pd.DataFrame({"text": ["=1+1", "+SUM(A1)", "-cmd", "@x", "\tTAB", "plain", None],
                          "amount": [-2.5, 1.0, np.nan, 3.0, 4.0, 5.0, 6.0]})
    back = pd.read_csv(io.BytesIO(to_csv_bytes(frame)), dtype={"text": str}, keep_default_na=False)
    assert back["text"].tolist() == ["'=1+1", "'+SUM(A1)", "'-cmd", "'@x", "'\tTAB", "plain", ""]
    assert back["amount"].iloc[0] == "-2.5"    # a negative number stays a number (no apostrophe)
    assert neutralize(frame)["text"].iloc[0] == "'=1+1"


def test_to_csv_accepts_paths_and_text_buffers(tmp_path):
    frame = pd.DataFrame({"a": ["x", "=y"], "b": [1, 2]})
    to_csv(frame, tmp_path / "out.csv")
    buffer = io.StringIO()
    to_csv(frame, buffer)
    assert (tmp_path / "out.csv").read_text() == buffer.getvalue()
    assert "'=y" in buffer.getvalue()


def test_parquet_bytes_round_trip():
    from backend.export import to_parquet_bytes

    frame = pd.DataFrame({"a": ["=x", "y"], "b": [1.5, np.nan]})
    back = pd.read_parquet(io.BytesIO(to_parquet_bytes(frame)))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
