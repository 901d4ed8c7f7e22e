"""The card catalog: a TOML data file of cards, their earning rules and point valuations.

Terms change every quarter, so the catalog is data the user can replace (`--catalog FILE`),
and it is validated on load: a bad entry names the card and the field.
"""
from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from backend.categories import CATEGORIES, GROUPS, expand

DEFAULT_CATALOG = Path(__file__).parent / "data" / "cards.toml"
RULE_KINDS = ("bonus", "rotating", "choice", "top_n", "portal")
PERIODS = ("month", "quarter", "year")
PROFILES = ("cash", "travel", "transfer")


class CatalogError(ValueError):
    """A catalog entry that cannot be used; the message names the card and field."""


@dataclass(frozen=True)
class Cap:
    """A spend cap: the bonus applies to the first `amount` dollars per `period`."""
    name: str
    amount: float
    period: str


@dataclass(frozen=True)
class Quarter:
    """One dated entry of a rotating calendar."""
    start: dt.date
    end: dt.date
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """One earning rule. `rate` is points (or cents) per dollar."""
    kind: str
    rate: float
    categories: tuple[str, ...] = ()
    cap: Cap | None = None
    n: int = 0                                  # top_n: how many categories earn the bonus
    calendar: tuple[Quarter, ...] = ()          # rotating
    options: dict[str, tuple[str, ...]] = field(default_factory=dict)  # choice: name -> categories
    default_choice: str | None = None           # choice
    label: str = ""                             # short words for reasoning, e.g. "3x dining"


@dataclass(frozen=True)
class Card:
    id: str
    name: str
    issuer: str
    kind: str            # personal | business
    annual_fee: float
    currency: str
    base_rate: float
    rules: tuple[Rule, ...]
    as_of: dt.date
    source: str
    note: str = ""

    @property
    def choice_rule(self) -> Rule | None:
        return next((r for r in self.rules if r.kind == "choice"), None)

    @property
    def has_rotating(self) -> bool:
        return any(r.kind == "rotating" for r in self.rules)


@dataclass(frozen=True)
class Currency:
    id: str
    name: str
    cents: dict[str, float]   # profile -> cents per point


@dataclass(frozen=True)
class Catalog:
    cards: dict[str, Card]
    currencies: dict[str, Currency]
    path: str
    raw: dict = field(default_factory=dict, repr=False)   # the decoded document, for subsets

    def subset(self, card_ids: list[str]) -> dict:
        """A JSON-safe catalog document with only these cards (and all currencies).

        Payloads carry it so a remote worker needs nothing but the payload.
        """
        def plain(value):
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            if isinstance(value, (dt.date, dt.datetime)):
                return value.isoformat()
            return value
        wanted = set(card_ids)
        return {"currencies": plain(self.raw.get("currencies", {})),
                "cards": [plain(c) for c in self.raw.get("cards", []) if c.get("id") in wanted]}

    def card(self, card_id: str) -> Card:
        try:
            return self.cards[card_id]
        except KeyError:
            raise CatalogError(f"unknown card id {card_id!r}") from None

    def cents_per_point(self, profile: str = "cash", overrides: dict[str, float] | None = None) -> dict[str, float]:
        """Cents per point of every currency under a valuation profile, with user overrides."""
        if profile not in PROFILES:
            raise CatalogError(f"unknown valuation profile {profile!r}; use one of {', '.join(PROFILES)}")
        values = {cid: cur.cents[profile] for cid, cur in self.currencies.items()}
        for cid, cents in (overrides or {}).items():
            if cid not in values:
                raise CatalogError(f"unknown currency {cid!r} in a valuation override; known: {', '.join(sorted(values))}")
            values[cid] = float(cents)
        return values


def _need(entry: dict, key: str, where: str, kind: type | tuple[type, ...]):
    if key not in entry:
        raise CatalogError(f"{where}: missing field '{key}'")
    value = entry[key]
    if kind is dt.date and isinstance(value, dt.datetime):
        raise CatalogError(f"{where}: field '{key}' is not a date ({value.isoformat()!r})")
    if kind is dt.date and isinstance(value, str):   # JSON payloads carry dates as ISO text
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise CatalogError(f"{where}: field '{key}' is not a date ({value!r})") from None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise CatalogError(f"{where}: field '{key}' has the wrong type ({type(value).__name__})")
    return value


def _table(value, where: str) -> dict:
    """A TOML table, or a CatalogError naming where the wrong shape is."""
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: must be a table, not {type(value).__name__}")
    return value


def _categories(names, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(names, list) or not names:
        raise CatalogError(f"{where}: field '{key}' must be a non-empty list of categories")
    for name in names:
        if name not in CATEGORIES and name not in GROUPS:
            raise CatalogError(f"{where}: field '{key}' names unknown category {name!r}")
    return expand(names)


def _rate(entry: dict, key: str, where: str) -> float:
    value = _need(entry, key, where, (int, float))
    if not math.isfinite(value):
        raise CatalogError(f"{where}: field '{key}' must be a finite number")
    if value < 0:
        raise CatalogError(f"{where}: field '{key}' must not be negative")
    return float(value)


def _parse_cap(raw, caps: dict[str, Cap], where: str) -> Cap | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw not in caps:
            raise CatalogError(f"{where}: field 'cap' names undefined cap {raw!r}")
        return caps[raw]
    if isinstance(raw, dict):
        return _cap_entry(f"{where}.cap", raw, name=where)
    raise CatalogError(f"{where}: field 'cap' must be a cap name or a table")


def _cap_entry(where: str, raw: dict, name: str) -> Cap:
    _table(raw, where)
    amount = _need(raw, "amount", where, (int, float))
    period = _need(raw, "period", where, str)
    if amount <= 0:
        raise CatalogError(f"{where}: field 'amount' must be positive")
    if period not in PERIODS:
        raise CatalogError(f"{where}: field 'period' must be one of {', '.join(PERIODS)}")
    return Cap(name=name, amount=float(amount), period=period)


def _parse_rule(raw: dict, card_id: str, index: int, caps: dict[str, Cap]) -> Rule:
    where = f"card {card_id}: rules[{index}]"
    _table(raw, where)
    kind = _need(raw, "kind", where, str)
    if kind not in RULE_KINDS:
        raise CatalogError(f"{where}: field 'kind' must be one of {', '.join(RULE_KINDS)}")
    rate = _rate(raw, "rate", where)
    cap = _parse_cap(raw.get("cap"), caps, where)
    label = raw.get("label", "")
    if kind == "rotating":
        calendar = []
        for q, entry in enumerate(_need(raw, "calendar", where, list)):
            qwhere = f"{where}.calendar[{q}]"
            _table(entry, qwhere)
            start, end = _need(entry, "start", qwhere, dt.date), _need(entry, "end", qwhere, dt.date)
            if end < start:
                raise CatalogError(f"{qwhere}: field 'end' is before 'start'")
            calendar.append(Quarter(start, end, _categories(entry.get("categories"), qwhere, "categories")))
        return Rule(kind, rate, cap=cap, calendar=tuple(calendar), label=label)
    if kind == "choice":
        raw_options = _need(raw, "options", where, list)
        options = {name: _categories([name], where, "options") for name in raw_options}
        default = raw.get("default", raw_options[0] if raw_options else None)
        if default not in options:
            raise CatalogError(f"{where}: field 'default' must be one of the options")
        return Rule(kind, rate, cap=cap, options=options, default_choice=default, label=label)
    categories = _categories(raw.get("categories"), where, "categories")
    n = 0
    if kind == "top_n":
        n = _need(raw, "n", where, int)
        if not 1 <= n <= len(categories):
            raise CatalogError(f"{where}: field 'n' must be between 1 and the number of categories")
    return Rule(kind, rate, categories=categories, cap=cap, n=n, label=label)


def _parse_card(raw: dict, index: int, currencies: dict[str, Currency]) -> Card:
    _table(raw, f"cards[{index}]")
    card_id = raw.get("id")
    if not isinstance(card_id, str) or not card_id:
        raise CatalogError(f"cards[{index}]: missing field 'id'")
    where = f"card {card_id}"
    currency = _need(raw, "currency", where, str)
    if currency not in currencies:
        raise CatalogError(f"{where}: field 'currency' names unknown currency {currency!r}")
    kind = raw.get("kind", "personal")
    if kind not in ("personal", "business"):
        raise CatalogError(f"{where}: field 'kind' must be personal or business")
    caps = {name: _cap_entry(f"{where}: caps.{name}", entry, name=name)
            for name, entry in _table(raw.get("caps", {}), f"{where}: field 'caps'").items()}
    rules = tuple(_parse_rule(r, card_id, i, caps) for i, r in enumerate(raw.get("rules", [])))
    if sum(r.kind == "choice" for r in rules) > 1:
        raise CatalogError(f"{where}: field 'rules' has more than one choice rule")
    fee = _rate(raw, "annual_fee", where)
    return Card(
        id=card_id,
        name=_need(raw, "name", where, str),
        issuer=_need(raw, "issuer", where, str),
        kind=kind,
        annual_fee=float(fee),
        currency=currency,
        base_rate=_rate(raw, "base_rate", where),
        rules=rules,
        as_of=_need(raw, "as_of", where, dt.date),
        source=_need(raw, "source", where, str),
        note=raw.get("note", ""),
    )


def _parse_currencies(raw: dict) -> dict[str, Currency]:
    out = {}
    for cid, entry in raw.items():
        where = f"currency {cid}"
        _table(entry, where)
        cents = {p: float(_need(entry, p, where, (int, float))) for p in PROFILES}
        out[cid] = Currency(cid, entry.get("name", cid), cents)
    return out


def parse_catalog(data: dict, path: str = "<catalog>") -> Catalog:
    """Validate a decoded catalog document."""
    currencies = _parse_currencies(data.get("currencies", {}))
    if not currencies:
        raise CatalogError(f"{path}: no [currencies] defined")
    cards: dict[str, Card] = {}
    for i, raw in enumerate(data.get("cards", [])):
        card = _parse_card(raw, i, currencies)
        if card.id in cards:
            raise CatalogError(f"card {card.id}: field 'id' is used twice")
        cards[card.id] = card
    if not cards:
        raise CatalogError(f"{path}: no [[cards]] defined")
    return Catalog(cards=cards, currencies=currencies, path=path, raw=data)


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate a catalog file (the bundled one by default)."""
    path = Path(path) if path else DEFAULT_CATALOG
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: not valid TOML ({exc})") from None
    try:
        return parse_catalog(data, str(path))
    except CatalogError as exc:
        raise CatalogError(f"{path}: {exc}") from None
