"""Scoring: which wallet card earns the most on each purchase, exactly, caps included.

(Work in progress: API fixed, body being written.)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from backend.catalog import Catalog
from backend.wallet import Wallet

OUTPUT_COLUMNS = [
    "transaction_id", "user_id", "merchant", "amount_usd", "mcc", "timestamp",
    "reward_category", "recommended_card", "recommended_card_name", "reward_rate", "rewards_earned",
    "runner_up_card", "runner_up_rewards", "confidence", "reasoning", "status", "error",
]
CARD_USED_COLUMNS = ["card_used", "actual_rewards", "missed_rewards"]


@dataclass(frozen=True)
class Valuation:
    """A valuation profile (cash | travel | transfer) and per-currency cents-per-point overrides."""
    profile: str = "cash"
    overrides: dict[str, float] = field(default_factory=dict)


def score(frame: pd.DataFrame, wallet: Wallet, catalog: Catalog, valuation: Valuation = Valuation()) -> pd.DataFrame:
    """Score a canonical frame; one output row per input row, in input order."""
    raise NotImplementedError


def summarize(results: pd.DataFrame, seconds: float | None = None) -> dict:
    """The JSON summary of a results frame."""
    raise NotImplementedError
