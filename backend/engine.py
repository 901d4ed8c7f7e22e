"""Scoring: which wallet card earns the most on each purchase, exactly, caps included.

How it works, in three steps (see README "How scoring works"):
1. Rates, vectorized: for every (purchase, wallet card) the best uncapped rate (base or an
   uncapped bonus) and, where a capped bonus applies and beats it, that bonus rate and its cap
   slot (account x card x cap x period).
2. Purchases where no capped bonus is in play are decided at once by argmax over the cards.
3. Purchases where a capped bonus is in play are walked in time order per account (the only
   place where order matters): the winner consumes its cap; the part of a purchase above a
   cap earns the card's uncapped rate.
The card that actually paid (`card_used`): `actual_rewards` replays its real charges against
its own caps, so it is what the statement really earned; and when the wallet holds that card,
its real charges use its caps in the recommendation walk too (a cap is shared between what the
card was actually charged and what it is recommended for; a purchase counts once).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from backend.catalog import Card, Catalog, Rule
from backend.categories import CATEGORY_NAMES, EVIDENCE_WEIGHT, categorize
from backend.transactions import prepare
from backend.wallet import Wallet, WalletCard

OUTPUT_COLUMNS = [
    "transaction_id", "user_id", "merchant", "amount_usd", "mcc", "timestamp",
    "reward_category", "recommended_card", "recommended_card_name", "reward_rate", "rewards_earned",
    "runner_up_card", "runner_up_rewards", "confidence", "reasoning", "status", "error",
]
CARD_USED_COLUMNS = ["card_used", "actual_rewards", "missed_rewards"]

MerchantLookup = Callable[[pd.Series], tuple[pd.Series, pd.Series]]
_NONE = -1


@dataclass(frozen=True)
class Valuation:
    """A valuation profile (cash | travel | transfer) and per-currency cents-per-point overrides."""
    profile: str = "cash"
    overrides: dict[str, float] = field(default_factory=dict)


def default_merchant_lookup() -> MerchantLookup | None:
    """The merchant dictionary (with the user's corrections), when it is installed."""
    try:
        from backend.merchants import lookup
    except ImportError:
        return None
    return lookup


def prepare_frame(frame: pd.DataFrame, merchant_lookup: MerchantLookup | None = None) -> pd.DataFrame:
    """Row checks + categories for a whole canonical frame (done once, before any chunking).

    Adds: amount (float), ts (UTC datetime), status, error, error_column, reward_category,
    category_evidence. Duplicate ids are found here, across the whole input.
    """
    prepared = prepare(frame)
    lookup = merchant_lookup if merchant_lookup is not None else default_merchant_lookup()
    category, evidence = categorize(prepared, merchant_lookup=lookup)
    prepared["reward_category"] = category.astype(str).to_numpy()
    prepared["category_evidence"] = evidence.astype(str).to_numpy()
    return prepared


# What score_prepared reads of a prepared frame: chunk payloads and stored run inputs carry
# only these (an importer's description, source file and row stay with the upload report).
SCORING_COLUMNS = ["transaction_id", "user_id", "merchant", "mcc", "timestamp", "card_used", "amount", "ts",
                   "status", "error", "reward_category", "category_evidence"]


def slim(prepared: pd.DataFrame) -> pd.DataFrame:
    """Only the columns scoring needs (no copy of the data with copy-on-write)."""
    return prepared[[c for c in SCORING_COLUMNS if c in prepared.columns]]


def score(frame: pd.DataFrame, wallet: Wallet, catalog: Catalog, valuation: Valuation = Valuation(),
          merchant_lookup: MerchantLookup | None = None) -> pd.DataFrame:
    """Score a canonical frame in-process: prepare_frame + score_prepared."""
    return score_prepared(prepare_frame(frame, merchant_lookup), wallet, catalog, valuation)


# --------------------------------------------------------------------------- columns (cards)

@dataclass
class _Column:
    """One wallet card (with its holder's settings) as a column of the rate matrices."""
    wallet_card: WalletCard
    card: Card
    factor: float            # dollars per point: cents-per-point / 100


def _columns(wallet: Wallet, used_ids: list[str], catalog: Catalog, cents: dict[str, float]):
    """Distinct wallet cards across all account wallets, then cards used that no wallet holds."""
    specs: list[WalletCard] = []
    wallets = [wallet.cards] + [w for w in wallet.accounts.values()]
    for cards in wallets:
        for wc in cards:
            if wc not in specs:
                specs.append(wc)
    for card_id in used_ids:
        if card_id in catalog.cards and not any(s.card_id == card_id for s in specs):
            specs.append(WalletCard(card_id))
    return [_Column(s, catalog.cards[s.card_id], cents[catalog.cards[s.card_id].currency] / 100.0) for s in specs]


# --------------------------------------------------------------------------- rates

@dataclass
class _Rows:
    """The ok rows of a frame, sorted by account then time (ties: input order)."""
    pos: np.ndarray          # position in the prepared frame
    user: np.ndarray         # account code
    users: pd.Index          # account names
    cat: np.ndarray          # category code (index into CATEGORY_NAMES)
    amount: np.ndarray
    day: np.ndarray          # datetime64[D]
    year: np.ndarray
    month_key: np.ndarray    # year*12 + month-1
    quarter_key: np.ndarray  # year*4 + quarter-1


def _rows(prepared: pd.DataFrame) -> _Rows:
    ok = np.flatnonzero(prepared["status"].to_numpy() == "ok")
    sub = prepared[["user_id", "ts", "reward_category", "amount"]].iloc[ok]
    user, users = pd.factorize(sub["user_id"], sort=True)
    ts = pd.DatetimeIndex(sub["ts"]).tz_convert("UTC").tz_localize(None)
    order = np.lexsort((prepared.index.to_numpy()[ok], ts.asi8, user))
    ts = ts[order]
    year = ts.year.to_numpy().astype(np.int64)
    month = ts.month.to_numpy().astype(np.int64)
    codes = pc.index_in(pa.array(sub["reward_category"], type=pa.string()),
                        value_set=pa.array(CATEGORY_NAMES)).to_numpy(zero_copy_only=False)
    codes = np.where(np.isnan(codes.astype(np.float64)), CATEGORY_NAMES.index("other"), codes).astype(np.int64)[order]
    return _Rows(
        pos=ok[order], user=user[order], users=pd.Index(users), cat=codes,
        amount=sub["amount"].to_numpy(dtype=np.float64)[order],
        day=ts.to_numpy().astype("datetime64[D]"), year=year,
        month_key=year * 12 + month - 1, quarter_key=year * 4 + (month - 1) // 3,
    )


def _category_mask(categories: tuple[str, ...]) -> np.ndarray:
    table = np.zeros(len(CATEGORY_NAMES), dtype=bool)
    table[[CATEGORY_NAMES.index(c) for c in categories]] = True
    return table


def _top_n_mask(rule: Rule, rows: _Rows) -> np.ndarray:
    """Rows whose category is among the account's top-n eligible categories that month.

    The issuer ranks the cycle's spend per eligible category; we rank the account's whole
    month of spend in those categories, as if it all went on this card.
    """
    eligible = _category_mask(rule.categories)[rows.cat]
    if not eligible.any():
        return eligible
    spend = pd.DataFrame({"u": rows.user[eligible], "m": rows.month_key[eligible],
                          "c": rows.cat[eligible], "a": rows.amount[eligible]})
    totals = spend.groupby(["u", "m", "c"], sort=True)["a"].sum().reset_index()
    # A tie in spend goes to the category listed first in the rule.
    listed = {CATEGORY_NAMES.index(c): i for i, c in enumerate(rule.categories)}
    totals["order"] = totals["c"].map(listed)
    totals = totals.sort_values(["u", "m", "a", "order"], ascending=[True, True, False, True], kind="stable")
    top = totals[totals.groupby(["u", "m"]).cumcount() < rule.n]
    chosen = _account_month_category(top["u"].to_numpy(), top["m"].to_numpy(), top["c"].to_numpy())
    return eligible & np.isin(_account_month_category(rows.user, rows.month_key, rows.cat), chosen)


def _account_month_category(user: np.ndarray, month: np.ndarray, cat: np.ndarray) -> np.ndarray:
    """One int64 key per (account, month, category), for set membership tests."""
    return (user.astype(np.int64) * 1_000_000 + month) * len(CATEGORY_NAMES) + cat


def _rule_mask(rule: Rule, wc: WalletCard, rows: _Rows) -> np.ndarray:
    """Where a rule applies (portal rules never do: a statement cannot show portal bookings)."""
    if rule.kind == "bonus":
        return _category_mask(rule.categories)[rows.cat]
    if rule.kind == "choice":
        chosen = wc.choice or rule.default_choice
        return _category_mask(rule.options[chosen])[rows.cat]
    if rule.kind == "rotating":
        mask = np.zeros(len(rows.cat), dtype=bool)
        if not wc.activated:
            return mask
        for q in rule.calendar:
            inside = (rows.day >= np.datetime64(q.start)) & (rows.day <= np.datetime64(q.end))
            mask |= inside & _category_mask(q.categories)[rows.cat]
        return mask
    if rule.kind == "top_n":
        return _top_n_mask(rule, rows)
    return np.zeros(len(rows.cat), dtype=bool)


@dataclass
class _Rates:
    """Per (row, column): the rates and where they come from. Label ids index `labels`."""
    hi: np.ndarray           # the rate on the part under the cap (== lo when no cap is in play)
    lo: np.ndarray           # the rate with no cap in play (base or an uncapped bonus)
    hi_label: np.ndarray
    lo_label: np.ndarray
    cap: np.ndarray          # cap id (index into caps) or -1
    labels: list[str]
    caps: list[tuple[float, str, str]]   # (amount, period, description)


def _rate_label(card: Card, rule: Rule | None) -> str:
    unit = "%" if card.currency == "cash" else "x"
    if rule is None:
        return f"its {card.base_rate:g}{unit} base rate"
    return rule.label or f"{rule.rate:g}{unit} {rule.kind} bonus"


def _rates(columns: list[_Column], rows: _Rows) -> _Rates:
    n, c = len(rows.cat), len(columns)
    hi = np.zeros((n, c)); lo = np.zeros((n, c))
    hi_label = np.zeros((n, c), dtype=np.int32); lo_label = np.zeros((n, c), dtype=np.int32)
    cap = np.full((n, c), _NONE, dtype=np.int32)
    labels: list[str] = []; caps: list[tuple[float, str, str]] = []
    for j, col in enumerate(columns):
        card = col.card
        labels.append(_rate_label(card, None))
        u_rate = np.full(n, card.base_rate); u_label = np.full(n, len(labels) - 1)
        k_rate = np.full(n, -1.0); k_label = np.zeros(n, dtype=np.int64); k_cap = np.full(n, _NONE)
        cap_ids: dict[str, int] = {}
        for rule in card.rules:
            if rule.kind == "portal":
                continue
            mask = _rule_mask(rule, col.wallet_card, rows)
            labels.append(_rate_label(card, rule))
            lid = len(labels) - 1
            if rule.cap is None:
                better = mask & (rule.rate > u_rate)
                u_rate[better] = rule.rate; u_label[better] = lid
            else:
                if rule.cap.name not in cap_ids:
                    caps.append((rule.cap.amount, rule.cap.period, f"${rule.cap.amount:,.0f}-per-{rule.cap.period} cap"))
                    cap_ids[rule.cap.name] = len(caps) - 1
                better = mask & (rule.rate > k_rate)
                k_rate[better] = rule.rate; k_label[better] = lid; k_cap[better] = cap_ids[rule.cap.name]
        capped = k_rate > u_rate
        hi[:, j] = np.where(capped, k_rate, u_rate); lo[:, j] = u_rate
        hi_label[:, j] = np.where(capped, k_label, u_label); lo_label[:, j] = u_label
        cap[:, j] = np.where(capped, k_cap, _NONE)
    return _Rates(hi, lo, hi_label, lo_label, cap, labels, caps)


def _slots(rates: _Rates, rows: _Rows) -> tuple[np.ndarray, np.ndarray]:
    """Cap slot per (row, column): one ledger per account x cap x period. Returns slots, amounts."""
    period_key = {"month": rows.month_key, "quarter": rows.quarter_key, "year": rows.year}
    slot = np.full(rates.cap.shape, _NONE, dtype=np.int32)
    has = rates.cap >= 0
    if not has.any():
        return slot, np.zeros(0)
    r, j = np.nonzero(has)
    cap_id = rates.cap[r, j].astype(np.int64)
    periods = np.array([p for _, p, _ in rates.caps])
    bucket = np.zeros(len(r), dtype=np.int64)
    for name, keys in period_key.items():
        sel = periods[cap_id] == name
        bucket[sel] = keys[r[sel]]
    key = (cap_id * (len(rows.users) + 1) + rows.user[r]) * 100_000 + bucket
    codes, uniques = pd.factorize(key)
    slot[r, j] = codes
    cap_amounts = np.array([a for a, _, _ in rates.caps])[(uniques // 100_000) // (len(rows.users) + 1)]
    return slot, cap_amounts.astype(np.float64)


# --------------------------------------------------------------------------- choosing

@dataclass
class _Pick:
    """The winner and runner-up per row (sorted order)."""
    win: np.ndarray; win_value: np.ndarray; win_covered: np.ndarray   # covered: amount under the cap, -1 = no cap
    run: np.ndarray; run_value: np.ndarray; run_covered: np.ndarray


def _best_two(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Best and second-best column per row (ties: the earlier wallet card)."""
    n = len(values)
    first = np.argmax(values, axis=1) if values.shape[1] else np.zeros(n, dtype=np.int64)
    v1 = values[np.arange(n), first] if values.shape[1] else np.full(n, -np.inf)
    rest = values.copy()
    if values.shape[1]:
        rest[np.arange(n), first] = -np.inf
    second = np.argmax(rest, axis=1) if values.shape[1] > 1 else np.full(n, _NONE)
    v2 = rest[np.arange(n), second] if values.shape[1] > 1 else np.full(n, -np.inf)
    second = np.where(np.isfinite(v2), second, _NONE)
    first = np.where(np.isfinite(v1), first, _NONE)
    return first, v1, second, v2


def _choose(rates: _Rates, slot: np.ndarray, cap_amounts: np.ndarray, member: np.ndarray,
            rows: _Rows, factors: np.ndarray, used_col: np.ndarray) -> _Pick:
    amount = rows.amount[:, None]
    hi_v = amount * (rates.hi * factors)
    capped = (slot >= 0) & member
    safe = np.where(member & ~capped, hi_v, -np.inf)
    w, wv, r, rv = _best_two(safe)
    n = len(rows.cat)
    pick = _Pick(w, wv, np.full(n, -1.0), r, rv, np.full(n, -1.0))
    contested = np.flatnonzero(capped.any(axis=1))
    if len(contested):
        # The card that paid, when the wallet holds it: its real charge uses its cap too.
        has_used = used_col >= 0
        used_slot = np.where(has_used, slot[np.arange(n), np.maximum(used_col, 0)], _NONE)
        used_slot = np.where(has_used & member[np.arange(n), np.maximum(used_col, 0)], used_slot, _NONE)
        _walk_caps(pick, contested, capped, slot, cap_amounts, rates, factors, rows, used_slot)
    return pick


_BLOCK = 1 << 16   # contested rows converted to Python lists at a time (bounds memory)


def _walk_caps(pick: _Pick, contested: np.ndarray, capped: np.ndarray, slot: np.ndarray,
               cap_amounts: np.ndarray, rates: _Rates, factors: np.ndarray, rows: _Rows,
               used_slot: np.ndarray) -> None:
    """The only per-row loop: rows where a capped bonus is in play, in account-time order.

    Each row compares the best uncapped card against every capped card at its remaining cap;
    the winner, if capped, consumes its cap. A wallet card that really paid for the purchase
    consumes its cap as well (its cap is shared between what it was actually charged and what
    it is recommended for; a purchase it paid and is recommended for counts once). Everything
    else was computed vectorized. Rows are walked in blocks so only one block at a time lives
    as Python objects.
    """
    remaining = cap_amounts.tolist()
    for lo in range(0, len(contested), _BLOCK):
        block = contested[lo:lo + _BLOCK]
        r_idx, cols = np.nonzero(capped[block])
        ptr = np.concatenate(([0], np.cumsum(np.bincount(r_idx, minlength=len(block))))).tolist()
        rows_of = block[r_idx]
        c_col = cols.tolist()
        c_slot = slot[rows_of, cols].tolist()
        c_hi = (rates.hi[rows_of, cols] * factors[cols]).tolist()
        c_lo = (rates.lo[rows_of, cols] * factors[cols]).tolist()
        amounts = rows.amount[block].tolist()
        paid = used_slot[block].tolist()
        w, wv, r, rv = (pick.win[block].tolist(), pick.win_value[block].tolist(),
                        pick.run[block].tolist(), pick.run_value[block].tolist())
        wc = [-1.0] * len(block); rc = [-1.0] * len(block)
        for k in range(len(block)):
            a = amounts[k]
            bw, bv, bc = w[k], wv[k], -1.0
            sw, sv, sc = r[k], rv[k], -1.0
            won = -1
            for p in range(ptr[k], ptr[k + 1]):
                rem = remaining[c_slot[p]]
                cov = a if a < rem else (rem if rem > 0.0 else 0.0)
                v = cov * c_hi[p] + (a - cov) * c_lo[p]
                col = c_col[p]
                if v > bv or (v == bv and (bw < 0 or col < bw)):
                    sw, sv, sc = bw, bv, bc
                    bw, bv, bc, won = col, v, cov, p
                elif v > sv or (v == sv and (sw < 0 or col < sw)):
                    sw, sv, sc = col, v, cov
            if won >= 0:
                remaining[c_slot[won]] -= bc
            paid_slot = paid[k]
            if paid_slot >= 0 and not (won >= 0 and c_slot[won] == paid_slot):
                rem = remaining[paid_slot]
                remaining[paid_slot] = rem - (a if a < rem else (rem if rem > 0.0 else 0.0))
            w[k], wv[k], wc[k], r[k], rv[k], rc[k] = bw, bv, bc, sw, sv, sc
        pick.win[block] = w; pick.win_value[block] = wv; pick.win_covered[block] = wc
        pick.run[block] = r; pick.run_value[block] = rv; pick.run_covered[block] = rc


def _actual(rates: _Rates, slot: np.ndarray, cap_amounts: np.ndarray, used_col: np.ndarray,
            rows: _Rows, factors: np.ndarray) -> np.ndarray:
    """What the card that paid earned: its own caps consumed by its real charges, in time order."""
    out = np.full(len(rows.cat), np.nan)
    has = np.flatnonzero(used_col >= 0)
    if not len(has):
        return out
    col = used_col[has]
    a = rows.amount[has]
    hi = rates.hi[has, col] * factors[col]; lo = rates.lo[has, col] * factors[col]
    s = slot[has, col]
    covered = a.copy()
    capped = s >= 0
    if capped.any():
        frame = pd.DataFrame({"s": s[capped], "a": a[capped]})
        before = frame.groupby("s")["a"].cumsum().to_numpy() - frame["a"].to_numpy()
        covered[capped] = np.clip(cap_amounts[s[capped]] - before, 0.0, frame["a"].to_numpy())
    out[has] = covered * hi + (a - covered) * lo
    return out


# --------------------------------------------------------------------------- text

def _money(values: np.ndarray) -> pa.Array:
    """$1234.56 strings, vectorized through integer cents."""
    cents = np.rint(np.where(np.isfinite(values), values, 0.0) * 100).astype(np.int64)
    dollars = pc.cast(pa.array(cents // 100), pa.string())
    rem = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), width=2, padding="0")
    return pc.binary_join_element_wise("$", dollars, ".", rem, "")


def _take(values: list[str], index) -> pa.Array:
    return pc.take(pa.array(values, type=pa.string()), index if isinstance(index, pa.Array) else pa.array(index))


def _reasoning(pick: _Pick, rates: _Rates, names: list[str], rows: _Rows, out: "_Output") -> pa.Array:
    """One plain sentence per row: the winning rule, the runner-up, both dollar figures, the cap.

    The words depend only on a few small codes (cards, rules, cap state), so each distinct
    combination's text is built once and only the dollar figures are joined per row. The
    codes are put in input order first, so the long strings are built once, in place.
    """
    n = len(rows.cat)
    idx = np.arange(n)
    win, under = pick.win, pick.win_covered
    capped = under >= 0
    cap_state = np.where(capped & (under <= 0), 2, np.where(capped & (under < rows.amount - 1e-9), 1, 0))
    label_w = np.where(cap_state == 2, rates.lo_label[idx, win], rates.hi_label[idx, win])
    cap_id = np.where(cap_state > 0, rates.cap[idx, win], len(rates.caps))
    run = np.where(pick.run >= 0, pick.run, len(names))
    some_run = np.minimum(run, len(names) - 1)
    r_used_up = (pick.run_covered >= 0) & (pick.run_covered <= 0)
    label_r = np.where(pick.run >= 0, np.where(r_used_up, rates.lo_label[idx, some_run], rates.hi_label[idx, some_run]), 0)
    radix = [len(names) + 1, len(rates.labels), 3, len(rates.caps) + 1, len(names) + 1, len(rates.labels)]
    key = np.zeros(n, dtype=np.int64)
    for part, size in zip([win, label_w, cap_state, cap_id, run, label_r], radix):
        key = key * size + part
    inverse, uniques = pd.factorize(out.scatter(key, -1))   # rows that are not ok: -1

    cap_desc = [d for _, _, d in rates.caps] + [""]
    head, middle, tail, end = [], [], [], []
    for value in uniques.tolist():
        if value < 0:
            head.append(""); middle.append(""); tail.append(""); end.append("")
            continue
        digits = []
        for size in reversed(radix):
            value, digit = divmod(value, size)
            digits.append(digit)
        w, lw, state, cid, r, lr = digits[::-1]
        head.append(f"{names[w]} earns ")
        middle.append(f" with {rates.labels[lw]}" + (" (only " if state == 1 else ""))
        cap = {0: "", 1: f" was left under its {cap_desc[cid]}; the rest earns less)",
               2: f" (its {cap_desc[cid]} is used up)"}[state]
        tail.append(cap + (f"; runner-up {names[r]} " if r < len(names) else "; no other card in the wallet"))
        end.append(f" with {rates.labels[lr]}." if r < len(names) else ".")
    inverse = pa.array(inverse)
    ok = out.scatter(np.ones(n, dtype=bool), False)
    blank = pa.scalar("", pa.string())
    win_money = pc.if_else(pa.array(ok), _money(out.scatter(pick.win_value, 0.0)), blank)
    under_money = pc.if_else(pa.array(out.scatter(cap_state == 1, False)), _money(out.scatter(under, 0.0)), blank)
    run_money = pc.if_else(pa.array(out.scatter(pick.run >= 0, False)), _money(out.scatter(pick.run_value, 0.0)), blank)
    return pc.binary_join_element_wise(
        _take(head, inverse), win_money, _take(middle, inverse), under_money,
        _take(tail, inverse), run_money, _take(end, inverse), "")


def _confidence(pick: _Pick, evidence: np.ndarray) -> np.ndarray:
    """Evidence weight x a margin factor: a near tie with the runner-up halves the confidence."""
    weight = pd.Series(evidence).map(EVIDENCE_WEIGHT).fillna(EVIDENCE_WEIGHT["none"]).to_numpy(dtype=np.float64)
    win = pick.win_value
    run = np.where(pick.run >= 0, pick.run_value, 0.0)
    margin = np.where(win > 0, (win - run) / np.where(win > 0, win, 1.0), 0.0)
    margin = np.where(pick.run >= 0, margin, 1.0)
    return np.round(weight * (0.5 + 0.5 * np.clip(margin / 0.25, 0.0, 1.0)), 3)


# --------------------------------------------------------------------------- assembly

def _member(columns: list[_Column], wallet: Wallet, rows: _Rows) -> np.ndarray:
    """Which columns belong to each row's account wallet."""
    wallets = [wallet.cards] + list(wallet.accounts.values())
    table = np.array([[col.wallet_card in cards for col in columns] for cards in wallets], dtype=bool)
    account_wallet = np.zeros(len(rows.users), dtype=np.int64)
    for i, user in enumerate(wallet.accounts):
        where = rows.users.get_indexer([user])[0]
        if where >= 0:
            account_wallet[where] = i + 1
    return table[account_wallet[rows.user]]


def _used_columns(columns: list[_Column], used: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Column of the card that paid for each row: the account's own wallet entry if it has one."""
    out = np.full(len(used), _NONE, dtype=np.int64)
    for j, col in enumerate(columns):
        match = used == col.wallet_card.card_id
        # A card id can appear in several columns (different choices in different wallets):
        # prefer the column of the row's own wallet, else the first one.
        out[match & member[:, j]] = j
        out[match & (out == _NONE)] = j
    return out


class _Output:
    """Builds the output table: ok rows computed in sorted order, scattered to input order."""

    def __init__(self, prepared: pd.DataFrame, pos: np.ndarray):
        self.n = len(prepared)
        self.pos = pos
        self.inverse = np.full(self.n, len(pos), dtype=np.int64)     # non-ok rows -> a blank
        self.inverse[pos] = np.arange(len(pos))
        self.columns: dict[str, pa.Array | np.ndarray] = {}

    def text(self, name: str, sorted_values: pa.Array | None, blank: str | None = None) -> None:
        values = sorted_values if sorted_values is not None else pa.nulls(len(self.pos), pa.string())
        values = pa.concat_arrays([values.cast(pa.string()), pa.array([blank], type=pa.string())])
        self.columns[name] = pc.take(values, pa.array(self.inverse))

    def scatter(self, sorted_values: np.ndarray, fill) -> np.ndarray:
        """Values computed in sorted order, put in input order (`fill` where a row is not ok)."""
        full = np.full(self.n, fill, dtype=np.asarray(sorted_values).dtype)
        full[self.pos] = sorted_values
        return full

    def number(self, name: str, sorted_values: np.ndarray | None) -> None:
        full = np.full(self.n, np.nan)
        if sorted_values is not None:
            full[self.pos] = sorted_values
        self.columns[name] = full

    def frame(self, index: pd.Index) -> pd.DataFrame:
        out = pa.table({k: pa.array(v) if isinstance(v, np.ndarray) else v for k, v in self.columns.items()}).to_pandas()
        out.index = index
        return out


def _passthrough(prepared: pd.DataFrame, name: str) -> pa.Array:
    """An input column copied to the output as text (blanks for missing values), in Arrow."""
    column = prepared[name]
    values = pa.array(column if column.dtype == "str" else column.astype("str"), from_pandas=True)
    return pc.fill_null(values.cast(pa.string()), "")


def score_prepared(prepared: pd.DataFrame, wallet: Wallet, catalog: Catalog,
                   valuation: Valuation = Valuation()) -> pd.DataFrame:
    """Score a prepared frame (or any slice of whole account-years of it).

    Returns OUTPUT_COLUMNS (+ CARD_USED_COLUMNS when the frame has `card_used`), one row per
    input row, same index and order as the input. Ties in time are broken by the frame's
    index, so keep the original index when slicing a frame into chunks.
    """
    with_used = "card_used" in prepared.columns
    rows = _rows(prepared)
    out = _Output(prepared, rows.pos)
    pick = rates = None
    if len(rows.pos):
        cents = catalog.cents_per_point(valuation.profile, valuation.overrides)
        used = _passthrough(prepared, "card_used").to_numpy(zero_copy_only=False)[rows.pos] if with_used else None
        columns = _columns(wallet, sorted(set(used)) if with_used else [], catalog, cents)
        factors = np.array([c.factor for c in columns])
        rates = _rates(columns, rows)
        slot, cap_amounts = _slots(rates, rows)
        member = _member(columns, wallet, rows)
        used_col = _used_columns(columns, used, member) if with_used else np.full(len(rows.pos), _NONE)
        pick = _choose(rates, slot, cap_amounts, member, rows, factors, used_col)
        ids = [c.card.id for c in columns]
        names = [c.card.name for c in columns]
        has_run = pick.run >= 0
        win_value = np.round(pick.win_value, 2)

    for name in ("transaction_id", "user_id", "merchant"):
        out.columns[name] = _passthrough(prepared, name)
    out.columns["amount_usd"] = prepared["amount"].to_numpy(dtype=np.float64)
    for name in ("mcc", "timestamp", "reward_category"):
        out.columns[name] = _passthrough(prepared, name)
    ok = pick is not None
    out.text("recommended_card", _take(ids, pick.win) if ok else None)
    out.text("recommended_card_name", _take(names, pick.win) if ok else None)
    out.number("reward_rate", np.round(pick.win_value / rows.amount, 4) if ok else None)
    out.number("rewards_earned", win_value if ok else None)
    out.text("runner_up_card", pc.if_else(pa.array(has_run), _take(ids, np.where(has_run, pick.run, 0)), "") if ok else None)
    out.number("runner_up_rewards", np.where(has_run, np.round(pick.run_value, 2), np.nan) if ok else None)
    evidence = prepared["category_evidence"].to_numpy(dtype=object)[rows.pos] if ok else None
    out.number("confidence", _confidence(pick, evidence) if ok else None)
    out.columns["reasoning"] = _reasoning(pick, rates, names, rows, out) if ok else pa.array([""] * len(prepared))
    out.columns["status"] = _passthrough(prepared, "status")
    out.columns["error"] = _passthrough(prepared, "error")
    if with_used:
        out.columns["card_used"] = _passthrough(prepared, "card_used")
        actual = np.round(_actual(rates, slot, cap_amounts, used_col, rows, factors), 2) if ok else None
        out.number("actual_rewards", actual)
        out.number("missed_rewards", np.round(win_value - actual, 2) if ok else None)
    return out.frame(prepared.index)


# --------------------------------------------------------------------------- summary

_SUMMARY_COLUMNS = ["recommended_card", "reward_category", "merchant", "amount_usd", "rewards_earned",
                    "card_used", "actual_rewards", "missed_rewards"]


def _by(ok: pd.DataFrame, key: str) -> dict:
    grouped = ok.groupby(key, sort=True).agg(transactions=("amount_usd", "size"), spend=("amount_usd", "sum"),
                                             rewards=("rewards_earned", "sum"))
    return {str(k): {"transactions": int(r.transactions), "spend": round(float(r.spend), 2),
                     "rewards": round(float(r.rewards), 2)} for k, r in grouped.iterrows()}


def summarize(results: pd.DataFrame, seconds: float | None = None) -> dict:
    """The JSON summary of a results frame: total_transactions, scored, skipped, failed,
    total_rewards, effective_rate, by_card, by_category, processing_time_seconds,
    throughput_tps, and missed_rewards when card_used is known."""
    status = results["status"]
    # Only the columns the summary needs: filtering the whole frame would copy every reasoning.
    ok = results[[c for c in _SUMMARY_COLUMNS if c in results.columns]][(status == "ok").to_numpy()]
    spend = float(ok["amount_usd"].sum())
    rewards = float(ok["rewards_earned"].sum())
    summary = {
        "total_transactions": int(len(results)),
        "scored": int((status == "ok").sum()),
        "skipped": int((status == "skipped").sum()),
        "failed": int((status == "error").sum()),
        "total_spend": round(spend, 2),
        "total_rewards": round(rewards, 2),
        "effective_rate": round(rewards / spend, 6) if spend else 0.0,
        "by_card": _by(ok, "recommended_card"),
        "by_category": _by(ok, "reward_category"),
        "processing_time_seconds": round(seconds, 6) if seconds is not None else None,
        "throughput_tps": round(len(results) / seconds, 1) if seconds else None,
    }
    if "card_used" in results.columns:
        known = ok[ok["actual_rewards"].notna()]
        summary["actual_rewards"] = round(float(known["actual_rewards"].sum()), 2)
        summary["missed_rewards"] = round(float(known["missed_rewards"].sum()), 2)
        summary["missed_by_card_used"] = {str(k): round(float(v), 2) for k, v in
                                          known.groupby("card_used")["missed_rewards"].sum().items()}
        summary["missed_by_category"] = {str(k): round(float(v), 2) for k, v in
                                          known.groupby("reward_category")["missed_rewards"].sum().items()}
        top = known.groupby("merchant")["missed_rewards"].sum().sort_values(ascending=False).head(10)
        summary["missed_top_merchants"] = {str(k): round(float(v), 2) for k, v in top.items()}
    return summary
