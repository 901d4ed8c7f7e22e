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
import pyarrow as pa

DATA_FILE = Path(__file__).parent / "data" / "merchants.toml"

# ---------------------------------------------------------------------------------------------
# Per-distinct-value mapping
# ---------------------------------------------------------------------------------------------


def _as_string(s: pd.Series) -> pd.Series:
    """The series as nullable strings (numbers and other objects become their text)."""
    return s if isinstance(s.dtype, pd.StringDtype) else s.astype("string")


def from_codes(values: list[str | None], codes: np.ndarray, index: pd.Index,
               name: str | None = None) -> pd.Series:
    """`values[codes]` as a `string` Series (code -1 or a None value -> <NA>).

    Built with pyarrow's take: ten times faster than a million-element object array."""
    table = pa.array(values, type=pa.large_string())
    taken = table.take(pa.array(codes, mask=codes < 0))
    return pd.Series(pd.arrays.ArrowStringArray(taken), index=index, name=name)


def map_unique(s: pd.Series, fn: Callable[[str], str | None]) -> pd.Series:
    """Apply `fn` once per distinct non-missing value and map the results back onto the rows.

    Missing values stay <NA>; `fn` may return None for "no answer". Result dtype is `string`.
    """
    s = _as_string(s)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return from_codes([fn(u) for u in uniques], codes, s.index, s.name)


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
_DOMAIN = re.compile(r"^WWW\.|\.(?:COM|NET|ORG|IO|CO|US|AI|APP|TV|ME|INFO)\b(?:/\S*)?")
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


def _one_of(patterns: list[tuple[re.Pattern[str], str]]) -> re.Pattern[str]:
    """One regex trying each pattern in order; the matching one is named `p<index>`."""
    return re.compile("|".join(f"(?P<p{i}>{p.pattern})" for i, (p, _) in enumerate(patterns)))


_REWRITE_ANY = _one_of(_REWRITES)
_PROCESSOR_ANY = _one_of(_PROCESSORS)


def _ascii_upper(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return text.upper().strip()


def _rewrite(text: str) -> str | None:
    m = _REWRITE_ANY.match(text)
    return _REWRITES[int(m.lastgroup[1:])][1] if m else None


def _strip_processor(text: str) -> str:
    m = _PROCESSOR_ANY.match(text)
    if not m:
        return text
    rest = text[m.end():].strip(" *")
    return rest if re.search(r"[A-Z]", rest) else _PROCESSORS[int(m.lastgroup[1:])][1]


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


@lru_cache(maxsize=200_000)
def _normalize_pass(text: str) -> str:
    """One cleaning pass. Cached: many descriptors reduce to the same name after one pass,
    and the second (confirming) pass of that name is then free."""
    text = _ascii_upper(text)
    if (name := _rewrite(text)) is not None:
        return name
    text = _strip_processor(text)
    text = _cut_fixed_width(text)
    text = _PHONE.sub(" # ", mask_text(text))   # mask first: no card number survives a pass
    text = _DOMAIN.sub(" ", text)
    text = _LONG_RUN.sub(" # ", _STORE_CODE.sub(" # ", text))
    text = text.replace("+", " PLUS ").replace("#", " #")
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


# ---------------------------------------------------------------------------------------------
# The curated dictionary
# ---------------------------------------------------------------------------------------------

FUZZY_MIN_LENGTH = 6          # shorter names differ by one letter from too many others
FUZZY_CUTOFF_SHORT = 92.0     # fuzz.ratio for names of 6-8 characters (one typo)
FUZZY_CUTOFF_LONG = 89.0      # fuzz.ratio for longer names
_GLUE_MIN_LENGTH = 7          # a single-word key this long may prefix a glued name
_ANYWHERE_MIN_LENGTH = 8      # a key this long may match words anywhere (not APPLE in BIG APPLE BAGELS)


def compact(name: str) -> str:
    """The matching form of a normalized name: letters and digits only."""
    return re.sub(r"[^A-Z0-9]", "", name)


@dataclass(frozen=True)
class MerchantDictionary:
    """Compact alias -> category, and the aliases that may match a glued or fuzzy name."""
    categories: dict[str, str]
    names: dict[str, str]               # compact alias -> display name
    glue_lengths: tuple[int, ...]       # lengths of aliases allowed as glued prefixes, longest first
    glue_keys: frozenset[str]
    fuzzy_keys: tuple[str, ...]

    def __len__(self) -> int:
        return len(set(self.names.values()))


def _load_dictionary(path: Path) -> MerchantDictionary:
    """Read and check data/merchants.toml: known categories, no alias under two categories."""
    from backend.categories import CATEGORIES

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    categories: dict[str, str] = {}
    names: dict[str, str] = {}
    problems: list[str] = []
    glue: set[str] = set()
    for category, entries in data.get("merchants", {}).items():
        if category not in CATEGORIES:
            problems.append(f"[merchants.{category}]: unknown category")
            continue
        for display, aliases in entries.items():
            for alias in [display, *aliases]:
                name = normalize_text(alias)
                key = compact(name)
                if not key:
                    problems.append(f"[merchants.{category}] {display!r}: alias {alias!r} is empty")
                    continue
                if categories.get(key, category) != category:
                    problems.append(f"[merchants.{category}] {display!r}: alias {alias!r} is already "
                                    f"{names[key]!r} under {categories[key]!r}")
                    continue
                categories[key] = category
                names.setdefault(key, display)
                if len(name.replace("-", " ").split()) > 1 or len(key) >= _GLUE_MIN_LENGTH:
                    glue.add(key)
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    fuzzy = tuple(sorted(k for k in categories if len(k) >= FUZZY_MIN_LENGTH))
    lengths = tuple(sorted({len(k) for k in glue}, reverse=True))
    return MerchantDictionary(categories, names, lengths, frozenset(glue), fuzzy)


@lru_cache(maxsize=1)
def dictionary() -> MerchantDictionary:
    """The curated merchant dictionary (loaded once)."""
    return _load_dictionary(DATA_FILE)


# ---------------------------------------------------------------------------------------------
# Lookup
# ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _keyword_patterns() -> dict[str, re.Pattern[str]]:
    """categories._KEYWORDS as one word-boundary regex per category (upper case)."""
    from backend.categories import _KEYWORDS

    return {cat: re.compile(r"\b(?:" + "|".join(re.escape(w.upper()) for w in words) + r")\b")
            for cat, words in _KEYWORDS.items()}


def _contradicted(name: str, category: str) -> bool:
    """Does the name carry a word of another category (`ARCO IRIS BAKERY`, `BP COFFEE`)?

    Used for weak matches only (one leading brand word, or words inside the name). Wholesale
    clubs and superstores are never contradicted: `TARGET GROCERY` stays a superstore."""
    if category in ("wholesale_club", "superstore"):
        return False
    hits = {cat for cat, pattern in _keyword_patterns().items() if pattern.search(name)}
    return bool(hits) and category not in hits


@lru_cache(maxsize=200_000)
def dictionary_match(name: str) -> str | None:
    """Category of a normalized name from the dictionary: the whole name, else its longest
    leading words, else a glued prefix (`WALMARTSUPERCENTER`), else the longest run of words
    anywhere (`COURTYARD BY MARRIOTT` finds `MARRIOTT`). A match on one leading word, a glued
    prefix or inner words is dropped when the name has a keyword of another category."""
    d = dictionary()
    tokens = [compact(t) for t in name.replace("-", " ").split()]
    tokens = [t for t in tokens if t]
    if not tokens:
        return None
    for k in range(len(tokens), 0, -1):                       # whole name, then leading words
        hit = d.categories.get("".join(tokens[:k]))
        if hit:
            weak = k == 1 < len(tokens)
            return None if weak and _contradicted(name, hit) else hit
    whole = "".join(tokens)
    for length in d.glue_lengths:                             # glued words
        if length < len(whole) and whole[:length] in d.glue_keys:
            hit = d.categories[whole[:length]]
            return None if _contradicted(name, hit) else hit
    for n in range(len(tokens) - 1, 0, -1):                   # words anywhere, longest first
        for start in range(1, len(tokens) - n + 1):
            key = "".join(tokens[start:start + n])
            if len(key) >= _ANYWHERE_MIN_LENGTH and key in d.categories:
                hit = d.categories[key]
                return None if _contradicted(name, hit) else hit
    return None


def _fuzzy_candidates(name: str) -> list[str]:
    """Compact forms tried against the dictionary: the whole name and its leading 1-4 words."""
    tokens = [compact(t) for t in name.replace("-", " ").split()]
    tokens = [t for t in tokens if t]
    out = {"".join(tokens[:k]) for k in range(1, min(len(tokens), 4) + 1)} | {"".join(tokens)}
    return [c for c in out if len(c) >= FUZZY_MIN_LENGTH]


def fuzzy_match(names: list[str], chunk: int = 2000) -> dict[str, str]:
    """Category of each name that is a near spelling of a dictionary alias (rapidfuzz ratio
    on compact forms; 92+ for 6-8 characters, 89+ for longer). Names without a match are left out."""
    from rapidfuzz import fuzz, process

    d = dictionary()
    pairs = [(name, cand) for name in names for cand in _fuzzy_candidates(name)]
    if not pairs or not d.fuzzy_keys:
        return {}
    best: dict[str, tuple[float, int, str]] = {}
    for lo in range(0, len(pairs), chunk):
        block = pairs[lo:lo + chunk]
        scores = process.cdist([c for _, c in block], d.fuzzy_keys, scorer=fuzz.ratio,
                               score_cutoff=FUZZY_CUTOFF_LONG, dtype=np.float32, workers=1)
        for row, (name, cand) in enumerate(block):
            j = int(np.argmax(scores[row]))
            score = float(scores[row, j])
            key = d.fuzzy_keys[j]
            cutoff = FUZZY_CUTOFF_SHORT if min(len(cand), len(key)) <= 8 else FUZZY_CUTOFF_LONG
            if score < cutoff or cand == key:      # an exact key was the dictionary's call
                continue
            rank = (score, len(key), key)
            if name not in best or rank > best[name]:
                best[name] = rank
    return {name: d.categories[key] for name, (_, _, key) in best.items()}


def lookup(merchants: pd.Series, corrections: dict[str, str] | None = None
           ) -> tuple[pd.Series, pd.Series]:
    """Reward category and evidence per row (same index); <NA> where the name is unknown.

    Order: the user's saved corrections ("correction"), the curated dictionary ("dictionary"),
    a near spelling of a dictionary alias ("fuzzy"). Names are normalized first (idempotent),
    and each distinct name is resolved once. Corrections are read once per call.
    """
    if corrections is None:
        from backend.corrections import load_corrections
        corrections = load_corrections()
    raw = _as_string(merchants)
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    names = [normalize_text(u) for u in uniques]
    found: dict[str, tuple[str, str]] = {}
    for name in set(names):
        if name in corrections:
            found[name] = (corrections[name], "correction")
        elif (cat := dictionary_match(name)) is not None:
            found[name] = (cat, "dictionary")
    rest = sorted({n for n in names if n not in found})
    for name, cat in fuzzy_match(rest).items():
        if not _contradicted(name, cat):
            found[name] = (cat, "fuzzy")
    none = (None, None)
    cats = from_codes([found.get(n, none)[0] for n in names], codes, merchants.index, "category")
    evs = from_codes([found.get(n, none)[1] for n in names], codes, merchants.index, "evidence")
    return cats, evs


# ---------------------------------------------------------------------------------------------
# What the user should correct
# ---------------------------------------------------------------------------------------------

def unknown_merchants(frame: pd.DataFrame) -> pd.DataFrame:
    """Merchants whose purchases were left as `other` for lack of evidence, biggest spend first.

    `frame` is a results frame with merchant, reward_category, amount_usd and either
    category_evidence ("none" = nothing known) or confidence (at most the "none" weight).
    Rows with an MCC, skipped or failed rows are not the user's to correct.
    Returns columns merchant (normalized), count, spend (absolute amounts, USD).
    """
    from backend.categories import EVIDENCE_WEIGHT

    category = frame["reward_category"].astype("string")
    unknown = category.isna() | (category == "other")
    if "category_evidence" in frame:
        evidence = frame["category_evidence"].astype("string")
        unknown &= evidence.isna() | (evidence == "none")
    elif "confidence" in frame:
        confidence = pd.to_numeric(frame["confidence"], errors="coerce")
        unknown &= confidence.isna() | (confidence <= EVIDENCE_WEIGHT["none"] + 1e-9)
    if "mcc" in frame:
        from backend.categories import parse_mcc
        unknown &= parse_mcc(frame["mcc"]).isna()
    if "status" in frame:
        unknown &= ~frame["status"].astype("string").isin(["skipped", "error"]).fillna(False)
    rows = frame.loc[unknown.fillna(False).to_numpy()]
    out = pd.DataFrame({
        "merchant": normalize(mask_digits(rows["merchant"])).fillna(""),
        "amount": pd.to_numeric(rows["amount_usd"], errors="coerce").fillna(0.0).abs(),
    })
    out = out[out["merchant"] != ""]
    grouped = (out.groupby("merchant", sort=False)
               .agg(count=("amount", "size"), spend=("amount", "sum"))
               .reset_index())
    grouped["spend"] = grouped["spend"].round(2)
    return grouped.sort_values(["spend", "count", "merchant"], ascending=[False, False, True],
                               kind="stable", ignore_index=True)
