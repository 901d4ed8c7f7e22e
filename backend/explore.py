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
        self.has_card_used = "card_used" in frame and _text(frame["card_used"], n).ne("").any()
        self.actual = np.nan_to_num(_num(frame.get("actual_rewards"), n))
        self.missed = np.nan_to_num(_num(frame.get("missed_rewards"), n))
        self.status = _text(frame.get("status"), n).to_numpy(dtype=object)
        ts = pd.to_datetime(frame["timestamp"], errors="coerce", utc=True, format="mixed") \
            if "timestamp" in frame else pd.Series(pd.NaT, index=frame.index)
        self.date = ts.dt.tz_localize(None).dt.normalize().to_numpy(dtype="datetime64[ns]")
        self.month = ts.dt.strftime("%Y-%m").astype("string").fillna("").to_numpy(dtype=object)
        self.card = _text(frame.get("recommended_card"), n).to_numpy(dtype=object)
        self.card_name = _text(frame.get("recommended_card_name"), n).to_numpy(dtype=object)
        self.category = _text(frame.get("reward_category"), n).to_numpy(dtype=object)
        self.account = _text(frame.get("user_id"), n).to_numpy(dtype=object)
        self.merchant = _text(frame.get("merchant"), n)
        self.card_used = _text(frame.get("card_used"), n).to_numpy(dtype=object)
        self._masks: OrderedDict[Filters, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ filtering
    def options(self) -> dict[str, list]:
        """The values each filter can take (sorted), and the date and amount ranges."""
        ok = self.status == "ok"
        dates = self.date[~np.isnat(self.date)]
        amounts = self.amount[~np.isnan(self.amount)]
        return {
            "cards": sorted(set(self.card[ok]) - {""}),
            "categories": sorted(set(self.category[ok]) - {""}),
            "accounts": sorted(set(self.account) - {""}),
            "statuses": [s for s in STATUSES if (self.status == s).any()],
            "date_min": pd.Timestamp(dates.min()).date() if len(dates) else None,
            "date_max": pd.Timestamp(dates.max()).date() if len(dates) else None,
            "amount_min": float(amounts.min()) if len(amounts) else 0.0,
            "amount_max": float(amounts.max()) if len(amounts) else 0.0,
        }

    def mask(self, f: Filters | None = None) -> np.ndarray:
        """Rows kept by the filters (cached: the last 32 filter combinations)."""
        f = f or Filters()
        with self._lock:
            if f in self._masks:
                self._masks.move_to_end(f)
                return self._masks[f]
        keep = np.ones(self.n, dtype=bool)
        for values, column in ((f.cards, self.card), (f.categories, self.category), (f.accounts, self.account),
                               (f.months, self.month), (f.statuses, self.status)):
            if values:
                keep &= np.isin(column, list(values))
        if f.merchants:
            keep &= self.merchant.isin(list(f.merchants)).to_numpy()
        if f.text:
            keep &= self.merchant.str.contains(f.text, case=False, regex=False).fillna(False).to_numpy(dtype=bool)
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
        keep = self.mask(f)
        ok = keep & (self.status == "ok")
        spend = float(self.amount[ok].sum())
        rewards = float(self.rewards[ok].sum())
        known = ok & (self.card_used != "")
        actual = missed = None
        if self.has_card_used:
            actual = float(self.actual[known].sum())
            missed = float(self.missed[known].sum())
        return Kpis(rows=int(keep.sum()), scored=int(ok.sum()), skipped=int((keep & (self.status == "skipped")).sum()),
                    errors=int((keep & (self.status == "error")).sum()), spend=spend, rewards=rewards,
                    effective_rate=rewards / spend if spend else 0.0, actual_rewards=actual, missed_rewards=missed,
                    known_card_rows=int(known.sum()))

    def _scored(self, f: Filters | None) -> np.ndarray:
        return self.mask(f) & (self.status == "ok")

    def _group(self, keys: dict[str, np.ndarray], f: Filters | None) -> pd.DataFrame:
        ok = self._scored(f)
        data = {k: v[ok] for k, v in keys.items()}
        data.update(spend=self.amount[ok], rewards=self.rewards[ok], missed=self.missed[ok], n=np.ones(int(ok.sum())))
        grouped = pd.DataFrame(data).groupby(list(keys), sort=True, dropna=False) \
            .agg(transactions=("n", "size"), spend=("spend", "sum"), rewards=("rewards", "sum"), missed=("missed", "sum")) \
            .reset_index()
        grouped["effective_rate"] = np.where(grouped["spend"] > 0, grouped["rewards"] / grouped["spend"].where(grouped["spend"] > 0, 1), 0.0)
        if not self.has_card_used:
            grouped = grouped.drop(columns="missed")
        return grouped

    def by_category_card(self, f: Filters | None = None) -> pd.DataFrame:
        """Rewards by reward category and recommended card (stacked bars)."""
        return self._group({"category": self.category, "card": self.card, "card_name": self.card_name}, f) \
            .sort_values("rewards", ascending=False, kind="stable").reset_index(drop=True)

    def by_category(self, f: Filters | None = None) -> pd.DataFrame:
        return self._group({"category": self.category}, f).sort_values("rewards", ascending=False, kind="stable") \
            .reset_index(drop=True)

    def by_card(self, f: Filters | None = None) -> pd.DataFrame:
        return self._group({"card": self.card, "card_name": self.card_name}, f) \
            .sort_values("rewards", ascending=False, kind="stable").reset_index(drop=True)

    def by_month(self, f: Filters | None = None) -> pd.DataFrame:
        return self._group({"month": self.month}, f)

    def top_merchants(self, f: Filters | None = None, n: int = 15) -> pd.DataFrame:
        grouped = self._group({"merchant": self.merchant.to_numpy(dtype=object)}, f)
        return grouped.sort_values(["spend", "merchant"], ascending=[False, True], kind="stable").head(n) \
            .reset_index(drop=True)

    def card_mix(self, f: Filters | None = None) -> pd.DataFrame:
        """Share of scored spend per card: recommended vs actually used (when known)."""
        ok = self._scored(f)
        total = float(self.amount[ok].sum()) or 1.0
        parts = [pd.DataFrame({"card": self.card[ok], "spend": self.amount[ok]}).assign(which="recommended")]
        if self.has_card_used:
            known = ok & (self.card_used != "")
            parts.append(pd.DataFrame({"card": self.card_used[known], "spend": self.amount[known]}).assign(which="used"))
        mix = pd.concat(parts, ignore_index=True).groupby(["which", "card"], sort=True)["spend"].sum().reset_index()
        mix["share"] = mix["spend"] / total
        return mix

    # ------------------------------------------------------------------ rows
    def rows(self, f: Filters | None = None, page: int = 1, page_size: int = 100,
             sort_by: str | None = None, descending: bool = False) -> tuple[pd.DataFrame, int, int]:
        """One page of the filtered table: (rows, total matching, page count). Only this slice is built."""
        idx = np.flatnonzero(self.mask(f))
        total = len(idx)
        pages = max(1, -(-total // max(page_size, 1)))
        page = min(max(page, 1), pages)
        if sort_by and sort_by in self.frame and total:
            key = self.frame[sort_by].iloc[idx]
            key = pd.to_numeric(key, errors="coerce") if sort_by in _NUMERIC else key.astype("string")
            key.index = idx
            idx = key.sort_values(ascending=not descending, na_position="last", kind="stable").index.to_numpy()
        sl = idx[(page - 1) * page_size: page * page_size]
        cols = [c for c in TABLE_COLUMNS if c in self.frame]
        return self.frame.iloc[sl][cols].reset_index(drop=True), total, pages

    def filtered(self, f: Filters | None = None) -> pd.DataFrame:
        """Every filtered row (for the filtered download)."""
        return self.frame[self.mask(f)]

    def problems(self, f: Filters | None = None) -> pd.DataFrame:
        """Skipped and error rows with their reasons."""
        bad = self.mask(f) & (self.status != "ok")
        cols = [c for c in ("transaction_id", "user_id", "merchant", "amount_usd", "timestamp", "status", "error")
                if c in self.frame]
        return self.frame.loc[bad, cols].reset_index(drop=True)

    def problem_reasons(self) -> pd.DataFrame:
        """How many rows were skipped or failed, per reason."""
        bad = self.status != "ok"
        reasons = _text(self.frame.get("error"), self.n)[bad]
        frame = pd.DataFrame({"status": self.status[bad], "reason": reasons.to_numpy(dtype=object)})
        return frame.groupby(["status", "reason"], sort=True).size().rename("rows").reset_index() \
            .sort_values("rows", ascending=False, kind="stable").reset_index(drop=True)


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


def measured_compute() -> MeasuredCompute | None:
    """Compute seconds per transaction of the latest finished run (None before any run).

    The chunks' own compute seconds (measured inside the worker), not wall time: that is what
    Modal bills and what the cost calculator scales.
    """
    from backend import store
    for run in store.list_runs():
        if run["status"] != "done":
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
    otherwise every scored merchant that landed in `other`.
    """
    try:
        from backend.merchants import unknown_merchants as backend_unknown
    except ImportError:
        backend_unknown = None
    if backend_unknown is not None:
        found = backend_unknown(view.frame)
        if isinstance(found, pd.DataFrame):
            return found.reset_index(drop=True)
        names = pd.Index(list(found))
        keep = (view.status == "ok") & view.merchant.isin(names).to_numpy()
    else:
        keep = (view.status == "ok") & (view.category == "other")
    frame = pd.DataFrame({"merchant": view.merchant.to_numpy(dtype=object)[keep], "spend": view.amount[keep]})
    return frame.groupby("merchant", sort=True).agg(transactions=("spend", "size"), spend=("spend", "sum")) \
        .reset_index().sort_values(["spend", "merchant"], ascending=[False, True], kind="stable").reset_index(drop=True)
