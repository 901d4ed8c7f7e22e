"""Merchant names from statement descriptors, and their reward category when no MCC is known.

Issuer CSV exports carry descriptors such as `SQ *BLUE BOTTLE COFFEE OAKLAND CA` but no MCC.
`normalize` reduces them to a stable merchant name (`BLUE BOTTLE COFFEE`); `lookup` turns names
into a reward category with the evidence that decided it: the user's saved corrections, then the
curated dictionary in data/merchants.toml, then a fuzzy match against that dictionary.

Descriptors repeat a lot (a million rows hold a few thousand distinct strings), so every
function here works per distinct value and maps the answers back onto the rows.
"""
from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

DATA_FILE = Path(__file__).parent / "data" / "merchants.toml"

# ---------------------------------------------------------------------------------------------
# Per-distinct-value mapping
# ---------------------------------------------------------------------------------------------


def _as_string(s: pd.Series) -> pd.Series:
    """The series as nullable strings (numbers and other objects become their text)."""
    return s if isinstance(s.dtype, pd.StringDtype) else s.astype("string")


def map_unique(s: pd.Series, fn: Callable[[str], str | None]) -> pd.Series:
    """Apply `fn` once per distinct non-missing value and map the results back onto the rows.

    Missing values stay <NA>; `fn` may return None for "no answer". Result dtype is `string`.
    """
    s = _as_string(s)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    values = np.array([fn(u) for u in uniques] + [None], dtype=object)
    # code -1 (missing) picks the trailing None
    return pd.Series(values[codes], index=s.index, dtype="string", name=s.name)


# ---------------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------------

# 8+ digits, allowing one space or dash between digits (card numbers print as 4-4-4-4).
_LONG_DIGITS = re.compile(r"\d(?:[ -]?\d){7,}")


def _mask_run(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "****" + digits[-4:]


def mask_text(text: str) -> str:
    """One string with every run of 8+ digits replaced by `****` + its last 4 digits."""
    return _LONG_DIGITS.sub(_mask_run, text)


def mask_digits(s: pd.Series) -> pd.Series:
    """Mask card-number-like runs (8+ digits, spaces/dashes allowed) as `****1234`.

    Apply before a descriptor is shown, stored or logged. 7-digit runs are left alone.
    """
    return map_unique(s, mask_text)


# ---------------------------------------------------------------------------------------------
# Normalization
# ---------------------------------------------------------------------------------------------

# Whole-descriptor rewrites: brands whose descriptors vary endlessly but mean one merchant.
_REWRITES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?:AMAZON\s+WEB\s+SERVICES|AWS)\b"), "AWS"),
    (re.compile(r"^(?:AMZN|AMAZON\b)"), "AMAZON"),
    (re.compile(r"^(?:APPLE\.COM/BILL|APL\s*\*|ITUNES\.COM)"), "APPLE SERVICES"),
    (re.compile(r"^UBER\s*\*?\s*EATS\b"), "UBER EATS"),
    (re.compile(r"^UBER\b"), "UBER"),
    (re.compile(r"^LYFT\b"), "LYFT"),
    (re.compile(r"^(?:DD\s*\*\s*)?DOORDASH\s*\*?\s*DASHPASS\b"), "DOORDASH"),
]

# Payment processors and marketplaces that prefix the real merchant: drop them, keep the
# merchant; when nothing is left, the processor's own name is the merchant.
_PROCESSORS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?:SQ|SQU|SQUARE)\s*\*\s*"), "SQUARE"),
    (re.compile(r"^TST\s*\*\s*"), "TOAST"),
    (re.compile(r"^(?:PAYPAL|PYPL|PP)\s*\*\s*"), "PAYPAL"),
    (re.compile(r"^SP\s*\*\s*|^SP\s+(?!PLUS\b|\+)"), "SHOPIFY"),
    (re.compile(r"^(?:DD\s*\*\s*)?DOORDASH\s*\*\s*|^DD\s*\*\s*(?:DOORDASH\s+)?"), "DOORDASH"),
    (re.compile(r"^(?:GRUBHUB|GH)\s*\*\s*"), "GRUBHUB"),
    (re.compile(r"^(?:INSTACART|IC)\s*\*\s*"), "INSTACART"),
    (re.compile(r"^POSTMATES\s*\*\s*"), "POSTMATES"),
    (re.compile(r"^(?:CKO|FS|2CO|WPY|BT|CLR|ZTL|IZ|SUMUP|STRIPE|PY|ACT|PTI|BPS|CHK)\s*\*\s*"), ""),
    # Debit-style lead-ins some banks print before the merchant.
    (re.compile(r"^(?:POS\s+(?:DEBIT|PURCHASE)|CHECKCARD\s+\d{4}|PURCHASE\s+AUTHORIZED\s+ON"
                r"\s+\d\d/\d\d|RECURRING\s+PAYMENT|DEBIT\s+CARD\s+PURCHASE)\s+"), ""),
]

_PHONE = re.compile(r"(?:\+?1[-. ]?)?\(?\b\d{3}\)?[-. ]?\d{3}[-. ]\d{4}\b")
_DOMAIN = re.compile(r"^WWW\.|\.(?:COM|NET|ORG|IO|CO|US|AI|APP|TV|ME)\b(?:/\S*)?")
_LONG_RUN = re.compile(r"\d{5,}")
_STORE_CODE = re.compile(r"\b[A-Z]-?\d{3,}\b")  # McDonald's F12345, Target T-1234 style
_DROP_CHARS = re.compile(r"['`.]")
_TO_SPACE = re.compile(r"[^A-Z0-9&#\- ]")
_GAP = re.compile(r"\s{2,}")

# Tokens that end the name: store numbers, reference codes, masked numbers.
_CUT_TOKEN = re.compile(r"^#|^\d{3,}$|^(?=[A-Z0-9]*[A-Z])(?=(?:[A-Z]*\d){3})[A-Z0-9]{4,}$")
# Trailing words that are not part of the name.
_NOISE = frozenset({
    "INC", "LLC", "CORP", "CORPORATION", "LTD", "CO", "STORE", "STORES", "STR", "USA", "US",
    "ONLINE", "GOSQ", "PENDING", "PURCHASE", "RECURRING", "PAYMENT", "PMT", "BILL", "HTTPS", "WWW",
})
STATES = frozenset("""AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO
MT NE NV NH NJ NM NY NC ND OH OK OR PA PR RI SC SD TN TX UT VT VA WA WV WI WY""".split())


@dataclass(frozen=True)
class _Places:
    """Known city names (to drop a trailing `CITY ST`), and their long prefixes (truncation)."""
    cities: frozenset[str]
    prefixes: frozenset[str]


@lru_cache(maxsize=1)
def _places() -> _Places:
    data = tomllib.loads(DATA_FILE.read_text(encoding="utf-8"))
    cities = frozenset(" ".join(c.upper().split()) for c in data.get("places", {}).get("cities", []))
    # Issuers cut the city field at ~13 characters ("SAN FRANCISC"): accept long prefixes too.
    prefixes = frozenset(c[:n] for c in cities for n in range(9, len(c)))
    return _Places(cities, prefixes)


def _ascii_upper(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return text.upper().strip()


def _strip_processor(text: str) -> str:
    for pattern, fallback in _PROCESSORS:
        m = pattern.match(text)
        if m:
            rest = text[m.end():].strip(" *")
            return rest if re.search(r"[A-Z]", rest) else fallback
    return text


def _cut_fixed_width(text: str) -> str:
    """`NAME  CITY   ST` (columns padded with spaces): keep the name column."""
    parts = _GAP.split(text.strip())
    if len(parts) < 2 or parts[-1].split()[-1] not in STATES:
        return text
    if len(parts) >= 3 and parts[-1] in STATES:
        return " ".join(parts[:-2])
    return parts[0]


def _drop_trailing_place(tokens: list[str]) -> list[str]:
    """Drop a trailing `CITY ST` (the city only when a state was there)."""
    if len(tokens) < 2 or tokens[-1] not in STATES:
        return tokens
    tokens = tokens[:-1]
    places = _places()
    for n in (3, 2, 1):
        if len(tokens) > n:
            tail = " ".join(tokens[-n:])
            if tail in places.cities or tail in places.prefixes:
                return tokens[:-n]
    return tokens


def _drop_noise(tokens: list[str]) -> list[str]:
    while len(tokens) > 1 and tokens[-1] in _NOISE:
        tokens = tokens[:-1]
    if len(tokens) > 1 and tokens[0] == "THE":
        tokens = tokens[1:]
    return tokens


def _normalize_pass(text: str) -> str:
    text = _ascii_upper(text)
    for pattern, name in _REWRITES:
        if pattern.match(text):
            return name
    text = _strip_processor(text)
    text = _cut_fixed_width(text)
    text = _PHONE.sub(" # ", text)
    text = mask_text(text)
    text = _DOMAIN.sub(" ", text)
    text = _LONG_RUN.sub(" # ", _STORE_CODE.sub(" # ", text))
    text = _TO_SPACE.sub(" ", _DROP_CHARS.sub("", text))
    tokens = [t for t in (t.strip("-") for t in text.split()) if t]
    cut = next((i for i, t in enumerate(tokens) if i > 0 and _CUT_TOKEN.match(t)), None)
    if cut is not None:
        tokens = tokens[:cut]
    tokens = [t for t in tokens if not t.startswith("#")]
    tokens = _drop_noise(_drop_trailing_place(_drop_noise(tokens)))
    while tokens and tokens[-1] == "&":
        tokens = tokens[:-1]
    return " ".join(tokens)


@lru_cache(maxsize=200_000)
def normalize_text(text: str) -> str:
    """One descriptor -> merchant name (upper case). Repeated until stable, so idempotent."""
    current = text
    for _ in range(8):
        nxt = _normalize_pass(current)
        if nxt == current:
            break
        current = nxt
    return current


def normalize(s: pd.Series) -> pd.Series:
    """Descriptors -> clean upper-case merchant names (processor prefixes, store numbers,
    city/state, phone and reference numbers removed). Idempotent; computed once per distinct
    descriptor. Missing stays <NA>."""
    return map_unique(s, normalize_text)
