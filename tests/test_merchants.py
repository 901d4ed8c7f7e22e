"""Merchant names from descriptors: masking, normalization, dictionary / fuzzy / correction lookup."""
from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from backend.merchants import mask_digits, normalize


def _norm(text: str) -> str:
    return normalize(pd.Series([text])).iloc[0]


# --- masking -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, masked", [
    ("4111111111111234", "****1234"),
    ("4111 1111 1111 1234", "****1234"),
    ("4111-1111-1111-1234", "****1234"),
    ("PAYMENT CARD 4111-1111-1111-9876 THANK YOU", "PAYMENT CARD ****9876 THANK YOU"),
    ("REF 12345678", "REF ****5678"),
    ("STORE 1234567 OPEN", "STORE 1234567 OPEN"),       # 7 digits: untouched
    ("TST* JOES PIZZA 0042", "TST* JOES PIZZA 0042"),
])
def test_mask_digits(raw: str, masked: str) -> None:
    assert mask_digits(pd.Series([raw])).iloc[0] == masked


def test_mask_digits_keeps_index_and_missing() -> None:
    s = pd.Series(["4111111111111234", None, "x"], index=[10, 20, 30])
    out = mask_digits(s)
    assert list(out.index) == [10, 20, 30]
    assert out.iloc[0] == "****1234" and pd.isna(out.iloc[1]) and out.iloc[2] == "x"


# --- normalization -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw, name", [
    # processor prefixes: the processor goes, the merchant stays
    ("SQ *BLUE BOTTLE COFFEE OAKLAND CA", "BLUE BOTTLE COFFEE"),
    ("SQ*BLUE BOTTLE COFFEE", "BLUE BOTTLE COFFEE"),
    ("TST* JOES PIZZA 0042 NEW YORK NY", "JOES PIZZA"),
    ("TST*JOES PIZZA", "JOES PIZZA"),
    ("PAYPAL *NETFLIX.COM", "NETFLIX"),
    ("PP*ETSY SELLER", "ETSY SELLER"),
    ("SP * GYMSHARK", "GYMSHARK"),
    ("SP AFFORDABLE LUXURY", "AFFORDABLE LUXURY"),
    ("SP PLUS PARKING", "SP PLUS PARKING"),            # SP+ the parking company is a merchant
    ("DD *DOORDASH CHIPOTLE", "CHIPOTLE"),
    ("DOORDASH*SWEETGREEN", "SWEETGREEN"),
    ("DD *DOORDASH DASHPASS", "DOORDASH"),
    ("UBER *EATS PENDING", "UBER EATS"),
    ("UBER   *TRIP HELP.UBER.COM CA", "UBER"),
    ("LYFT   *RIDE SUN 5PM", "LYFT"),
    ("AMZN Mktp US*2K3LL1234", "AMAZON"),
    ("AMAZON.COM*MK1AB2CD3 AMZN.COM/BILL WA", "AMAZON"),
    ("AMAZON WEB SERVICES AWS.AMAZON.CO WA", "AWS"),
    ("SQ *", "SQUARE"),
    # store numbers, reference numbers, phone numbers, cities and states
    ("COSTCO WHSE #0123 SEATTLE WA", "COSTCO WHSE"),
    ("TARGET 00012345", "TARGET"),
    ("TARGET T-1234 CHICAGO IL", "TARGET"),
    ("WM SUPERCENTER #1234 DALLAS TX", "WM SUPERCENTER"),
    ("MCDONALD'S F12345 DALLAS TX", "MCDONALDS"),
    ("SHELL OIL 57444213005 HOUSTON TX", "SHELL OIL"),
    ("DELTA AIR 0062345678901", "DELTA AIR"),
    ("AMERICAN AIR0012345678901", "AMERICAN AIR"),
    ("GOOGLE *ADS1234567890", "GOOGLE ADS"),
    ("NETFLIX.COM 866-579-7172 CA", "NETFLIX"),
    ("HULU 877-8244858 CA", "HULU"),
    ("STARBUCKS STORE 12345  SEATTLE      WA", "STARBUCKS"),
    ("BLUE BOTTLE COFFEE  SAN FRANCISC  CA", "BLUE BOTTLE COFFEE"),
    ("CAFE DU MONDE NEW ORLEANS LA", "CAFE DU MONDE"),
    ("THE HOME DEPOT #0123", "HOME DEPOT"),
    ("CVS/PHARMACY #01234", "CVS PHARMACY"),
    ("24 HOUR FITNESS USA 0123", "24 HOUR FITNESS"),
    ("76 - 0254321 LOS ANGELES CA", "76"),
    ("7-ELEVEN 12345", "7-ELEVEN"),
    ("BJ'S WHOLESALE #0045", "BJS WHOLESALE"),
    ("  joe's   cafe  ", "JOES CAFE"),
])
def test_normalize_examples(raw: str, name: str) -> None:
    assert _norm(raw) == name


def test_normalize_never_keeps_a_card_number() -> None:
    assert "1111" not in _norm("SQ *JOES 4111 1111 1111 1111 SEATTLE WA")


def test_normalize_keeps_index_missing_and_repeats() -> None:
    s = pd.Series(["SQ *JOES CAFE", None, "SQ *JOES CAFE", "TST* JOES CAFE 0042"], index=list("abcd"))
    out = normalize(s)
    assert list(out.index) == list("abcd")
    assert out.tolist()[0] == out.tolist()[2] == out.tolist()[3] == "JOES CAFE"
    assert pd.isna(out["b"])


_PIECES = list("ABCSQTP *#-'.0123456789/&") + [
    "SQ *", "TST* ", "PAYPAL *", "SP ", "DD *", " WA", " NEW YORK NY", " #0123", "UBER", "AMZN",
    "THE ", " INC", " STORE", ".COM", "  ", "SAN FRANCISC", " CA"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(pd.Series([text]))
    assert normalize(once).iloc[0] == once.iloc[0]
