"""Chunk payloads: self-contained Arrow bytes in, the engine's rows out, never pickle."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from backend import engine
from backend.catalog import load_catalog
from backend.payload import (FAIL_ENV, ROW, PayloadError, decode_chunk, decode_result, encode_chunk,
                             result_info, score_payload)
from backend.wallet import Wallet, parse_wallet
from bench.generate import generate

WALLET = Wallet(parse_wallet("amex_blue_cash_preferred,citi_double_cash,chase_freedom_flex"),
                accounts={"acct_1": parse_wallet("citi_custom_cash,bank_of_america_customized_cash:dining")})


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    prepared = engine.prepare_frame(generate(300, 4, seed=3, card_used="citi_double_cash"))
    prepared[ROW] = np.arange(len(prepared)) * 10       # positions in some larger input
    return prepared


def test_round_trip_keeps_rows_wallet_and_only_the_wallets_cards(rows, catalog):
    valuation = engine.Valuation("transfer", {"amex_mr": 1.5})
    payload = encode_chunk(rows, WALLET, catalog, valuation)
    got_rows, wallet, got_catalog, got_valuation = decode_chunk(payload)
    pd.testing.assert_frame_equal(got_rows, rows.reset_index(drop=True))
    assert wallet == WALLET
    assert sorted(got_catalog.cards) == sorted(WALLET.card_ids())
    assert len(got_catalog.cards) < len(catalog.cards)
    assert got_valuation == valuation
    # a worker needs nothing else: the decoded catalog values points like the full one
    overrides = {"amex_mr": 1.5}
    assert got_catalog.cents_per_point("transfer", overrides) == catalog.cents_per_point("transfer", overrides)


def test_payload_is_compact(rows, catalog):
    payload = encode_chunk(rows, WALLET, catalog)
    assert len(payload) < 64 * 1024            # 300 rows + catalog subset, zstd-compressed
    assert len(payload) < len(rows.to_csv().encode())


def test_score_payload_equals_the_engine_and_keeps_positions(rows, catalog):
    data = score_payload(encode_chunk(rows, WALLET, catalog))
    scored, seconds = decode_result(data)
    assert seconds > 0
    assert scored[ROW].tolist() == rows[ROW].tolist()
    want = engine.score_prepared(rows.drop(columns=[ROW]), WALLET, catalog).reset_index(drop=True)
    pd.testing.assert_frame_equal(scored.drop(columns=[ROW]), want)
    assert list(want.columns) == engine.OUTPUT_COLUMNS + engine.CARD_USED_COLUMNS


def test_pickle_bytes_are_refused_not_unpickled(catalog):
    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("a payload was unpickled",))
    with pytest.raises(PayloadError, match="not a RewardPilot chunk"):
        decode_chunk(pickle.dumps(Boom()))
    with pytest.raises(PayloadError, match="not a RewardPilot result"):
        decode_result(b"garbage")


def test_a_result_and_a_payload_are_not_mistaken_for_each_other(rows, catalog):
    payload = encode_chunk(rows, WALLET, catalog)
    result = score_payload(payload)
    with pytest.raises(PayloadError, match="not a RewardPilot chunk"):
        decode_chunk(result)
    with pytest.raises(PayloadError, match="not a RewardPilot result"):
        result_info(payload)


def test_result_metadata_carries_rows_totals_and_seconds_without_decoding(rows, catalog):
    data = score_payload(encode_chunk(rows, WALLET, catalog))
    info = result_info(data)
    scored, seconds = decode_result(data)
    assert info.rows == len(rows) and info.compute_seconds == seconds
    assert info.columns == engine.OUTPUT_COLUMNS + engine.CARD_USED_COLUMNS + [ROW]
    ok = scored[scored.status == "ok"]
    assert info.totals.rows_ok == len(ok)
    assert info.totals.rows_skipped == int((scored.status == "skipped").sum())
    assert info.totals.rewards == pytest.approx(ok.rewards_earned.sum())
    assert info.totals.by_card == pytest.approx(ok.groupby("recommended_card").rewards_earned.sum().to_dict())
    assert info.totals.by_category == pytest.approx(ok.groupby("reward_category").rewards_earned.sum().to_dict())
    assert info.totals.missed_rewards == pytest.approx(scored.missed_rewards.sum())


def test_rows_need_their_positions(rows, catalog):
    with pytest.raises(ValueError, match="_row"):
        encode_chunk(rows.drop(columns=[ROW]), WALLET, catalog)


def test_fail_hook_makes_calls_fail(rows, catalog, monkeypatch):
    monkeypatch.setenv(FAIL_ENV, "injected failure")
    with pytest.raises(RuntimeError, match="injected failure"):
        score_payload(encode_chunk(rows, WALLET, catalog))

