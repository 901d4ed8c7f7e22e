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


# --- dictionary / fuzzy / correction lookup ---------------------------------------------------

from pathlib import Path  # noqa: E402

from backend import merchants  # noqa: E402
from backend.categories import CATEGORIES, categorize  # noqa: E402
from backend.corrections import save_correction  # noqa: E402
from backend.merchants import lookup, unknown_merchants  # noqa: E402

EVAL_FILE = Path(__file__).parent / "data" / "descriptors_eval.csv"


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    """Every test gets an empty REWARDPILOT_HOME: no one's saved corrections leak in."""
    monkeypatch.setenv("REWARDPILOT_HOME", str(tmp_path / "home"))


def _lookup(*descriptors: str) -> list[tuple[object, object]]:
    cat, ev = lookup(pd.Series(list(descriptors)))
    return list(zip(cat.tolist(), ev.tolist()))


def test_dictionary_is_large_and_uses_only_known_categories() -> None:
    d = merchants.dictionary()
    assert len(d) >= 500
    assert set(d.categories.values()) <= set(CATEGORIES)


@pytest.mark.parametrize("descriptor, category", [
    ("COSTCO WHSE #0123 SEATTLE WA", "wholesale_club"),          # leading words
    ("CHICK-FIL-A #01234 ATLANTA GA", "dining"),                  # hyphens do not matter
    ("WAL-GREENS #5678", "drugstore"),
    ("COURTYARD BY MARRIOTT DENVER CO", "hotel"),
    ("LINKEDINADS 123456789 CA", "advertising"),                  # glued words
    ("GOOGLE *YOUTUBEPREMIUM G.CO/HELPPAY#", "streaming"),
    ("GOOGLE *ADS1234567890", "advertising"),                     # longest key wins over GOOGLE
    ("ALAMO DRAFTHOUSE AUSTIN TX", "entertainment"),              # ... and over ALAMO (car rental)
    ("ALAMO RENT-A-CAR LAS VEGAS NV", "car_rental"),
    ("COSTCO GAS #0123 SEATTLE WA", "gas"),
    ("UBER *EATS PENDING", "dining"),
    ("UBER *TRIP 8005928996 CA", "transit"),
])
def test_dictionary_matches(descriptor: str, category: str) -> None:
    assert _lookup(descriptor) == [(category, "dictionary")]


@pytest.mark.parametrize("descriptor, category", [
    ("STARBUKS COFFEE SEATTLE WA", "dining"),
    ("CHIPOLTE MEXICAN GRILL", "dining"),
    ("WALGRENS #1234 CHICAGO IL", "drugstore"),
])
def test_near_spellings_match_fuzzily(descriptor: str, category: str) -> None:
    assert _lookup(descriptor) == [(category, "fuzzy")]


def test_unknown_names_stay_missing_and_short_names_are_not_guessed() -> None:
    out = _lookup("SQ *GREEN LEAF LANDSCAPING", "ZXQW", "SHELLS")     # SHELLS is not SHELL
    assert all(pd.isna(c) and pd.isna(e) for c, e in out[:2])
    assert pd.isna(out[2][0])


def test_lookup_keeps_index_and_missing_rows() -> None:
    s = pd.Series(["TARGET 00012345", None, "NETFLIX.COM"], index=[7, 3, 5])
    cat, ev = lookup(s)
    assert list(cat.index) == [7, 3, 5] and list(ev.index) == [7, 3, 5]
    assert cat[7] == "superstore" and pd.isna(cat[3]) and cat[5] == "streaming"


def test_correction_wins_over_dictionary_and_fills_unknowns() -> None:
    save_correction("SQ *GREEN LEAF LANDSCAPING SEATTLE WA", "home_improvement")
    save_correction("TARGET", "other")
    out = _lookup("GREEN LEAF LANDSCAPING 0012", "TARGET T-1234 CHICAGO IL", "WALMART #1")
    assert out == [("home_improvement", "correction"), ("other", "correction"),
                   ("superstore", "dictionary")]


# --- wholesale clubs and superstores are never grocery ---------------------------------------

CLUBS_AND_SUPERSTORES = [
    ("COSTCO WHSE #0123 SEATTLE WA", "wholesale_club"), ("COSTCO WHOLESALE #0456", "wholesale_club"),
    ("SAMS CLUB #6789 DALLAS TX", "wholesale_club"), ("SAMSCLUB #6543", "wholesale_club"),
    ("BJ'S WHOLESALE #0045 NATICK MA", "wholesale_club"), ("BJS WHOLESALE CLUB #123", "wholesale_club"),
    ("WALMART SUPERCENTER #1234", "superstore"), ("WAL-MART SUPER CENTER 2345", "superstore"),
    ("WM SUPERCENTER #1234 DALLAS TX", "superstore"), ("WALMART GROCERY 800-966-6546 AR", "superstore"),
    ("WALMART NEIGHBORHOOD MKT 5678", "superstore"), ("TARGET 00012345", "superstore"),
    ("SUPERTARGET 0123 EDEN PRAIRIE MN", "superstore"), ("KMART 3456 HONOLULU HI", "superstore"),
]


def test_wholesale_clubs_and_superstores_are_never_grocery() -> None:
    descriptors = pd.Series([d for d, _ in CLUBS_AND_SUPERSTORES])
    frame = pd.DataFrame({"merchant": normalize(descriptors), "category": "", "mcc": ""})
    category, evidence = categorize(frame, merchant_lookup=lookup)
    assert category.tolist() == [c for _, c in CLUBS_AND_SUPERSTORES]
    assert "grocery" not in set(category)
    assert set(evidence) == {"dictionary"}


# --- the labeled eval set, through the real pipeline -----------------------------------------

def test_eval_set_accuracy_at_least_90_percent() -> None:
    data = pd.read_csv(EVAL_FILE, dtype="string", keep_default_na=False)
    assert len(data) >= 300 and set(data["category"]) <= set(CATEGORIES)
    frame = pd.DataFrame({"merchant": normalize(data["descriptor"]), "category": "", "mcc": ""})
    category, _ = categorize(frame, merchant_lookup=lookup)
    accuracy = (category == data["category"]).mean()
    assert accuracy >= 0.90, f"accuracy {accuracy:.1%}"
    clubs = data["category"].isin(["wholesale_club", "superstore"])
    assert not (clubs & (category == "grocery")).any()


# --- unknown merchants -----------------------------------------------------------------------

def _results(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["merchant", "reward_category", "amount_usd", "category_evidence", "mcc"])


def test_unknown_merchants_groups_and_orders_by_spend() -> None:
    frame = _results([
        ("SQ *GREEN LEAF LANDSCAPING", "other", 40.0, "none", ""),
        ("GREEN LEAF LANDSCAPING 0012 SEATTLE WA", "other", 60.0, "none", ""),
        ("ACME CONSULTING 4111 1111 1111 1111", "other", 500.0, "none", ""),
        ("MYSTERY SHOP", "other", 5.0, "none", ""),
        ("ANOTHER MYSTERY", "other", 2.5, "none", ""),
        ("ANOTHER MYSTERY", "other", 2.5, "none", ""),
        ("STARBUCKS", "dining", 900.0, "dictionary", ""),          # known
        ("GEICO", "other", 800.0, "dictionary", ""),                # known to be `other`
        ("BIG SUPPLY", "other", 700.0, "mcc", "5999"),              # the MCC said so
    ])
    out = unknown_merchants(frame)
    assert out.columns.tolist() == ["merchant", "count", "spend"]
    assert out["merchant"].tolist() == ["ACME CONSULTING", "GREEN LEAF LANDSCAPING",
                                        "ANOTHER MYSTERY", "MYSTERY SHOP"]
    assert out["count"].tolist() == [1, 2, 2, 1]
    assert out["spend"].tolist() == [500.0, 100.0, 5.0, 5.0]
    assert not out["merchant"].str.contains("1111").any()


def test_unknown_merchants_from_confidence_and_status() -> None:
    frame = pd.DataFrame({
        "merchant": ["A SHOP", "B SHOP", "C SHOP", "D SHOP"],
        "reward_category": ["other", "other", "dining", "other"],
        "amount_usd": [-10.0, 30.0, 50.0, 99.0],
        "confidence": [0.4, 0.8, 0.4, 0.4],
        "status": ["ok", "ok", "ok", "skipped"],
    })
    out = unknown_merchants(frame)
    assert out["merchant"].tolist() == ["A SHOP"] and out["spend"].tolist() == [10.0]


@pytest.mark.parametrize("descriptor", [
    "ARCO IRIS BAKERY", "SQ *BP COFFEE", "SHELL CREEK VINEYARD", "BIG APPLE BAGELS 1234 CHICAGO IL",
    "KROGERS LAW OFFICE", "SAFEWAYS STORAGE",
])
def test_a_brand_word_inside_another_kind_of_business_is_not_that_brand(descriptor: str) -> None:
    assert pd.isna(_lookup(descriptor)[0][0])


def test_superstores_are_not_vetoed_by_a_grocery_word() -> None:
    assert _lookup("TARGET GROCERY", "WALMART GROCERY PICKUP") == [("superstore", "dictionary")] * 2
