"""The explorer's numbers on a small hand-made results frame (figures checked by hand)."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from backend.explore import Filters, RunView

ROWS = [
    # id, user, merchant, amount, ts, category, card, rewards, conf, status, error, used, actual, missed
    ("t1", "ops", "STARBUCKS", 10.0, "2026-01-05 09:00:00", "dining", "amex_gold", 0.40, 1.0, "ok", "", "citi_double_cash", 0.20, 0.20),
    ("t2", "ops", "SHELL", 50.0, "2026-01-20 10:00:00", "gas", "citi_custom_cash", 2.50, 0.9, "ok", "", "citi_double_cash", 1.00, 1.50),
    ("t3", "sales", "STARBUCKS", 20.0, "2026-02-02 08:00:00", "dining", "amex_gold", 0.80, 0.6, "ok", "", "", 0.0, 0.0),
    ("t4", "sales", "STAPLES", -15.0, "2026-02-03 08:00:00", "", "", 0.0, 0.0, "skipped", "not a purchase: refund", "", 0.0, 0.0),
    ("t5", "sales", "DELTA", None, "2026-02-04 08:00:00", "", "", 0.0, 0.0, "error", "amount_usd is not a number: 12O", "", 0.0, 0.0),
    ("t6", "eng", "DELTA", 400.0, "2026-03-10 12:00:00", "airline", "amex_gold", 12.00, 0.8, "ok", "", "citi_double_cash", 8.00, 4.00),
]
COLUMNS = ["transaction_id", "user_id", "merchant", "amount_usd", "timestamp", "reward_category", "recommended_card",
           "rewards_earned", "confidence", "status", "error", "card_used", "actual_rewards", "missed_rewards"]


@pytest.fixture
def view() -> RunView:
    frame = pd.DataFrame(ROWS, columns=COLUMNS)
    frame["recommended_card_name"] = frame["recommended_card"].str.replace("_", " ").str.title()
    return RunView(frame, "r1")


def test_kpis_whole_run(view):
    k = view.kpis()
    assert (k.rows, k.scored, k.skipped, k.errors) == (6, 4, 1, 1)
    assert k.spend == pytest.approx(480.0)
    assert k.rewards == pytest.approx(15.70)
    assert k.effective_rate == pytest.approx(15.70 / 480.0)
    assert k.actual_rewards == pytest.approx(9.20)     # rows whose card is known: t1, t2, t6
    assert k.missed_rewards == pytest.approx(5.70)
    assert k.known_card_rows == 3


def test_kpis_without_card_used_are_none():
    frame = pd.DataFrame(ROWS, columns=COLUMNS).drop(columns=["card_used", "actual_rewards", "missed_rewards"])
    k = RunView(frame).kpis()
    assert k.missed_rewards is None and k.actual_rewards is None
    assert "missed" not in RunView(frame).by_card().columns


def test_filters_combine(view):
    assert view.kpis(Filters(categories=("dining",))).rewards == pytest.approx(1.20)
    assert view.kpis(Filters(accounts=("ops",), categories=("dining",))).scored == 1
    assert view.kpis(Filters(months=("2026-02",))).rows == 3
    assert view.kpis(Filters(date_from=dt.date(2026, 1, 20), date_to=dt.date(2026, 2, 2))).rows == 2
    assert view.kpis(Filters(amount_min=15, amount_max=60)).scored == 2
    assert view.kpis(Filters(min_confidence=0.85)).scored == 2
    assert view.kpis(Filters(statuses=("skipped", "error"))).rows == 2
    assert view.kpis(Filters(text="starb")).rows == 2
    assert view.kpis(Filters(merchants=("DELTA",))).rows == 2
    assert view.kpis(Filters(cards=("amex_gold",))).spend == pytest.approx(430.0)
    assert Filters(cards=("x",), min_confidence=0.5).active() == ["cards", "min_confidence"]


def test_grouped_tables(view):
    cat = view.by_category()
    assert cat["category"].tolist() == ["airline", "gas", "dining"]    # by rewards, largest first
    assert cat.set_index("category").loc["dining", "spend"] == pytest.approx(30.0)
    assert cat.set_index("category").loc["dining", "effective_rate"] == pytest.approx(0.04)
    card = view.by_card().set_index("card")
    assert card.loc["amex_gold", "rewards"] == pytest.approx(13.2)
    assert card.loc["amex_gold", "transactions"] == 3
    assert card.loc["citi_custom_cash", "missed"] == pytest.approx(1.5)
    month = view.by_month()
    assert month["month"].tolist() == ["2026-01", "2026-02", "2026-03"]
    assert month["rewards"].tolist() == pytest.approx([2.9, 0.8, 12.0])
    top = view.top_merchants(n=2)
    assert top["merchant"].tolist() == ["DELTA", "SHELL"]
    both = view.by_category_card()
    assert len(both) == 3 and both["rewards"].sum() == pytest.approx(15.7)


def test_card_mix_shares(view):
    mix = view.card_mix().set_index(["which", "card"])
    assert mix.loc[("recommended", "amex_gold"), "share"] == pytest.approx(430 / 480)
    assert mix.loc[("used", "citi_double_cash"), "share"] == pytest.approx(460 / 480)


def test_rows_pages_and_sorts(view):
    page, total, pages = view.rows(page=2, page_size=4)
    assert (total, pages, len(page)) == (6, 2, 2)
    assert page["transaction_id"].tolist() == ["t5", "t6"]
    top, _, _ = view.rows(page_size=2, sort_by="amount_usd", descending=True)
    assert top["transaction_id"].tolist()[0] == "t6"
    last, _, _ = view.rows(page=99, page_size=4)      # past the end: the last page
    assert len(last) == 2


def test_problem_rows_keep_their_reasons(view):
    bad = view.problems()
    assert bad["transaction_id"].tolist() == ["t4", "t5"]
    assert bad["error"].str.len().gt(0).all()
    reasons = view.problem_reasons()
    assert reasons["rows"].sum() == 2
    assert set(reasons["status"]) == {"skipped", "error"}


def test_options_describe_the_run(view):
    o = view.options()
    assert o["categories"] == ["airline", "dining", "gas"]
    assert o["accounts"] == ["eng", "ops", "sales"]
    assert o["date_min"] == dt.date(2026, 1, 5) and o["date_max"] == dt.date(2026, 3, 10)
    assert o["statuses"] == ["ok", "skipped", "error"]


def test_large_frame_masks_are_vectorized_and_cached():
    n = 200_000
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "transaction_id": np.arange(n).astype(str), "user_id": rng.choice(["a", "b"], n),
        "merchant": rng.choice(["X", "Y", "Z"], n), "amount_usd": rng.uniform(1, 100, n).round(2),
        "timestamp": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 86400 * 300, n), unit="s"),
        "reward_category": rng.choice(["dining", "gas"], n), "recommended_card": "c", "recommended_card_name": "C",
        "rewards_earned": 1.0, "confidence": 1.0, "status": "ok", "error": "",
    })
    v = RunView(frame)
    f = Filters(categories=("gas",))
    m = v.mask(f)
    assert v.mask(f) is m                                    # second call served from the cache
    assert v.kpis(f).scored == int((frame["reward_category"] == "gas").sum())
    page, total, _ = v.rows(f, page=3, page_size=50)
    assert len(page) == 50 and total == int(m.sum())
