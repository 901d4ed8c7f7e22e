"""Wallets: which cards an account holds, with the holder's choices.

A wallet is part of the question ("which of *my* cards?"), so the holder's choices live here:
the chosen category of a choice card and whether rotating categories were activated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from backend.catalog import Catalog, CatalogError

NOT_ACTIVATED = "not_activated"


@dataclass(frozen=True)
class WalletCard:
    card_id: str
    choice: str | None = None     # choice cards: the option picked (None = the card's default)
    activated: bool = True        # rotating cards: were this quarter's categories activated?

    def spec(self) -> str:
        """The `card_id[:choice]` text form, as the CLI takes it."""
        if not self.activated:
            return f"{self.card_id}:{NOT_ACTIVATED}"
        return f"{self.card_id}:{self.choice}" if self.choice else self.card_id


@dataclass(frozen=True)
class Wallet:
    """The default cards, and per-account wallets for accounts that hold different cards."""
    cards: tuple[WalletCard, ...]
    accounts: dict[str, tuple[WalletCard, ...]] = field(default_factory=dict)

    def for_account(self, user_id: str) -> tuple[WalletCard, ...]:
        return self.accounts.get(user_id, self.cards)

    def card_ids(self) -> list[str]:
        ids = [c.card_id for c in self.cards]
        for cards in self.accounts.values():
            ids += [c.card_id for c in cards if c.card_id not in ids]
        return list(dict.fromkeys(ids))

    def to_dict(self) -> dict:
        return {"cards": [c.spec() for c in self.cards],
                "accounts": {u: [c.spec() for c in cs] for u, cs in self.accounts.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> "Wallet":
        return cls(tuple(parse_card_spec(s) for s in data["cards"]),
                   {u: tuple(parse_card_spec(s) for s in cs) for u, cs in data.get("accounts", {}).items()})


def parse_card_spec(spec: str) -> WalletCard:
    """`card_id`, `card_id:choice` or `card_id:not_activated`."""
    card_id, _, option = spec.strip().partition(":")
    option = option.strip() or None
    if option == NOT_ACTIVATED:
        return WalletCard(card_id.strip(), activated=False)
    return WalletCard(card_id.strip(), choice=option)


def parse_wallet(text: str) -> tuple[WalletCard, ...]:
    """The `--wallet ID[,ID...]` form."""
    return tuple(parse_card_spec(s) for s in text.split(",") if s.strip())


def read_wallets_csv(path: str | Path) -> dict[str, tuple[WalletCard, ...]]:
    """A `user_id,card_id[,choice]` CSV -> per-account wallets."""
    frame = pd.read_csv(path, dtype="string", keep_default_na=False)
    missing = [c for c in ("user_id", "card_id") if c not in frame.columns]
    if missing:
        raise CatalogError(f"{path}: missing column(s) {', '.join(missing)}")
    choice = frame["choice"] if "choice" in frame else pd.Series("", index=frame.index)
    accounts: dict[str, list[WalletCard]] = {}
    for user, card, opt in zip(frame["user_id"], frame["card_id"], choice):
        accounts.setdefault(user.strip(), []).append(parse_card_spec(f"{card}:{opt}" if opt else card))
    return {u: tuple(cs) for u, cs in accounts.items()}


def validate_wallet(wallet: Wallet, catalog: Catalog) -> None:
    """Every card id known; every choice one of the card's options."""
    everything = list(wallet.cards) + [c for cs in wallet.accounts.values() for c in cs]
    unknown = sorted({c.card_id for c in everything if c.card_id not in catalog.cards})
    if unknown:
        raise CatalogError(f"unknown card id(s): {', '.join(unknown)} (see `python -m backend cards`)")
    for wc in everything:
        card = catalog.cards[wc.card_id]
        rule = card.choice_rule
        if wc.choice and (rule is None or wc.choice not in rule.options):
            options = ", ".join(rule.options) if rule else "none: this card has no choice"
            raise CatalogError(f"card {wc.card_id}: choice {wc.choice!r} is not one of its options ({options})")
    if not everything:
        raise CatalogError("the wallet is empty: name at least one card")
