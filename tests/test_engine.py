"""Golden cases computed by hand from the card terms (reference/cards.md), and row accounting."""
from __future__ import annotations

import pandas as pd
import pytest

from backend.catalog import load_catalog
from backend.engine import CARD_USED_COLUMNS, OUTPUT_COLUMNS, Valuation, score, summarize
from backend.wallet import Wallet, parse_wallet

CATALOG = load_catalog()


def frame(rows: list[tuple], card_used: bool = False) -> pd.DataFrame:
    """Rows of (user_id, mcc, amount, date[, card_used]) -> a canonical frame."""
    records = []
    for i, row in enumerate(rows):
        user, mcc, amount, when = row[:4]
        record = {"transaction_id": f"t{i}", "user_id": user, "merchant": f"Merchant {mcc}",
                  "category": "", "amount_usd": str(amount), "mcc": str(mcc), "timestamp": when}
        if card_used:
            record["card_used"] = row[4] if len(row) > 4 else ""
        records.append(record)
    return pd.DataFrame.from_records(records)


def run(rows, wallet: str, valuation: Valuation = Valuation(), card_used: bool = False) -> pd.DataFrame:
    return score(frame(rows, card_used), Wallet(parse_wallet(wallet)), CATALOG, valuation)


def rewards(result: pd.DataFrame) -> list[float]:
    return result["rewards_earned"].tolist()


def test_output_columns_and_order():
    result = run([("u", 5411, 10, "2025-01-02")], "citi_double_cash")
    assert list(result.columns) == OUTPUT_COLUMNS
    with_used = run([("u", 5411, 10, "2025-01-02", "citi_double_cash")], "citi_double_cash", card_used=True)
    assert list(with_used.columns) == OUTPUT_COLUMNS + CARD_USED_COLUMNS


def test_cap_split_across_two_purchases():
    # Blue Cash Preferred: 6% on the first $6,000 of US supermarkets a year, then 1%.
    result = run([("u", 5411, 5000, "2025-02-01"), ("u", 5411, 2000, "2025-03-01")], "amex_blue_cash_preferred")
    assert rewards(result) == [300.00, 1000 * 0.06 + 1000 * 0.01]


def test_cap_split_reasoning_names_the_cap_and_runner_up():
    result = run([("u", 5411, 5000, "2025-02-01"), ("u", 5411, 2000, "2025-03-01")],
                 "amex_blue_cash_preferred,citi_double_cash")
    second = result.iloc[1]
    # BCP: $1,000 x 6% + $1,000 x 1% = $70 beats Double Cash's 2% = $40.
    assert second["recommended_card"] == "amex_blue_cash_preferred"
    assert second["rewards_earned"] == 70.00
    assert second["runner_up_card"] == "citi_double_cash" and second["runner_up_rewards"] == 40.00
    assert "$70.00" in second["reasoning"] and "$40.00" in second["reasoning"]
    assert "$1000.00 was left under its $6,000-per-year cap" in second["reasoning"]


def test_exhausted_cap_hands_the_purchase_to_the_next_card():
    result = run([("u", 5411, 6000, "2025-02-01"), ("u", 5411, 100, "2025-03-01")],
                 "amex_blue_cash_preferred,citi_double_cash")
    assert result["recommended_card"].tolist() == ["amex_blue_cash_preferred", "citi_double_cash"]
    assert rewards(result) == [360.00, 2.00]
    assert result.iloc[1]["runner_up_rewards"] == 1.00   # BCP at its 1% base once the cap is gone


def test_new_year_resets_the_cap():
    result = run([("u", 5411, 6000, "2024-12-20"), ("u", 5411, 100, "2024-12-28"), ("u", 5411, 100, "2025-01-05")],
                 "amex_blue_cash_preferred")
    assert rewards(result) == [360.00, 1.00, 6.00]


def test_two_accounts_have_separate_caps():
    result = run([("a", 5411, 6000, "2025-02-01"), ("b", 5411, 100, "2025-02-02"), ("a", 5411, 100, "2025-02-03")],
                 "amex_blue_cash_preferred")
    assert rewards(result) == [360.00, 6.00, 1.00]


def test_caps_follow_time_not_file_order():
    # The later purchase is listed first; the earlier one gets the cap.
    result = run([("u", 5411, 100, "2025-05-01"), ("u", 5411, 6000, "2025-02-01")], "amex_blue_cash_preferred")
    assert rewards(result) == [1.00, 360.00]


def test_shared_cap_across_categories():
    # Ink Business Cash: 5% office supply + internet/cable/phone, first $25,000 a year combined.
    result = run([("u", 5943, 20000, "2025-01-10"), ("u", 4814, 10000, "2025-02-10"), ("u", 5541, 100, "2025-02-11")],
                 "chase_ink_business_cash")
    assert rewards(result) == [1000.00, 5000 * 0.05 + 5000 * 0.01, 2.00]


def test_rotating_quarter_boundaries():
    # Freedom Flex 2025: Q1 grocery 5%, Q2 Amazon + streaming.
    result = run([("u", 5411, 100, "2025-03-31T23:59:00Z"), ("u", 5411, 100, "2025-04-01T00:00:00Z"),
                  ("u", 5815, 100, "2025-04-01T00:00:00Z"), ("u", 5815, 100, "2025-03-31T12:00:00Z")],
                 "chase_freedom_flex")
    assert rewards(result) == [5.00, 1.00, 5.00, 1.00]


def test_rotating_quarterly_cap_and_activation_off():
    rows = [("u", 5411, 1000, "2025-01-10"), ("u", 5411, 1000, "2025-02-10"), ("u", 5411, 100, "2025-04-10")]
    assert rewards(run(rows, "chase_freedom_flex")) == [50.00, 500 * 0.05 + 500 * 0.01, 1.00]
    assert rewards(run(rows, "chase_freedom_flex:not_activated")) == [10.00, 10.00, 1.00]


def test_rotating_outside_the_published_calendar_earns_base():
    assert rewards(run([("u", 5411, 100, "2026-02-01")], "chase_freedom_flex")) == [1.00]


def test_chosen_category_is_part_of_the_wallet():
    rows = [("u", 5812, 100, "2025-01-10"), ("u", 5411, 100, "2025-01-11"), ("u", 5541, 100, "2025-01-12")]
    assert rewards(run(rows, "bank_of_america_customized_cash:dining")) == [3.00, 2.00, 1.00]
    assert rewards(run(rows, "bank_of_america_customized_cash:gas")) == [1.00, 2.00, 3.00]


def test_choice_and_grocery_share_one_quarterly_cap():
    # BofA: 3% choice + 2% grocery share $2,500 a quarter.
    rows = [("u", 5812, 2000, "2025-01-10"), ("u", 5411, 1000, "2025-01-11")]
    assert rewards(run(rows, "bank_of_america_customized_cash:dining")) == [60.00, 500 * 0.02 + 500 * 0.01]


def test_top_two_of_six_per_month():
    # Amex Business Gold: 4x on the top 2 of 6 categories each cycle. Travel profile: 1 cent a point.
    rows = [("u", 7311, 1000, "2025-03-02"), ("u", 4215, 500, "2025-03-03"),
            ("u", 5541, 200, "2025-03-04"), ("u", 5812, 50, "2025-03-05"),
            ("u", 5541, 900, "2025-04-04")]
    result = run(rows, "amex_business_gold", Valuation("travel"))
    assert rewards(result) == [40.00, 20.00, 2.00, 0.50, 36.00]


def test_top_one_with_monthly_cap():
    # Citi Custom Cash: 5% on the top eligible category each cycle, first $500; then 1%.
    rows = [("u", 5812, 300, "2025-05-01"), ("u", 5812, 400, "2025-05-02"), ("u", 5541, 100, "2025-05-03"),
            ("u", 5812, 100, "2025-06-01")]
    assert rewards(run(rows, "citi_custom_cash")) == [15.00, 200 * 0.05 + 200 * 0.01, 1.00, 5.00]


@pytest.mark.parametrize("profile, expected", [("cash", 2.40), ("travel", 4.00), ("transfer", 8.00)])
def test_valuation_profiles(profile, expected):
    # Amex Gold: 4x restaurants; Membership Rewards at 0.6 / 1.0 / 2.0 cents.
    assert rewards(run([("u", 5812, 100, "2025-01-10")], "amex_gold", Valuation(profile))) == [expected]


def test_cents_per_point_override():
    result = run([("u", 5812, 100, "2025-01-10")], "amex_gold", Valuation("cash", {"amex_mr": 1.5}))
    assert rewards(result) == [6.00]


def test_valuation_changes_the_pick():
    rows = [("u", 5812, 100, "2025-01-10")]
    wallet = "amex_gold,chase_freedom_unlimited"
    assert run(rows, wallet, Valuation("cash"))["recommended_card"].iloc[0] == "chase_freedom_unlimited"
    assert run(rows, wallet, Valuation("transfer"))["recommended_card"].iloc[0] == "amex_gold"


@pytest.mark.parametrize("mcc", [5300, 5310, 5311])
def test_wholesale_clubs_and_superstores_are_not_grocery(mcc):
    result = run([("u", mcc, 100, "2025-01-10")], "amex_blue_cash_preferred")
    assert result["reward_category"].iloc[0] != "grocery"
    assert rewards(result) == [1.00]


def test_portal_rates_never_apply():
    # Citi Double Cash's 5% is for Citi Travel bookings only; a hotel on a statement earns 2%.
    assert rewards(run([("u", 7011, 100, "2025-01-10")], "citi_double_cash")) == [2.00]


def test_per_account_wallets():
    wallet = Wallet(parse_wallet("citi_double_cash"), {"b": parse_wallet("amex_blue_cash_preferred")})
    result = score(frame([("a", 5411, 100, "2025-01-10"), ("b", 5411, 100, "2025-01-10")]), wallet, CATALOG)
    assert result["recommended_card"].tolist() == ["citi_double_cash", "amex_blue_cash_preferred"]
    assert rewards(result) == [2.00, 6.00]


def test_card_used_gives_actual_and_missed_rewards():
    rows = [("u", 5411, 100, "2025-01-10", "citi_double_cash"), ("u", 5812, 50, "2025-01-11", "citi_double_cash"),
            ("u", 5411, 10, "2025-01-12", "")]
    result = run(rows, "amex_blue_cash_preferred,citi_double_cash", card_used=True)
    assert result["actual_rewards"].tolist()[:2] == [2.00, 1.00]
    assert result["missed_rewards"].tolist()[:2] == [4.00, 0.00]
    assert pd.isna(result["actual_rewards"].iloc[2])
    summary = summarize(result)
    assert summary["missed_rewards"] == 4.00 and summary["missed_by_card_used"] == {"citi_double_cash": 4.00}


def test_card_used_keeps_its_own_cap_ledger():
    # Real charges on BCP consume its cap; the recommendation plan has a ledger of its own.
    rows = [("u", 5411, 6000, "2025-01-10", "amex_blue_cash_preferred"),
            ("u", 5411, 100, "2025-02-10", "amex_blue_cash_preferred")]
    result = run(rows, "amex_blue_cash_preferred", card_used=True)
    assert result["actual_rewards"].tolist() == [360.00, 1.00]


def test_the_card_that_paid_shares_its_cap_with_its_recommendations():
    """Transfer values: Amex Gold 4x supermarkets = 8% (first $25,000 a year), BCP 6% (first $6,000).

    The $5,000 paid with BCP is recommended to Amex Gold, but the real charge still used $5,000
    of BCP's cap; so on the $30,000 purchase BCP can only offer $1,000 x 6% + $29,000 x 1% = $350.
    Amex Gold has $20,000 left: $20,000 x 8% + $10,000 x 2% = $1,800.
    """
    rows = [("u", 5411, 5000, "2025-01-10", "amex_blue_cash_preferred"), ("u", 5411, 30000, "2025-02-10", "")]
    result = run(rows, "amex_gold,amex_blue_cash_preferred", Valuation("transfer"), card_used=True)
    assert result["recommended_card"].tolist() == ["amex_gold", "amex_gold"]
    assert rewards(result) == [400.00, 1800.00]
    assert result["runner_up_card"].iloc[1] == "amex_blue_cash_preferred"
    assert result["runner_up_rewards"].iloc[1] == 350.00
    assert result["actual_rewards"].iloc[0] == 300.00 and result["missed_rewards"].iloc[0] == 100.00


def test_bad_rows_never_stop_the_batch():
    data = frame([("u", 5411, 10, "2025-01-10"), ("u", 5411, "abc", "2025-01-11"), ("u", 5411, 10, "not a date"),
                  ("u", 5411, -5, "2025-01-12"), ("u", 5411, 0, "2025-01-12"), ("u", 5411, 12, "2025-01-13")])
    data.loc[5, "transaction_id"] = "t0"   # a repeated id: the later row is an error
    result = score(data, Wallet(parse_wallet("citi_double_cash")), CATALOG)
    assert result["status"].tolist() == ["ok", "error", "error", "skipped", "skipped", "error"]
    assert "amount_usd" in result["error"].iloc[1] and "abc" in result["error"].iloc[1]
    assert "timestamp" in result["error"].iloc[2]
    assert "duplicate transaction_id t0" in result["error"].iloc[5]
    assert result["transaction_id"].tolist() == data["transaction_id"].tolist()
    assert result.loc[result["status"] != "ok", "rewards_earned"].isna().all()
    summary = summarize(result)
    assert (summary["scored"], summary["skipped"], summary["failed"]) == (1, 2, 3)


def test_category_text_and_merchant_fallbacks_lower_confidence():
    data = pd.DataFrame({
        "transaction_id": ["a", "b", "c"], "user_id": "u", "merchant": ["Kroger", "Joe's Pizza", "Zzyzx LLC"],
        "category": ["", "Dining", ""], "amount_usd": "100", "mcc": ["5411", "", ""],
        "timestamp": "2025-01-10",
    })
    result = score(data, Wallet(parse_wallet("amex_blue_cash_preferred")), CATALOG)
    assert result["reward_category"].tolist()[:2] == ["grocery", "dining"]
    conf = result["confidence"].tolist()
    assert conf[0] > conf[1] > conf[2]


def test_near_tie_lowers_confidence():
    tie = run([("u", 5999, 100, "2025-01-10")], "citi_double_cash,wells_fargo_active_cash")
    clear = run([("u", 5411, 100, "2025-01-10")], "amex_blue_cash_preferred,citi_double_cash")
    assert tie["confidence"].iloc[0] < clear["confidence"].iloc[0]
    assert 0 <= tie["confidence"].iloc[0] <= 1 and clear["confidence"].iloc[0] == 1.0


def test_ties_go_to_the_earlier_wallet_card():
    result = run([("u", 5999, 100, "2025-01-10")], "wells_fargo_active_cash,citi_double_cash")
    assert result["recommended_card"].iloc[0] == "wells_fargo_active_cash"
    assert result["runner_up_card"].iloc[0] == "citi_double_cash"
