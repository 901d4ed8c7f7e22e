"""The user's merchant corrections: a real CSV file under REWARDPILOT_HOME, used by lookup."""
from __future__ import annotations

import csv

import pandas as pd
import pytest

from backend import corrections
from backend.corrections import (corrections_path, load_corrections, remove_correction,
                                 save_correction)
from backend.merchants import lookup


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "rp-home"
    monkeypatch.setenv("REWARDPILOT_HOME", str(path))
    return path


def _rows(path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_home_defaults_to_dot_rewardpilot(monkeypatch) -> None:
    monkeypatch.delenv("REWARDPILOT_HOME", raising=False)
    assert str(corrections_path()) == ".rewardpilot/corrections.csv"


def test_save_writes_a_normalized_masked_row_to_the_file(home) -> None:
    saved = save_correction("SQ *GREEN LEAF LANDSCAPING 4111 1111 1111 1111 SEATTLE WA", "home_improvement")
    assert saved.merchant == "GREEN LEAF LANDSCAPING" and saved.category == "home_improvement"
    path = home / "corrections.csv"
    text = path.read_text(encoding="utf-8")
    assert "1111" not in text
    rows = _rows(path)
    assert [(r["merchant"], r["category"]) for r in rows] == [("GREEN LEAF LANDSCAPING", "home_improvement")]
    assert rows[0]["saved_at"].startswith("20")
    assert load_corrections() == {"GREEN LEAF LANDSCAPING": "home_improvement"}


def test_saving_again_replaces_the_merchant_and_keeps_others(home) -> None:
    save_correction("TST* BLUE MOON 0042 NEW YORK NY", "dining")
    save_correction("ACME CONSULTING", "other")
    save_correction("BLUE MOON", "entertainment")
    assert load_corrections() == {"BLUE MOON": "entertainment", "ACME CONSULTING": "other"}
    assert len(_rows(home / "corrections.csv")) == 2


@pytest.mark.parametrize("category", ["restaurants", "", "Dining"])
def test_save_refuses_unknown_categories(home, category) -> None:
    with pytest.raises(ValueError, match="unknown category"):
        save_correction("BLUE MOON", category)
    assert not (home / "corrections.csv").exists()


def test_save_refuses_a_merchant_with_no_name(home) -> None:
    with pytest.raises(ValueError, match="no name"):
        save_correction("  #0042 ", "dining")


def test_bad_rows_are_reported_and_good_rows_kept(home) -> None:
    home.mkdir()
    (home / "corrections.csv").write_text(
        "merchant,category,saved_at\n"
        "BLUE MOON,dining,2026-01-01T00:00:00+00:00\n"
        "ACME,not_a_category,2026-01-01T00:00:00+00:00\n"
        ",dining,\n", encoding="utf-8")
    with pytest.warns(UserWarning) as caught:
        found = load_corrections()
    assert found == {"BLUE MOON": "dining"}
    messages = [str(w.message) for w in caught]
    assert any("row 3" in m and "column category" in m and "corrections.csv" in m for m in messages)
    assert any("row 4" in m and "column merchant" in m for m in messages)


def test_a_file_without_the_columns_is_reported(home) -> None:
    home.mkdir()
    (home / "corrections.csv").write_text("name,cat\nBLUE MOON,dining\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="header lacks"):
        assert load_corrections() == {}


def test_missing_file_means_no_corrections(home) -> None:
    assert load_corrections() == {}


def test_correction_is_applied_by_the_next_lookup(home) -> None:
    descriptors = pd.Series(["SQ *GREEN LEAF LANDSCAPING", "GREEN LEAF LANDSCAPING 0012 SEATTLE WA",
                             "STARBUCKS STORE 12345"])
    cat, ev = lookup(descriptors)
    assert pd.isna(cat.iloc[0]) and pd.isna(cat.iloc[1]) and cat.iloc[2] == "dining"

    save_correction("Green Leaf Landscaping", "home_improvement")
    save_correction("STARBUCKS", "other")                      # a correction beats the dictionary
    cat, ev = lookup(descriptors)
    assert cat.tolist() == ["home_improvement", "home_improvement", "other"]
    assert ev.tolist() == ["correction"] * 3

    assert remove_correction("STARBUCKS") and not remove_correction("STARBUCKS")
    cat, ev = lookup(descriptors)
    assert (cat.iloc[2], ev.iloc[2]) == ("dining", "dictionary")


def test_lookup_reads_the_file_once_per_call(home, monkeypatch) -> None:
    save_correction("BLUE MOON", "dining")
    calls: list[int] = []
    real = corrections.read_corrections

    def counting(path=None):
        calls.append(1)
        return real(path)

    monkeypatch.setattr(corrections, "read_corrections", counting)
    cat, ev = lookup(pd.Series(["TST* BLUE MOON 0042", "BLUE MOON"] * 5000 + ["OTHER PLACE"]))
    assert len(calls) == 1
    assert (cat.iloc[:10000] == "dining").all() and (ev.iloc[:10000] == "correction").all()
