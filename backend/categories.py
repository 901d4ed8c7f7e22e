"""Reward categories: MCC -> category, with the issuer label and merchant name as fallbacks.

Issuers decide a purchase's category by the merchant's MCC (ISO 18245), so an MCC is the
strongest evidence. Without one we fall back to the issuer's category text, then to the
merchant name; `evidence` records which decided, and it drives the engine's confidence.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

# Every reward category the catalog may name. `other` earns only a card's base rate.
CATEGORIES: dict[str, str] = {
    "dining": "Restaurants and bars",
    "grocery": "US supermarkets",
    "wholesale_club": "Wholesale clubs (Costco, Sam's Club)",
    "superstore": "Superstores, discount and department stores (Walmart, Target)",
    "gas": "Gas stations and EV charging",
    "airline": "Airlines",
    "hotel": "Hotels and lodging",
    "car_rental": "Car rental",
    "transit": "Transit, taxis, rideshare, tolls, parking",
    "travel_agency": "Travel agencies and other travel",
    "streaming": "Streaming services",
    "drugstore": "Drugstores",
    "office_supply": "Office supply stores",
    "telecom": "Internet, cable and phone",
    "shipping": "Shipping",
    "advertising": "Advertising",
    "home_improvement": "Home improvement",
    "entertainment": "Entertainment and live events",
    "fitness": "Fitness clubs",
    "spa": "Health and beauty spas",
    "electronics_software": "Electronics, software and cloud",
    "utilities": "Utilities",
    "online_shopping": "Online shopping",
    "amazon": "Amazon",
    "paypal": "PayPal",
    "apparel": "Clothing stores",
    "other": "Everything else",
}

# Named groups a catalog rule may use instead of listing categories one by one.
GROUPS: dict[str, tuple[str, ...]] = {
    "travel": ("airline", "hotel", "car_rental", "travel_agency", "transit"),
    "online_shopping": ("online_shopping", "amazon", "paypal"),
}

# Evidence kinds, strongest first, with the confidence each lends to a pick.
EVIDENCE_WEIGHT: dict[str, float] = {
    "mcc": 1.0,
    "correction": 1.0,   # the user assigned this merchant's category
    "brand": 0.95,       # a named brand that issuers categorize by merchant (Amazon, PayPal)
    "dictionary": 0.9,   # a curated merchant dictionary entry
    "fuzzy": 0.75,       # a near spelling of a dictionary entry
    "label": 0.7,        # the issuer's own category text (coarse)
    "keyword": 0.6,      # a word in the merchant name
    "none": 0.4,         # nothing known: `other`
}

# MCC ranges and codes -> category (reference/categories.md).
_MCC_RANGES: list[tuple[int, int, str]] = [
    (3000, 3350, "airline"),
    (3351, 3500, "car_rental"),
    (3501, 3999, "hotel"),
]
_MCC_CODES: dict[str, tuple[int, ...]] = {
    "dining": (5812, 5813, 5814),
    "grocery": (5411,),
    "wholesale_club": (5300,),
    "superstore": (5310, 5311),
    "gas": (5541, 5542, 5552),
    "airline": (4511,),
    "hotel": (7011, 7012),
    "car_rental": (7512, 7513),
    "transit": (4111, 4112, 4121, 4131, 4411, 4784, 4789, 7523),
    "travel_agency": (4722, 7033),
    "streaming": (5815, 5816, 5817, 5818, 5968),
    "drugstore": (5912,),
    "office_supply": (5943, 5111),
    "telecom": (4814, 4816, 4899),
    "shipping": (4215, 9402),
    "advertising": (7311,),
    "home_improvement": (5200, 5211, 5231, 5251, 5261),
    "entertainment": (7832, 7922, 7929, 7991, 7996),
    "fitness": (7997, 7941),
    "spa": (7298,),
    "electronics_software": (5045, 5732, 5734, 7372, 7379),
    "utilities": (4900,),
    "online_shopping": (5964,),
    "apparel": (5611, 5621, 5631, 5641, 5651, 5655, 5661, 5681, 5691, 5699),
}
# 4899 is both cable TV and streaming: issuers differ; we count it as telecom.

# Issuer category labels -> category (keys lower case; categorize() strips and lowercases).
# Only labels that name one reward category are listed. Vague ones (Chase "Shopping",
# "Personal", "Health & Wellness", Capital One "Merchandise", Discover "Services"...) are left
# out on purpose: the merchant name then decides, and an unknown merchant is offered to the
# user for correction instead of being settled as `other` on the label's word.
_LABELS: dict[str, str] = {
    # plain words (Apple Card, bank apps, hand-made files)
    "groceries": "grocery", "grocery": "grocery", "supermarkets": "grocery", "supermarket": "grocery",
    "gas": "gas", "gasoline": "gas", "fuel": "gas", "gas stations": "gas", "gas station": "gas",
    "ev charging": "gas", "dining": "dining", "restaurants": "dining", "restaurant": "dining",
    "food": "dining", "airfare": "airline", "airline": "airline", "airlines": "airline",
    "lodging": "hotel", "hotel": "hotel", "hotels": "hotel", "car rental": "car_rental",
    "transit": "transit", "transportation": "transit", "parking": "transit", "rideshare": "transit",
    "tolls": "transit", "streaming": "streaming", "entertainment": "entertainment",
    "drugstores": "drugstore", "drugstore": "drugstore", "drug stores": "drugstore",
    "pharmacy": "drugstore", "pharmacies": "drugstore",
    "office supplies": "office_supply", "office supply": "office_supply",
    "utilities": "utilities", "telecom": "telecom", "internet": "telecom",
    "home improvement": "home_improvement", "shipping": "shipping", "advertising": "advertising",
    "fitness": "fitness", "gym": "fitness", "wholesale clubs": "wholesale_club",
    "warehouse clubs": "wholesale_club", "department stores": "superstore",
    "discount stores": "superstore", "electronics": "electronics_software",
    "software": "electronics_software", "clothing": "apparel", "travel": "travel_agency",
    # Chase
    "food & drink": "dining", "bills & utilities": "utilities", "home": "home_improvement",
    # American Express ("Group-Subgroup")
    "restaurant-restaurant": "dining", "restaurant-bar & café": "dining",
    "restaurant-bar & cafe": "dining", "restaurant-fast food": "dining",
    "restaurant-fast food restaurant": "dining",
    "merchandise & supplies-groceries": "grocery", "merchandise & supplies-pharmacies": "drugstore",
    "merchandise & supplies-wholesale stores": "wholesale_club",
    "merchandise & supplies-department stores": "superstore",
    "merchandise & supplies-discount stores": "superstore",
    "merchandise & supplies-hardware supplies": "home_improvement",
    "merchandise & supplies-computer supplies": "electronics_software",
    "merchandise & supplies-electronics stores": "electronics_software",
    "merchandise & supplies-clothing stores": "apparel",
    "merchandise & supplies-internet purchase": "online_shopping",
    "merchandise & supplies-office supplies": "office_supply",
    "merchandise & supplies-stationery supplies": "office_supply",
    "transportation-fuel": "gas", "transportation-taxis & coach": "transit",
    "transportation-parking charges": "transit", "transportation-tolls & fees": "transit",
    "transportation-rail services": "transit", "transportation-cruise lines": "transit",
    "travel-airline": "airline", "travel-lodging": "hotel", "travel-vehicle rental": "car_rental",
    "travel-travel agencies": "travel_agency",
    "communications-cable & internet comm": "telecom", "communications-telephone comm": "telecom",
    "communications-cable & internet comm.": "telecom",
    "business services-advertising services": "advertising",
    "business services-mailing & shipping": "shipping",
    "entertainment-theatrical events": "entertainment", "entertainment-movies": "entertainment",
    "entertainment-general events": "entertainment", "entertainment-other": "entertainment",
    "entertainment-health & fitness": "fitness",
    # Capital One
    "gas/automotive": "gas", "other travel": "travel_agency",
    "phone/cable": "telecom",
    # Discover
    "travel/ entertainment": "travel_agency", "travel/entertainment": "travel_agency",
    "warehouse club": "wholesale_club", "home improvement stores": "home_improvement",
    # Citi, US Bank, Bank of America
    "restaurants & dining": "dining", "restaurants/dining": "dining", "gasoline/fuel": "gas",
    "gas & fuel": "gas", "gas/fuel": "gas", "airlines/airfare": "airline",
    "hotels/lodging": "hotel", "cable/satellite services": "telecom",
    "telephone services": "telecom", "cable & satellite": "telecom", "mobile phone": "telecom",
    "postage & shipping": "shipping", "fitness clubs": "fitness",
}

# Brands that issuers categorize by merchant rather than MCC: they win over the MCC.
_BRANDS: dict[str, str] = {
    "amazon": r"\b(?:amazon|amzn)\b(?! web services)",
    "paypal": r"\bpaypal\b",
}

# Last-resort words in a merchant name (used only when no MCC, label or dictionary entry decides).
# Checked in this order; a name takes the first category whose word it contains.
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "dining": ("restaurant", "grill", "pizza", "pizzeria", "cafe", "coffee", "diner", "bistro",
               "taqueria", "sushi", "burger", "burgers", "bar & grill", "kitchen", "bakery", "deli",
               "bbq", "smokehouse", "steakhouse", "tavern", "pub", "brewery", "brewing", "cantina",
               "trattoria", "osteria", "ramen", "pho", "noodle", "noodles", "taco", "tacos",
               "wings", "bagel", "bagels", "donut", "donuts", "espresso", "roasters", "eatery",
               "brasserie", "chophouse", "creamery", "boba", "dumpling", "dumplings", "wine bar",
               "delicatessen", "hot dog", "hot dogs"),
    "grocery": ("grocery", "groceries", "market", "supermarket", "foods", "mercado", "supermercado"),
    "utilities": ("electric", "utility", "utilities", "water dept", "water district", "sewer",
                  "power & light", "energy"),
    "gas": ("gas", "fuel", "petrol", "shell oil", "chevron", "exxon", "station", "petroleum"),
    "hotel": ("hotel", "hotels", "inn", "suites", "resort", "motel", "hostel"),
    "airline": ("airline", "airlines", "airways", "air lines"),
    "car_rental": ("rent-a-car", "rent a car", "car rental", "rental car"),
    "transit": ("taxi", "cab", "limo", "limousine", "parking", "transit", "metro", "toll",
                "tollway", "tolls", "ferry", "shuttle", "rail"),
    "drugstore": ("pharmacy", "drug", "drugs", "apothecary"),
    "streaming": ("streaming",),
    "fitness": ("fitness", "gym", "yoga", "pilates", "crossfit", "barre", "boxing", "martial arts",
                "karate", "athletic club", "health club"),
    "spa": ("spa", "massage", "day spa"),
    "entertainment": ("cinema", "cinemas", "theatre", "theatres", "theater", "bowling", "museum",
                      "zoo", "aquarium", "arcade", "amusement", "tickets"),
    "telecom": ("wireless", "telecom", "internet", "cable", "broadband", "cellular"),
    "shipping": ("shipping", "postal", "freight", "courier"),
    "home_improvement": ("hardware", "lumber", "home center", "garden center"),
    "office_supply": ("office supply", "office supplies", "stationery"),
    "travel_agency": ("travel agency", "kampground", "campground", "rv park"),
    "apparel": ("apparel", "clothing", "boutique", "shoes", "footwear"),
    "electronics_software": ("software", "electronics", "computer", "computers"),
    # Words of businesses that earn no bonus anywhere; they also stop a weak dictionary match
    # on a leading brand word (`SHELL CREEK WINERY` is not Shell).
    "other": ("insurance", "credit union", "bank", "dental", "dentist", "dds", "orthodontics",
              "law", "attorney", "attorneys", "clinic", "medical", "hospital", "health",
              "storage", "auto sales", "auto repair", "winery", "vineyard", "tax", "church",
              "school", "university", "college", "salon", "barber", "nails", "florist",
              "veterinary", "vet", "plumbing", "repair", "cleaners", "cleaning", "landscaping",
              "consulting", "daycare", "pet", "pets"),
}


@lru_cache(maxsize=1)
def _mcc_table() -> np.ndarray:
    """Category code per MCC 0..9999 (index into CATEGORY_NAMES)."""
    table = np.full(10000, CATEGORY_NAMES.index("other"), dtype=np.int16)
    for lo, hi, cat in _MCC_RANGES:
        table[lo:hi + 1] = CATEGORY_NAMES.index(cat)
    for cat, codes in _MCC_CODES.items():
        table[list(codes)] = CATEGORY_NAMES.index(cat)
    return table


CATEGORY_NAMES: list[str] = list(CATEGORIES)


def category_for_mcc(mcc: int | str) -> str:
    """The reward category of one MCC (`other` when it earns no named bonus)."""
    code = int(mcc)
    if not 0 <= code <= 9999:
        raise ValueError(f"MCC {mcc!r} is outside 0..9999")
    return CATEGORY_NAMES[int(_mcc_table()[code])]


def describe_mcc(mcc: int | str) -> str:
    """A human description of an MCC, from iso18245; airline/car/hotel ranges are named by us."""
    import iso18245

    code = f"{int(mcc):04d}"
    try:
        info = iso18245.get_mcc(code)
    except (KeyError, ValueError):
        info = None
    if 3000 <= int(mcc) <= 3999:   # private-use range: iso18245 says "Reserved"; we name it
        kind = CATEGORIES[category_for_mcc(code)]
        brand = (info.visa_description or info.mastercard_description) if info else ""
        return f"{kind}: {brand}" if brand else kind
    if info is None:
        return "Unknown MCC"
    return info.iso_description or info.visa_description or info.mastercard_description or "Unknown MCC"


def parse_mcc(values: pd.Series) -> pd.Series:
    """MCC text -> nullable integer 0..9999 (blank, non-numeric and out-of-range become <NA>).

    Statements repeat a few hundred MCCs, so each distinct text is parsed once.
    """
    codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
    text = pd.Series(uniques, dtype="string").str.strip()
    num = pd.to_numeric(text, errors="coerce")
    ok = num.notna() & (num >= 0) & (num <= 9999) & (num == np.floor(num))
    parsed = num.where(ok).astype("Int64").to_numpy(dtype="float64", na_value=np.nan)
    out = np.where(codes >= 0, parsed[np.maximum(codes, 0)] if len(parsed) else np.nan, np.nan)
    return pd.Series(out, index=values.index).astype("Int64")


def _contains(values: pd.Series, pattern: str) -> np.ndarray:
    """Regex search per distinct value (merchant names repeat a lot): a boolean per row."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if not len(uniques):
        return np.zeros(len(values), dtype=bool)
    hit = pd.Series(uniques, dtype="str").str.contains(pattern, regex=True).to_numpy(dtype=bool)
    return np.where(codes >= 0, hit[np.maximum(codes, 0)], False)


def expand(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Expand group names (e.g. `travel`) into categories, keeping order and uniqueness."""
    out: list[str] = []
    for name in names:
        for cat in GROUPS.get(name, (name,)):
            if cat not in out:
                out.append(cat)
    return tuple(out)


def categorize(frame: pd.DataFrame, merchant_lookup=None) -> tuple[pd.Series, pd.Series]:
    """Reward category and evidence for every row of a canonical frame (vectorized).

    Order: the MCC; a brand that issuers judge by merchant name (Amazon, PayPal, also seen
    in the raw `description`); the merchant name through `merchant_lookup` (the user's
    corrections, the merchant dictionary, near spellings: a callable returning (category,
    evidence) series with <NA> where it does not know); the issuer's category text; words in
    the merchant name. The merchant goes before the issuer's label because labels are coarse
    (a Walmart Supercenter labelled "Groceries" is still not a supermarket).
    """
    n = len(frame)
    category = pd.Series(pd.NA, index=frame.index, dtype="string")
    evidence = pd.Series(pd.NA, index=frame.index, dtype="string")

    def settle(values: pd.Series, kind: str | pd.Series) -> None:
        found = values.notna() & category[values.index].isna()
        category[found[found].index] = values[found]
        evidence[found[found].index] = kind if isinstance(kind, str) else kind[found]

    mcc = parse_mcc(frame["mcc"]) if "mcc" in frame else pd.Series(pd.NA, index=frame.index, dtype="Int64")
    has_mcc = mcc.notna().to_numpy()
    if has_mcc.any():
        codes = _mcc_table()[mcc[has_mcc].to_numpy(dtype=np.int64)]
        category[has_mcc] = np.asarray(CATEGORY_NAMES, dtype=object)[codes]
        evidence[has_mcc] = "mcc"

    blank = pd.Series("", index=frame.index, dtype="string")
    merchant = frame["merchant"].astype("string").fillna("").str.lower() if "merchant" in frame else blank
    described = frame["description"].astype("string").fillna("").str.lower() if "description" in frame else blank
    for cat, pattern in _BRANDS.items():
        hit = _contains(merchant, pattern) | _contains(described, pattern)
        category[hit] = cat
        evidence[hit] = "brand"

    todo = category.isna()
    if todo.any() and merchant_lookup is not None and "merchant" in frame:
        cat, ev = merchant_lookup(frame.loc[todo, "merchant"])
        settle(cat, ev)

    todo = category.isna()
    if todo.any() and "category" in frame:
        label = frame.loc[todo, "category"].astype("string").str.strip().str.lower()
        mapped = label.map(_LABELS)
        # A label we do not recognise that names a category outright (e.g. `dining`).
        mapped = mapped.where(mapped.notna(), label.where(label.isin(CATEGORIES.keys())))
        settle(mapped, "label")

    todo = category.isna()
    if todo.any():
        names = merchant[todo]
        for cat, words in _KEYWORDS.items():
            pattern = r"\b(?:" + "|".join(words) + r")\b"
            hit = names[category[names.index].isna()]
            hit = hit[_contains(hit, pattern)]
            category[hit.index] = cat
            evidence[hit.index] = "keyword"

    rest = category.isna()
    category[rest] = "other"
    evidence[rest] = "none"
    assert len(category) == n
    return category, evidence
