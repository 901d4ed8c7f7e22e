"""The results explorer's numbers: filters, KPIs, grouped tables for the charts, paging.

Pure pandas, so the page only draws. A `RunView` wraps one run's results frame once (typed
columns, month keys) and caches what each filter combination needs, so a click on a chart
with a million rows behind it costs a few vectorized masks, not a reload.
"""
from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

STATUSES = ("ok", "skipped", "error")

# Columns of the table, in the order the explorer shows them.
TABLE_COLUMNS = [
    "timestamp", "user_id", "merchant", "amount_usd", "reward_category", "recommended_card_name",
    "reward_rate", "rewards_earned", "runner_up_card", "runner_up_rewards", "card_used", "actual_rewards",
    "missed_rewards", "confidence", "reasoning", "status", "error", "transaction_id", "mcc",
]


@dataclass(frozen=True)
class Filters:
    """What the user narrowed the results to. Empty tuples and None mean "no limit"."""
    cards: tuple[str, ...] = ()          # recommended card ids
    categories: tuple[str, ...] = ()     # reward categories
    accounts: tuple[str, ...] = ()       # user_id
    months: tuple[str, ...] = ()         # "2026-03"
    merchants: tuple[str, ...] = ()      # exact merchant names (a chart click)
    statuses: tuple[str, ...] = ()       # ok | skipped | error
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    amount_min: float | None = None
    amount_max: float | None = None
    min_confidence: float = 0.0
    text: str = ""                       # merchant contains (case-insensitive)

    def active(self) -> list[str]:
        """The names of the filters in use (for the page's "clear" chips)."""
        default = Filters()
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)]


@dataclass
class Kpis:
    rows: int
    scored: int
    skipped: int
    errors: int
    spend: float
    rewards: float
    effective_rate: float        # rewards / spend of scored rows
    actual_rewards: float | None   # what the cards actually used earned (None: card_used unknown)
    missed_rewards: float | None   # rewards missed vs the card actually used
    known_card_rows: int = 0       # scored rows whose card_used is known


def _num(series: pd.Series | None, n: int) -> np.ndarray:
    if series is None:
        return np.full(n, np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _text(series: pd.Series | None, n: int) -> pd.Series:
    if series is None:
        return pd.Series([""] * n, dtype="string")
    return series.astype("string").fillna("")


@dataclass(frozen=True)
class Key:
    """A text column as integer codes into sorted labels: fast to filter and group on."""
    codes: np.ndarray      # int64, one per row
    labels: np.ndarray     # object, sorted; '' for blanks

    @classmethod
    def of(cls, series: pd.Series | None, n: int) -> "Key":
        text = _text(series, n)
        codes, labels = pd.factorize(text, sort=True)
        return cls(codes.astype(np.int64), np.asarray(labels, dtype=object))

    def rows_in(self, values) -> np.ndarray:
        wanted = np.flatnonzero(np.isin(self.labels, list(values)))
        return np.isin(self.codes, wanted)

    def values(self, mask: np.ndarray | None = None) -> list[str]:
        """The distinct non-blank labels (of the masked rows)."""
        codes = self.codes if mask is None else self.codes[mask]
        return [v for v in self.labels[np.unique(codes)] if v != ""]

    def text(self) -> np.ndarray:
        return self.labels[self.codes]


def _timestamps(series: pd.Series | None, n: int) -> pd.Series:
    """UTC datetimes; ISO 8601 first (fast), any other spelling of the rest after."""
    if series is None:
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    ts = pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601")
    retry = ts.isna() & series.notna() & (series.astype("string").str.strip() != "")
    if retry.any():
        ts[retry] = pd.to_datetime(series[retry], errors="coerce", utc=True, format="mixed")
    return ts


def _month_key(ts: pd.Series) -> Key:
    """'2026-03' per row, built from year*12+month codes (no per-row string formatting)."""
    valid = ts.notna().to_numpy()
    raw = np.where(valid, ts.dt.year.to_numpy(dtype="float64", na_value=0) * 12
                   + ts.dt.month.to_numpy(dtype="float64", na_value=1) - 1, -1).astype(np.int64)
    uniq, codes = np.unique(raw, return_inverse=True)
    labels = np.array(["" if u < 0 else f"{u // 12:04d}-{u % 12 + 1:02d}" for u in uniq], dtype=object)
    return Key(codes.astype(np.int64), labels)


class RunView:
    """One run's results, typed once, with cached per-filter answers."""

    def __init__(self, results: pd.DataFrame, run_id: str = ""):
        self.run_id = run_id
        frame = results.reset_index(drop=True)
        n = len(frame)
        self.frame = frame
        self.n = n
        self.amount = _num(frame.get("amount_usd"), n)
        self.rewards = np.nan_to_num(_num(frame.get("rewards_earned"), n))
        self.confidence = np.nan_to_num(_num(frame.get("confidence"), n))
        self.actual = np.nan_to_num(_num(frame.get("actual_rewards"), n))
        self.missed = np.nan_to_num(_num(frame.get("missed_rewards"), n))
        self.status_key = Key.of(frame.get("status"), n)
        self.ok = self.status_key.rows_in(["ok"])
        ts = _timestamps(frame.get("timestamp"), n)
        self.date = ts.dt.tz_localize(None).dt.normalize().to_numpy(dtype="datetime64[ns]")
        self.month = _month_key(ts)
        self.card = Key.of(frame.get("recommended_card"), n)
        self.card_name = Key.of(frame.get("recommended_card_name"), n)
        self.category = Key.of(frame.get("reward_category"), n)
        self.account = Key.of(frame.get("user_id"), n)
        self.merchant = Key.of(frame.get("merchant"), n)
        self.card_used = Key.of(frame.get("card_used"), n)
        self.has_card_used = "card_used" in frame and bool(self.card_used.values())
        self.known_card = self.card_used.codes != int(np.searchsorted(self.card_used.labels, "")) \
            if "" in set(self.card_used.labels) else np.ones(n, dtype=bool)
        self._masks: OrderedDict[Filters, np.ndarray] = OrderedDict()
        self._memo: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def _cached(self, key: tuple, build):
        """Answers per (question, filters): a rerun that changes nothing costs nothing."""
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        value = build()
        with self._lock:
            self._memo[key] = value
            while len(self._memo) > 128:
                self._memo.popitem(last=False)
        return value

    # ------------------------------------------------------------------ filtering
    def options(self) -> dict[str, list]:
        """The values each filter can take (sorted), and the date and amount ranges."""
        def build():
            dates = self.date[~np.isnat(self.date)]
            amounts = self.amount[~np.isnan(self.amount)]
            present = set(self.status_key.values())
            return {
                "cards": self.card.values(self.ok),
                "categories": self.category.values(self.ok),
                "accounts": self.account.values(),
                "statuses": [s for s in STATUSES if s in present],
                "date_min": pd.Timestamp(dates.min()).date() if len(dates) else None,
                "date_max": pd.Timestamp(dates.max()).date() if len(dates) else None,
                "amount_min": float(amounts.min()) if len(amounts) else 0.0,
                "amount_max": float(amounts.max()) if len(amounts) else 0.0,
            }
        return self._cached(("options",), build)

    def mask(self, f: Filters | None = None) -> np.ndarray:
        """Rows kept by the filters (cached: the last 32 filter combinations)."""
        f = f or Filters()
        with self._lock:
            if f in self._masks:
                self._masks.move_to_end(f)
                return self._masks[f]
        keep = np.ones(self.n, dtype=bool)
        for values, key in ((f.cards, self.card), (f.categories, self.category), (f.accounts, self.account),
                            (f.months, self.month), (f.statuses, self.status_key), (f.merchants, self.merchant)):
            if values:
                keep &= key.rows_in(values)
        if f.text:
            hit = pd.Series(self.merchant.labels).str.contains(f.text, case=False, regex=False).to_numpy(dtype=bool)
            keep &= hit[self.merchant.codes]
        if f.date_from is not None:
            keep &= self.date >= np.datetime64(f.date_from, "ns")
        if f.date_to is not None:
            keep &= self.date <= np.datetime64(f.date_to, "ns")
        if f.amount_min is not None:
            keep &= self.amount >= f.amount_min
        if f.amount_max is not None:
            keep &= self.amount <= f.amount_max
        if f.min_confidence > 0:
            keep &= self.confidence >= f.min_confidence
        with self._lock:
            self._masks[f] = keep
            while len(self._masks) > 32:
                self._masks.popitem(last=False)
        return keep

    # ------------------------------------------------------------------ numbers
    def kpis(self, f: Filters | None = None) -> Kpis:
        return self._cached(("kpis", f), lambda: self._kpis(f))

    def _kpis(self, f: Filters | None) -> Kpis:
        keep = self.mask(f)
        ok = keep & self.ok
        spend = float(self.amount[ok].sum())
        rewards = float(self.rewards[ok].sum())
        known = ok & self.known_card
        actual = missed = None
        if self.has_card_used:
            actual = float(self.actual[known].sum())
            missed = float(self.missed[known].sum())
        return Kpis(rows=int(keep.sum()), scored=int(ok.sum()),
                    skipped=int((keep & self.status_key.rows_in(["skipped"])).sum()),
                    errors=int((keep & self.status_key.rows_in(["error"])).sum()), spend=spend, rewards=rewards,
                    effective_rate=rewards / spend if spend else 0.0, actual_rewards=actual, missed_rewards=missed,
                    known_card_rows=int(known.sum()) if self.has_card_used else 0)

    def _scored(self, f: Filters | None) -> np.ndarray:
        return self.mask(f) & self.ok

    def _group(self, keys: dict[str, Key], f: Filters | None) -> pd.DataFrame:
        """Sums per combination of keys, grouped on integer codes, labelled after."""
        ok = self._scored(f)
        data = {name: key.codes[ok] for name, key in keys.items()}
        data.update(spend=self.amount[ok], rewards=self.rewards[ok], missed=self.missed[ok])
        grouped = pd.DataFrame(data).groupby(list(keys), sort=True) \
            .agg(transactions=("spend", "size"), spend=("spend", "sum"), rewards=("rewards", "sum"),
                 missed=("missed", "sum")).reset_index()
        for name, key in keys.items():
            grouped[name] = key.labels[grouped[name].to_numpy()]
        spend = grouped["spend"].to_numpy()
        grouped["effective_rate"] = np.divide(grouped["rewards"].to_numpy(), spend, out=np.zeros(len(grouped)),
                                              where=spend > 0)
        if not self.has_card_used:
            grouped = grouped.drop(columns="missed")
        return grouped

    def by_category_card(self, f: Filters | None = None) -> pd.DataFrame:
        """Rewards by reward category and recommended card (stacked bars)."""
        return self._cached(("by_category_card", f), lambda: self._group(
            {"category": self.category, "card": self.card, "card_name": self.card_name}, f)
            .sort_values("rewards", ascending=False, kind="stable").reset_index(drop=True))

    def by_category(self, f: Filters | None = None) -> pd.DataFrame:
        return self._cached(("by_category", f), lambda: self._group({"category": self.category}, f)
                            .sort_values("rewards", ascending=False, kind="stable").reset_index(drop=True))

    def by_card(self, f: Filters | None = None) -> pd.DataFrame:
        return self._cached(("by_card", f), lambda: self._group({"card": self.card, "card_name": self.card_name}, f)
                            .sort_values("rewards", ascending=False, kind="stable").reset_index(drop=True))

    def by_month(self, f: Filters | None = None) -> pd.DataFrame:
        return self._cached(("by_month", f), lambda: self._group({"month": self.month}, f))

    def top_merchants(self, f: Filters | None = None, n: int = 15) -> pd.DataFrame:
        return self._cached(("top_merchants", f, n), lambda: self._group({"merchant": self.merchant}, f)
                            .sort_values(["spend", "merchant"], ascending=[False, True], kind="stable").head(n)
                            .reset_index(drop=True))

    def card_mix(self, f: Filters | None = None) -> pd.DataFrame:
        """Share of scored spend per card: recommended vs actually used (when known)."""
        return self._cached(("card_mix", f), lambda: self._card_mix(f))

    def _card_mix(self, f: Filters | None) -> pd.DataFrame:
        ok = self._scored(f)
        total = float(self.amount[ok].sum()) or 1.0
        parts = [self._group({"card": self.card}, f)[["card", "spend"]].assign(which="recommended")]
        if self.has_card_used:
            known = ok & self.known_card
            used = pd.DataFrame({"c": self.card_used.codes[known], "spend": self.amount[known]}) \
                .groupby("c", sort=True)["spend"].sum().reset_index()
            parts.append(pd.DataFrame({"card": self.card_used.labels[used["c"].to_numpy()],
                                       "spend": used["spend"].to_numpy(), "which": "used"}))
        mix = pd.concat(parts, ignore_index=True)[["which", "card", "spend"]] \
            .sort_values(["which", "card"], kind="stable").reset_index(drop=True)
        mix["share"] = mix["spend"] / total
        return mix

    # ------------------------------------------------------------------ rows
    def rows(self, f: Filters | None = None, page: int = 1, page_size: int = 100,
             sort_by: str | None = None, descending: bool = False) -> tuple[pd.DataFrame, int, int]:
        """One page of the filtered table: (rows, total matching, page count). Only this slice is built."""
        idx = self._cached(("order", f, sort_by, descending), lambda: self._order(f, sort_by, descending))
        total = len(idx)
        pages = max(1, -(-total // max(page_size, 1)))
        page = min(max(page, 1), pages)
        sl = idx[(page - 1) * page_size: page * page_size]
        cols = [c for c in TABLE_COLUMNS if c in self.frame]
        return self.frame.iloc[sl][cols].reset_index(drop=True), total, pages

    def _order(self, f: Filters | None, sort_by: str | None, descending: bool) -> np.ndarray:
        idx = np.flatnonzero(self.mask(f))
        if sort_by and sort_by in self.frame and len(idx):
            key = self.frame[sort_by].iloc[idx]
            key = pd.to_numeric(key, errors="coerce") if sort_by in _NUMERIC else key.astype("string")
            key.index = idx
            idx = key.sort_values(ascending=not descending, na_position="last", kind="stable").index.to_numpy()
        return idx

    def filtered(self, f: Filters | None = None) -> pd.DataFrame:
        """Every filtered row (for the filtered download)."""
        return self.frame[self.mask(f)]

    def problems(self, f: Filters | None = None) -> pd.DataFrame:
        """Skipped and error rows with their reasons."""
        bad = self.mask(f) & ~self.ok
        cols = [c for c in ("transaction_id", "user_id", "merchant", "amount_usd", "timestamp", "status", "error")
                if c in self.frame]
        return self.frame.loc[bad, cols].reset_index(drop=True)

    def problem_reasons(self) -> pd.DataFrame:
        """How many rows were skipped or failed, per reason."""
        def build():
            bad = ~self.ok
            frame = pd.DataFrame({"status": self.status_key.text()[bad],
                                  "reason": _text(self.frame.get("error"), self.n).to_numpy(dtype=object)[bad]})
            return frame.groupby(["status", "reason"], sort=True).size().rename("rows").reset_index() \
                .sort_values("rows", ascending=False, kind="stable").reset_index(drop=True)
        return self._cached(("problem_reasons",), build)


_NUMERIC = {"amount_usd", "reward_rate", "rewards_earned", "runner_up_rewards", "actual_rewards",
            "missed_rewards", "confidence"}


# ---------------------------------------------------------------------- per-run cache

@dataclass
class _Cache:
    views: OrderedDict = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_CACHE = _Cache()
MAX_VIEWS = 2   # a million-row run is a few hundred MB in memory: keep two at most


def view(run_id: str, version: object = None) -> RunView:
    """The explorer's view of a run, loaded once per (run, version) from the store.

    `version` changes while a run is still writing results (e.g. its count of done chunks);
    a finished run keeps one version, so it is read from disk once.
    """
    from backend import store
    key = (run_id, version)
    with _CACHE.lock:
        if key in _CACHE.views:
            _CACHE.views.move_to_end(key)
            return _CACHE.views[key]
    built = RunView(store.results(run_id), run_id)
    with _CACHE.lock:
        for old in [k for k in _CACHE.views if k[0] == run_id]:
            del _CACHE.views[old]
        _CACHE.views[key] = built
        while len(_CACHE.views) > MAX_VIEWS:
            _CACHE.views.popitem(last=False)
    return built


def clear_cache() -> None:
    with _CACHE.lock:
        _CACHE.views.clear()


# ---------------------------------------------------------------------- measured compute

@dataclass(frozen=True)
class MeasuredCompute:
    run_id: str
    compute_seconds: float
    transactions: int

    @property
    def seconds_per_transaction(self) -> float:
        return self.compute_seconds / self.transactions


MIN_MEASURED_TRANSACTIONS = 10_000   # smaller runs are mostly per-chunk overhead, not scoring


def measured_compute(min_transactions: int = MIN_MEASURED_TRANSACTIONS) -> MeasuredCompute | None:
    """Compute seconds per transaction of the latest finished run big enough to say (else None).

    The chunks' own compute seconds (measured inside the worker), not wall time: that is what
    Modal bills and what the cost calculator scales.
    """
    from backend import store
    for run in store.list_runs():
        if run["status"] != "done" or run["total"] < min_transactions:
            continue
        snap = store.snapshot(run["run_id"])
        if snap.compute_seconds_total > 0 and snap.total_rows > 0:
            return MeasuredCompute(run["run_id"], snap.compute_seconds_total, snap.total_rows)
    return None


# ---------------------------------------------------------------------- upload report

def run_input(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The statements of one run as one canonical frame, exactly as the CLI builds it.

    Without a single known card that paid, `card_used` is dropped (so no "missed rewards"
    columns promise what the statements cannot tell).
    """
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if "card_used" in frame and not (frame["card_used"].fillna("") != "").any():
        frame = frame.drop(columns=["card_used"])
    return frame


PROBLEM_COLUMNS = ["file", "row", "column", "status", "message"]
PREVIEW_COLUMNS = ["transaction_id", "user_id", "merchant", "category", "amount_usd", "mcc", "timestamp",
                   "card_used", "description"]


@dataclass
class StatementReport:
    """What the upload page says about one statement file before a run."""
    name: str
    format: str
    issuer: str
    rows_read: int
    to_score: int
    skipped: int
    errors: int
    problems: pd.DataFrame       # file, row, column, status, message (skipped and error rows)
    preview: pd.DataFrame        # the first canonical rows


def statement_report(statement, preview_rows: int = 20) -> StatementReport:
    """Row checks on one statement's canonical frame: counts, problem rows with reasons, a preview.

    The importer's own row issues (e.g. a row with more fields than the header) say more than
    the generic row check, so their message wins for the same row.
    """
    from backend.transactions import prepare, problems
    prepared = prepare(statement.frame)
    status = prepared["status"].to_numpy(dtype=object)
    report = problems(prepared, file=statement.name)
    issues = getattr(statement, "issues", None)
    if issues is not None and len(issues) and len(report):
        better = pd.Series(issues["message"].astype(str).to_numpy(),
                           index=pd.Index(issues["row"].astype("int64").to_numpy()))
        better = better[~better.index.duplicated()]
        found = report["row"].astype("int64").map(better)
        report["message"] = found.where(found.notna(), report["message"]).astype(str)
    preview = statement.frame.head(preview_rows)
    return StatementReport(
        name=statement.name, format=statement.format, issuer=statement.issuer, rows_read=int(statement.rows_read),
        to_score=int((status == "ok").sum()), skipped=int((status == "skipped").sum()),
        errors=int((status == "error").sum()), problems=report[PROBLEM_COLUMNS].reset_index(drop=True),
        preview=preview[[c for c in PREVIEW_COLUMNS if c in preview]].reset_index(drop=True))


# ---------------------------------------------------------------------- unknown merchants

def unknown_merchants(view: RunView) -> pd.DataFrame:
    """Merchants whose category stayed unknown (`other`): merchant, transactions, spend.

    Uses backend.merchants.unknown_merchants when it is installed (it knows the evidence);
    otherwise every scored merchant that landed in `other`. Cached with the view.
    """
    return view._cached(("unknown_merchants",), lambda: _unknown_merchants(view))


def _unknown_merchants(view: RunView) -> pd.DataFrame:
    try:
        from backend.merchants import unknown_merchants as backend_unknown
    except ImportError:
        backend_unknown = None
    if backend_unknown is not None:
        found = backend_unknown(view.frame)
        if isinstance(found, pd.DataFrame):
            return found.reset_index(drop=True)
        keep = view.ok & view.merchant.rows_in(list(found))
    else:
        keep = view.ok & view.category.rows_in(["other"])
    frame = pd.DataFrame({"merchant": view.merchant.text()[keep], "spend": view.amount[keep]})
    return frame.groupby("merchant", sort=True).agg(transactions=("spend", "size"), spend=("spend", "sum")) \
        .reset_index().sort_values(["spend", "merchant"], ascending=[False, True], kind="stable").reset_index(drop=True)
