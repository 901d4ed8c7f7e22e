"""Reward categories: the MCC table of reference/categories.md, MCC descriptions, MCC parsing,
and the evidence order of categorize() (brand, MCC, issuer label, merchant name)."""
from __future__ import annotations

import pandas as pd
import pytest

from backend.categories import (
    CATEGORIES, EVIDENCE_WEIGHT, GROUPS, categorize, category_for_mcc, describe_mcc, expand, parse_mcc,
)

# Every row of reference/categories.md: category -> its MCCs.
REFERENCE_TABLE = {
    "dining": [5812, 5813, 5814],
    "grocery": [5411],
    "wholesale_club": [5300],
    "gas": [5541, 5542, 5552],
    "airline": [3000, 3058, 3350, 4511],
    "hotel": [3501, 3999, 7011, 7012],
    "car_rental": [3351, 3500, 7512, 7513],
    "transit": [4111, 4112, 4121, 4131, 4411, 4784, 4789, 7523],
    "travel_agency": [4722, 7033],
    "streaming": [5815, 5816, 5817, 5818, 5968],
    "drugstore": [5912],
    "office_supply": [5943, 5111],
    "telecom": [4814, 4816, 4899],
    "shipping": [4215, 9402],
    "advertising": [7311],
    "home_improvement": [5200, 5211, 5231, 5251, 5261],
    "entertainment": [7832, 7922, 7929, 7991, 7996],
    "fitness": [7997, 7941],
}
ROWS = [(mcc, cat) for cat, codes in REFERENCE_TABLE.items() for mcc in codes]


@pytest.mark.parametrize(("mcc", "category"), ROWS)
def test_reference_table(mcc, category):
    assert category_for_mcc(mcc) == category
    assert category_for_mcc(str(mcc)) == category


@pytest.mark.parametrize(("mcc", "category"), [
    (2999, "other"), (3000, "airline"), (3001, "airline"), (3349, "airline"), (3350, "airline"),
    (3351, "car_rental"), (3352, "car_rental"), (3499, "car_rental"), (3500, "car_rental"),
    (3501, "hotel"), (3502, "hotel"), (3998, "hotel"), (3999, "hotel"), (4000, "other"),
])
def test_private_use_range_edges(mcc, category):
    assert category_for_mcc(mcc) == category


@pytest.mark.parametrize(("mcc", "category"), [(5300, "wholesale_club"), (5310, "superstore"), (5311, "superstore")])
def test_clubs_and_superstores_are_never_grocery(mcc, category):
    assert category_for_mcc(mcc) == category != "grocery"


@pytest.mark.parametrize("mcc", [5422, 5451, 5462, 5499])
def test_citi_only_grocery_codes_are_not_grocery(mcc):
    """Citi alone counts these as supermarkets; the shared table keeps grocery = 5411."""
    assert category_for_mcc(mcc) == "other"


def test_documented_overlaps():
    assert category_for_mcc(4899) == "telecom"       # cable TV and streaming: counted as telecom
    assert category_for_mcc(7941) == "fitness"       # listed under entertainment and fitness
    assert category_for_mcc(5462) != "dining"        # bakeries: Citi excludes them


@pytest.mark.parametrize("mcc", [0, 1, 742, 5999, 6011, 9999, "0000", "0742"])
def test_unlisted_codes_are_other(mcc):
    assert category_for_mcc(mcc) == "other"


@pytest.mark.parametrize("mcc", [-598, -1, 10000])
def test_out_of_range_mcc_is_a_value_error(mcc):
    with pytest.raises(ValueError):
        category_for_mcc(mcc)


def test_every_category_has_a_description_and_groups_expand_to_categories():
    assert all(CATEGORIES.values())
    for group, members in GROUPS.items():
        assert set(members) <= set(CATEGORIES), group
    assert expand(["dining", "travel", "transit"]) == ("dining", "airline", "hotel", "car_rental",
                                                        "travel_agency", "transit")
    assert expand(["online_shopping"]) == ("online_shopping", "amazon", "paypal")


# --- describe_mcc ---------------------------------------------------------------------------

@pytest.mark.parametrize(("mcc", "text"), [
    (5812, "Eating places and restaurants"),
    ("5812", "Eating places and restaurants"),
    (5300, "Wholesale clubs"),
    (4511, "Airlines and air carriers"),
    (7011, "Lodging -- hotels, motels and resorts"),
])
def test_describe_mcc_uses_iso18245(mcc, text):
    assert describe_mcc(mcc) == text


@pytest.mark.parametrize(("mcc", "kind", "brand"), [
    (3058, "Airlines", "DELTA"),
    (3351, "Car rental", "AFFILIATED AUTO RENTAL"),
    (3501, "Hotels and lodging", "HOLIDAY INN"),
])
def test_describe_private_use_code_names_the_brand(mcc, kind, brand):
    text = describe_mcc(mcc)
    assert kind in text and brand in text.upper()
    assert "Reserved" not in text


@pytest.mark.parametrize("mcc", [1, 9999, -1])
def test_describe_unknown_code(mcc):
    assert describe_mcc(mcc) == "Unknown MCC"


@pytest.mark.parametrize(("mcc", "kind"), [(3350, "Airlines"), (3500, "Car rental"), (3999, "Hotels and lodging")])
def test_describe_private_use_code_without_iso_entry_names_the_range(mcc, kind):
    assert kind in describe_mcc(mcc)


# --- parse_mcc ------------------------------------------------------------------------------

def test_parse_mcc_text():
    raw = pd.Series(["5812", " 5411 ", "", "   ", "abc", "58x2", "-1", "10000", "0", "9999", "5812.0",
                     "58.5", None], index=range(100, 113))
    parsed = parse_mcc(raw)
    assert str(parsed.dtype) == "Int64"
    assert parsed.index.equals(raw.index)
    assert parsed.tolist() == [5812, 5411, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA, 0, 9999, 5812,
                               pd.NA, pd.NA]


def test_parse_mcc_numbers():
    parsed = parse_mcc(pd.Series([5812, None, 3.5, 4511.0, -3]))
    assert parsed.tolist() == [5812, pd.NA, pd.NA, 4511, pd.NA]


# --- categorize -----------------------------------------------------------------------------

FRAME = pd.DataFrame(
    [
        # merchant, issuer label, mcc, expected category, expected evidence
        ("Joe's Pizza Grill", "Groceries", "5411", "grocery", "mcc"),            # MCC wins over label + keyword
        ("Costco Whse #123", "Groceries", "5300", "wholesale_club", "mcc"),
        ("Walmart Supercenter", "Groceries", "5311", "superstore", "mcc"),
        ("DELTA AIR 0062", "Travel", "3058", "airline", "mcc"),
        ("Blue Plate", "Food & Drink", "", "dining", "label"),                     # Chase
        ("Blue Plate", "Restaurant-Restaurant", None, "dining", "label"),          # Amex
        ("Hardware Hut", "Merchandise & Supplies-Hardware Supplies", "abc", "home_improvement", "label"),
        ("Day Spa", "  SPA ", "", "spa", "label"),                                 # a category name as label
        ("Main Street Pizza", None, None, "dining", "keyword"),
        ("Shell Oil 5541", "an unknown label", "", "gas", "keyword"),
        ("Mystery LLC", None, "", "other", "none"),
        (None, None, None, "other", "none"),
        ("AMZN Mktp US*2K4", "Shopping", "5942", "amazon", "brand"),              # brand wins over MCC
        ("Amazon.com", None, None, "amazon", "brand"),
        ("PAYPAL *ETSYSELLER", "Merchandise", "", "paypal", "brand"),
    ],
    columns=["merchant", "category", "mcc", "want_category", "want_evidence"],
    index=range(10, 25),
)


def test_categorize_evidence_order():
    category, evidence = categorize(FRAME[["merchant", "category", "mcc"]])
    assert category.index.equals(FRAME.index) and evidence.index.equals(FRAME.index)
    got = dict(zip(FRAME.index, zip(category.tolist(), evidence.tolist())))
    want = dict(zip(FRAME.index, zip(FRAME["want_category"].tolist(), FRAME["want_evidence"].tolist())))
    assert got == want
    assert set(evidence) <= set(EVIDENCE_WEIGHT)
    assert set(category) <= set(CATEGORIES)


def test_categorize_without_label_or_mcc_columns():
    frame = pd.DataFrame({"merchant": ["City Parking Garage", "Corner Pharmacy", "Nothing Here"]})
    category, evidence = categorize(frame)
    assert category.tolist() == ["transit", "drugstore", "other"]
    assert evidence.tolist() == ["keyword", "keyword", "none"]


def test_categorize_label_without_mcc_column():
    frame = pd.DataFrame({"merchant": ["A", "B"], "category": ["Gas/Automotive", "Airfare"]})
    category, evidence = categorize(frame)
    assert category.tolist() == ["gas", "airline"] and evidence.tolist() == ["label", "label"]


def test_merchant_lookup_runs_before_label_and_keywords_and_only_without_mcc():
    seen: list[str] = []

    def lookup(merchants: pd.Series) -> tuple[pd.Series, pd.Series]:
        seen.extend(merchants.tolist())
        known = merchants.str.contains("Acme", regex=False)
        cat = pd.Series(pd.NA, index=merchants.index, dtype="string").mask(known, "office_supply")
        ev = pd.Series(pd.NA, index=merchants.index, dtype="string").mask(known, "dictionary")
        return cat, ev

    frame = pd.DataFrame({
        "merchant": ["Acme Pizza Supply", "Other Pizza", "Acme Diner", "Acme Labelled"],
        "category": [None, None, None, "Food & Drink"],
        "mcc": ["", "", "5812", ""],
    })
    category, evidence = categorize(frame, merchant_lookup=lookup)
    assert seen == ["Acme Pizza Supply", "Other Pizza", "Acme Labelled"]
    # The merchant dictionary outranks the issuer's coarse label; the MCC outranks both.
    assert category.tolist() == ["office_supply", "dining", "dining", "office_supply"]
    assert evidence.tolist() == ["dictionary", "keyword", "mcc", "dictionary"]


def test_superstore_labelled_groceries_is_not_grocery():
    from backend.merchants import lookup

    frame = pd.DataFrame({"merchant": ["WALMART SUPERCENTER", "COSTCO WHSE"], "category": ["Groceries", "Groceries"],
                          "mcc": ["", ""]})
    category, _ = categorize(frame, merchant_lookup=lookup)
    assert category.tolist() == ["superstore", "wholesale_club"]


def test_paypal_brand_seen_in_the_raw_description():
    frame = pd.DataFrame({"merchant": ["NETFLIX"], "description": ["PAYPAL *NETFLIX 4029357733"],
                          "category": [""], "mcc": [""]})
    category, evidence = categorize(frame)
    assert (category.iloc[0], evidence.iloc[0]) == ("paypal", "brand")


def test_amazon_web_services_is_not_the_amazon_brand():
    frame = pd.DataFrame({"merchant": ["AMAZON WEB SERVICES", "AMZN MKTP US"], "mcc": ["", ""]})
    category, _ = categorize(frame)
    assert category.tolist()[1] == "amazon" and category.tolist()[0] != "amazon"
