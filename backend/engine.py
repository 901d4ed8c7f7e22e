"""Scoring: which wallet card earns the most on each purchase, exactly, caps included.

(Work in progress: API fixed, body being written.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from backend.catalog import Catalog
from backend.wallet import Wallet

OUTPUT_COLUMNS = [
    "transaction_id", "user_id", "merchant", "amount_usd", "mcc", "timestamp",
    "reward_category", "recommended_card", "recommended_card_name", "reward_rate", "rewards_earned",
    "runner_up_card", "runner_up_rewards", "confidence", "reasoning", "status", "error",
]
CARD_USED_COLUMNS = ["card_used", "actual_rewards", "missed_rewards"]

MerchantLookup = Callable[[pd.Series], tuple[pd.Series, pd.Series]]


@dataclass(frozen=True)
class Valuation:
    """A valuation profile (cash | travel | transfer) and per-currency cents-per-point overrides."""
    profile: str = "cash"
    overrides: dict[str, float] = field(default_factory=dict)


def prepare_frame(frame: pd.DataFrame, merchant_lookup: MerchantLookup | None = None) -> pd.DataFrame:
    """Row checks + categories for a whole canonical frame (done once, before any chunking).

    Adds: amount (float), ts (UTC datetime), status, error, error_column, reward_category,
    category_evidence. Duplicate ids are found here, across the whole input.
    """
    raise NotImplementedError


def score_prepared(prepared: pd.DataFrame, wallet: Wallet, catalog: Catalog,
                   valuation: Valuation = Valuation()) -> pd.DataFrame:
    """Score a prepared frame (or any slice of whole account-years of it).

    Returns OUTPUT_COLUMNS (+ CARD_USED_COLUMNS when the frame has `card_used`), one row per
    input row, same index and order as the input.
    """
    raise NotImplementedError


def score(frame: pd.DataFrame, wallet: Wallet, catalog: Catalog, valuation: Valuation = Valuation(),
          merchant_lookup: MerchantLookup | None = None) -> pd.DataFrame:
    """Score a canonical frame in-process: prepare_frame + score_prepared."""
    return score_prepared(prepare_frame(frame, merchant_lookup), wallet, catalog, valuation)


def summarize(results: pd.DataFrame, seconds: float | None = None) -> dict:
    """The JSON summary of a results frame: total_transactions, scored, skipped, failed,
    total_rewards, effective_rate, by_card, by_category, processing_time_seconds,
    throughput_tps, and missed_rewards when card_used is known."""
    raise NotImplementedError
