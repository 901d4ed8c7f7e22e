"""Cell values shared by every format: money, dates, and why a row is not a purchase.

Statements repeat the same few dates, amounts and descriptors many times, so each function
works on the distinct values (`by_unique`) and spreads the answers back: a million rows cost
about as much as their few thousand distinct values.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

US_DATES = ("%m/%d/%Y", "%m/%d/%y", "ISO8601")
ISO_DATES = ("ISO8601", "%m/%d/%Y", "%m/%d/%y")
# Tried in this order when a column mapping gives no date format: the one that reads most wins.
ANY_DATES = ("ISO8601", "%m/%d/%Y", "%m/%d/%y", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%b %d, %Y",
             "%d %b %Y", "%m-%d-%Y")

SKIP_KINDS = ("payment", "refund", "credit", "fee", "interest", "adjustment")

# Descriptor words (upper case) that say what a non-purchase row is. Applied by sign only:
# payment/refund words to credits, fee/interest words to charges.
_PAYMENT = (r"\bPAYMENTS?\b|\bAUTOPAY\b|AUTO PAY|\bPYMT\b|\bPMT\b|THANK YOU|\bEPAY\b"
            r"|ONLINE TRANSFER|\bACH (?:CREDIT|PMT)\b")
_REFUND = r"\bREFUND|\bRETURN|\bREVERSAL\b|\bCHARGEBACK\b|\bRFND\b"
_INTEREST = (r"\bINTEREST CHARGED?\b|\bINTEREST ON\b|\bPURCHASE INTEREST\b|\bCASH ADVANCE INTEREST\b"
             r"|\bFINANCE CHARGE\b|^INTEREST\b")
_FEE = (r"\b(?:ANNUAL|LATE|LATE PAYMENT|FOREIGN (?:TRANSACTION|TRANS|TXN|CURRENCY)|CASH ADVANCE"
        r"|BALANCE TRANSFER|RETURNED PAYMENT|RETURNED CHECK|OVER ?LIMIT|MEMBERSHIP|MONTHLY|INTL"
        r"|INTERNATIONAL TRANSACTION) FEE\b|^FEE\b|\bFEE ASSESSED\b")


def by_unique(values: pd.Series, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`fn` applied to the distinct values only, spread back to every row (same index)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    done = fn(pd.Series(uniques, dtype="str")).reset_index(drop=True)
    out = done.take(codes)
    out.index = values.index
    return out


def parse_money(values: pd.Series) -> pd.Series:
    """Money text -> float: `$1,234.56`, `-5.00`, `$-5.00`, `(12.00)` and `12.00-` are negative
    forms; blank or unreadable -> NaN (the caller decides what a blank means)."""
    def parse(u: pd.Series) -> pd.Series:
        text = u.str.strip().str.replace(r"[$,\s]|USD", "", regex=True)
        paren = text.str.match(r"^\(.*\)$").fillna(False)
        text = text.str.replace(r"^\((.*)\)$", r"\1", regex=True)
        text = text.str.replace(r"^\+", "", regex=True).str.replace(r"^(.+)-$", r"-\1", regex=True)
        num = pd.to_numeric(text, errors="coerce").astype("float64")
        num = num.where(np.isfinite(num))
        return num.where(~paren.to_numpy(), -num.abs())
    return by_unique(values, parse).astype("float64")


def iso_dates(values: pd.Series, formats: tuple[str, ...] = US_DATES) -> pd.Series:
    """Date text -> ISO 8601 text (`2025-01-15`, with a time when it has one).

    Each format is tried in order; a value none of them reads is kept as written (trimmed), so
    the row checks report it as `timestamp is not a date: ...`.
    """
    def parse(u: pd.Series) -> pd.Series:
        raw = u.str.strip()
        ts = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
        for fmt in formats:
            todo = ts.isna()
            if not todo.any():
                break
            got = pd.to_datetime(raw[todo], format=fmt, errors="coerce")
            if getattr(got.dt, "tz", None) is not None:
                got = got.dt.tz_convert("UTC").dt.tz_localize(None)
            ts[todo] = got.astype("datetime64[ns]")
        has_time = ts.notna() & (ts != ts.dt.normalize())
        out = ts.dt.strftime("%Y-%m-%d").astype("str")
        out[has_time] = ts[has_time].dt.strftime("%Y-%m-%dT%H:%M:%S")
        return out.where(ts.notna(), raw).astype("str")
    return by_unique(values, parse)


def best_date_format(values: pd.Series, formats: tuple[str, ...] = ANY_DATES) -> str:
    """The format that reads the most of these dates (for a mapping that names none)."""
    sample = values[values.str.strip() != ""].drop_duplicates().head(500)
    scores = {f: pd.to_datetime(sample.str.strip(), format=f, errors="coerce").notna().sum() for f in formats}
    return max(formats, key=lambda f: scores[f])


def skip_reasons(amount: pd.Series, description: pd.Series, kind: pd.Series | None = None) -> pd.Series:
    """Why each row is not a purchase ('' when it is one): `payment: AUTOPAY THANK YOU`.

    `amount` is purchase-positive; `kind` is the issuer's own word mapped to one of
    "purchase", SKIP_KINDS or '' (unknown), and wins when given. Otherwise charges are
    purchases unless the descriptor names interest or a fee; credits are payments, refunds or
    other credits by their descriptor. Zero and unreadable amounts are left to the row checks.
    """
    n = len(amount)
    amt = amount.to_numpy(dtype="float64", na_value=np.nan)
    kinds = (kind.fillna("").astype("str").to_numpy(dtype=object) if kind is not None
             else np.full(n, "", dtype=object))
    upper = description.astype("str").str.upper()

    def matches(pattern: str, where: np.ndarray) -> np.ndarray:
        hit = np.zeros(n, dtype=bool)
        idx = np.flatnonzero(where)
        if len(idx):
            sub = upper.iloc[idx]
            hit[idx] = by_unique(sub, lambda u: u.str.contains(pattern, regex=True)).to_numpy(dtype=bool)
        return hit

    unknown = (kinds == "") | (kinds == "purchase")
    charge = amt > 0
    credit = amt < 0
    out = np.where(unknown, "", kinds).astype(object)
    # Issuer said fee/adjustment/unknown on a charge: its words may say interest.
    maybe_interest = charge & (unknown | (kinds == "fee") | (kinds == "adjustment"))
    interest = matches(_INTEREST, maybe_interest)
    out[interest] = "interest"
    fee = matches(_FEE, charge & unknown & ~interest)
    out[fee] = "fee"
    # Credits the issuer did not explain (or called a purchase): payment, refund or credit.
    open_credit = credit & unknown
    payment = matches(_PAYMENT, open_credit)
    refund = matches(_REFUND, open_credit & ~payment)
    out[open_credit] = "credit"
    out[refund] = "refund"
    out[payment] = "payment"
    reason = pd.Series(out, index=amount.index, dtype="str")
    has = reason != ""
    if has.any():
        phrase = description[has].astype("str").str.strip().str.slice(0, 60)
        reason[has] = reason[has] + ": " + phrase
    return reason


def kinds_from(labels: pd.Series, words: dict[str, str], prefixes: dict[str, str] | None = None) -> pd.Series:
    """An issuer's Type/Category text -> "purchase", a skip kind, or '' (unknown).

    `words` match the whole label (case-insensitive), `prefixes` its start (Amex `Fees & ...`).
    """
    def lookup(u: pd.Series) -> pd.Series:
        low = u.str.strip().str.lower()
        out = low.map(words).astype("str").fillna("")
        for prefix, kind in (prefixes or {}).items():
            out = out.where(~low.str.startswith(prefix).fillna(False), kind)
        return out.fillna("").astype("str")
    return by_unique(labels.astype("str"), lookup)
