"""Cell values shared by every format: money, dates, and why a row is not a purchase.

Statements repeat the same few dates, amounts and descriptors many times, so each function
works on the distinct values (`by_unique`) and spreads the answers back: a million rows cost
about as much as their few thousand distinct values.
"""
from __future__ import annotations

from dataclasses import dataclass
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
    """Money text -> float: `$1,234.56`; `-5.00`, `$-5.00`, `(12.00)`, `12.00-` and `12.00 CR`
    are negative; blank or unreadable -> NaN (the caller decides what a blank means)."""
    def parse(u: pd.Series) -> pd.Series:
        text = u.str.strip().str.upper().str.replace(r"[$,\s]|USD|DR$", "", regex=True)
        credit = text.str.endswith("CR").fillna(False)          # `12.00 CR`: a credit
        text = text.str.replace(r"CR$", "", regex=True)
        paren = text.str.match(r"^\(.*\)$").fillna(False) | credit
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
            # utc=True: times with (even mixed) offsets become UTC; plain dates stay as written.
            got = pd.to_datetime(raw[todo], format=fmt, errors="coerce", utc=True)
            ts[todo] = got.dt.tz_localize(None).astype("datetime64[ns]")
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


@dataclass
class Distinct:
    """A text column as codes into its distinct values: work on `values`, spread with `rows()`."""
    codes: np.ndarray
    values: pd.Series            # str, one per code
    index: pd.Index              # the column's row index

    @classmethod
    def of(cls, column: pd.Series) -> "Distinct":
        codes, uniques = pd.factorize(column.astype("str"), use_na_sentinel=False)
        return cls(codes, pd.Series(uniques, dtype="str"), column.index)

    def map(self, fn: Callable[[pd.Series], pd.Series]) -> "Distinct":
        """The same rows with each distinct value replaced by `fn(values)`."""
        return Distinct(self.codes, fn(self.values).reset_index(drop=True), self.index)

    def rows(self) -> pd.Series:
        out = self.values.take(self.codes)
        out.index = self.index
        return out

    def flags(self, pattern: str) -> np.ndarray:
        """Per row: does the value contain `pattern` (regex)?"""
        hit = self.values.str.contains(pattern, regex=True).fillna(False).to_numpy(dtype=bool)
        return hit[self.codes]


def skip_reasons(amount: pd.Series, description: pd.Series | Distinct, kind: pd.Series | None = None) -> pd.Series:
    """Why each row is not a purchase ('' when it is one): `payment: AUTOPAY THANK YOU`.

    `amount` is purchase-positive; `kind` is the issuer's own word mapped to one of
    "purchase", SKIP_KINDS or '' (unknown), and wins when given. Otherwise charges are
    purchases unless the descriptor names interest or a fee; credits are payments, refunds or
    other credits by their descriptor. Zero and unreadable amounts are left to the row checks.
    """
    desc = description if isinstance(description, Distinct) else Distinct.of(description)
    upper = desc.map(lambda v: v.str.upper())
    amt = amount.to_numpy(dtype="float64", na_value=np.nan)
    names = ("",) + SKIP_KINDS
    if kind is None:
        code = np.zeros(len(amt), dtype=np.int8)
    else:
        lookup = {k: i for i, k in enumerate(names)}
        code = by_unique(kind.fillna("").astype("str"), lambda u: u.map(lookup).fillna(0).astype(np.int8))
        code = code.to_numpy(dtype=np.int8, copy=True)
    unknown = code == 0
    charge, credit = amt > 0, amt < 0
    # Issuer said fee/adjustment/nothing on a charge: its words may still say interest.
    may_be_interest = charge & (unknown | (code == names.index("fee")) | (code == names.index("adjustment")))
    interest = may_be_interest & upper.flags(_INTEREST)
    code[interest] = names.index("interest")
    code[charge & unknown & ~interest & upper.flags(_FEE)] = names.index("fee")
    # Credits the issuer did not explain (or called a purchase): payment, refund or credit.
    open_credit = credit & unknown
    payment = open_credit & upper.flags(_PAYMENT)
    refund = open_credit & ~payment & upper.flags(_REFUND)
    code[open_credit] = names.index("credit")
    code[refund] = names.index("refund")
    code[payment] = names.index("payment")
    reason = pd.Series("", index=desc.index, dtype="str")
    has = np.flatnonzero(code != 0)
    if len(has):
        phrase = desc.values.take(desc.codes[has]).str.strip().str.slice(0, 60).to_numpy(dtype=object)
        reason.iloc[has] = np.asarray(names, dtype=object)[code[has]] + ": " + phrase
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
