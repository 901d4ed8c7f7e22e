"""The command line, run as a real process: exit codes, messages, summaries, CSV output."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from backend.engine import CARD_USED_COLUMNS, OUTPUT_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
CANONICAL = """transaction_id,user_id,merchant,category,amount_usd,mcc,timestamp
txn_001,u_alice,Whole Foods,Groceries,127.50,5411,2025-01-15T10:30:00Z
txn_002,u_alice,Chipotle,Dining,20.00,5812,2025-01-16T12:00:00Z
txn_003,=HYPERLINK(x),Etsy,Shopping,50.00,5999,2025-01-17
txn_004,u_bob,Refund,,-20,5999,2025-01-18
txn_005,u_bob,Bad amount,,abc,5999,2025-01-18
"""


def cli(*args: str, cwd: Path = ROOT, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=cwd, capture_output=True, text=True, env=env)


@pytest.fixture()
def canonical(tmp_path: Path) -> Path:
    path = tmp_path / "statement.csv"
    path.write_text(CANONICAL)
    return path


def test_json_summary(canonical: Path):
    done = cli("score", str(canonical), "--wallet", "amex_blue_cash_preferred,citi_double_cash", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    for key in ("total_transactions", "scored", "skipped", "failed", "total_rewards", "effective_rate",
                "by_card", "by_category", "processing_time_seconds", "throughput_tps"):
        assert key in summary
    assert (summary["total_transactions"], summary["scored"], summary["skipped"], summary["failed"]) == (5, 3, 1, 1)
    # 127.50 x 6% + 20 x 2% + 50 x 2% = 7.65 + 0.40 + 1.00
    assert summary["total_rewards"] == 9.05
    assert "missed_rewards" not in summary


def test_out_dash_writes_every_row_and_is_spreadsheet_safe(canonical: Path):
    done = cli("score", str(canonical), "--wallet", "citi_double_cash", "--out", "-")
    assert done.returncode == 0, done.stderr
    results = pd.read_csv(io.StringIO(done.stdout), dtype=str, keep_default_na=False)
    assert list(results.columns) == OUTPUT_COLUMNS
    assert results["transaction_id"].tolist() == ["txn_001", "txn_002", "txn_003", "txn_004", "txn_005"]
    assert results["user_id"].iloc[2] == "'=HYPERLINK(x)"
    assert results["status"].tolist() == ["ok", "ok", "ok", "skipped", "error"]
    assert "transactions" in done.stderr   # the summary moved to stderr


def test_unknown_card_exits_2_naming_it(canonical: Path):
    done = cli("score", str(canonical), "--wallet", "citi_double_cash,no_such_card")
    assert done.returncode == 2
    assert "no_such_card" in done.stderr and "Traceback" not in done.stderr


def test_missing_columns_exit_2_naming_file_and_every_column(tmp_path: Path):
    path = tmp_path / "partial.csv"
    path.write_text("transaction_id,user_id,merchant,amount_usd\n1,u,m,5\n")
    done = cli("score", str(path), "--wallet", "citi_double_cash")
    assert done.returncode == 2
    assert "partial.csv" in done.stderr
    for column in ("category", "mcc", "timestamp"):
        assert column in done.stderr
    assert done.stderr.count("\n") == 1   # one message


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_empty_file_exits_2(tmp_path: Path, content: str):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    done = cli("score", str(path), "--wallet", "citi_double_cash")
    assert done.returncode == 2 and "empty.csv" in done.stderr


def test_unreadable_file_exits_2(tmp_path: Path):
    done = cli("score", str(tmp_path / "missing.csv"), "--wallet", "citi_double_cash")
    assert done.returncode == 2 and "missing.csv" in done.stderr


def test_bad_cpp_and_unknown_currency_exit_2(canonical: Path):
    assert cli("score", str(canonical), "--wallet", "amex_gold", "--cpp", "amex_mr").returncode == 2
    done = cli("score", str(canonical), "--wallet", "amex_gold", "--cpp", "doubloons=2")
    assert done.returncode == 2 and "doubloons" in done.stderr


def test_valuation_and_cpp_override(canonical: Path):
    def total(*extra):
        done = cli("score", str(canonical), "--wallet", "amex_gold", "--json", *extra)
        return json.loads(done.stdout)["total_rewards"]
    # Amex Gold: 4x supermarkets and restaurants, 1x else: 127.5*4 + 20*4 + 50 = 640 points.
    assert total() == 3.84                      # 0.6 cents
    assert total("--valuation", "transfer") == 12.80
    assert total("--cpp", "amex_mr=1.0") == 6.40


def test_wallets_file_gives_accounts_their_own_cards(canonical: Path, tmp_path: Path):
    wallets = tmp_path / "wallets.csv"
    wallets.write_text("user_id,card_id,choice\n=HYPERLINK(x),bank_of_america_customized_cash,online_shopping\n")
    done = cli("score", str(canonical), "--wallet", "citi_double_cash", "--wallets", str(wallets), "--out", "-")
    results = pd.read_csv(io.StringIO(done.stdout), dtype=str, keep_default_na=False)
    assert results["recommended_card"].tolist()[:3] == ["citi_double_cash", "citi_double_cash",
                                                          "bank_of_america_customized_cash"]


def test_bad_catalog_names_card_and_field(canonical: Path, tmp_path: Path):
    catalog = tmp_path / "cards.toml"
    catalog.write_text('[currencies.cash]\ncash = 1.0\ntravel = 1.0\ntransfer = 1.0\n\n'
                       '[[cards]]\nid = "mine"\nname = "Mine"\nissuer = "Me"\nannual_fee = 0\ncurrency = "cash"\n'
                       'as_of = 2026-01-01\nsource = "me"\n')
    done = cli("score", str(canonical), "--wallet", "mine", "--catalog", str(catalog))
    assert done.returncode == 2 and "card mine" in done.stderr and "base_rate" in done.stderr


def test_cards_json_lists_the_catalog():
    done = cli("cards", "--json")
    cards = {c["id"]: c for c in json.loads(done.stdout)}
    assert len(cards) >= 24
    assert cards["chase_ink_business_cash"]["kind"] == "business"
    assert cards["bank_of_america_customized_cash"]["choices"]


CHASE_STATEMENT = """Transaction Date,Post Date,Description,Category,Type,Amount,Memo
02/03/2025,02/04/2025,WHOLE FOODS MARKET #10234,Groceries,Sale,-100.00,
02/05/2025,02/06/2025,SHELL OIL 57442123 SAN JOSE CA,Gas,Sale,-50.00,
02/07/2025,02/07/2025,STARBUCKS STORE 0042,Food & Drink,Sale,-10.00,
02/10/2025,02/10/2025,AUTOMATIC PAYMENT - THANK YOU,,Payment,200.00,
"""


def test_file_at_card_gives_actual_and_missed_rewards(tmp_path: Path):
    """Paid with Sapphire Preferred (1x groceries, 1x gas, 3x dining; 1 cent a point).

    Blue Cash Preferred would have earned 6% on the groceries and 3% on the gas:
    recommended 6.00 + 1.50 + 0.30 = 7.80; actual 1.00 + 0.50 + 0.30 = 1.80; missed 6.00.
    """
    path = tmp_path / "chase.csv"
    path.write_text(CHASE_STATEMENT)
    out = tmp_path / "out.csv"
    done = cli("score", f"{path}@chase_sapphire_preferred", "--wallet",
               "amex_blue_cash_preferred,chase_sapphire_preferred", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["total_rewards"] == 7.80
    assert summary["actual_rewards"] == 1.80
    assert summary["missed_rewards"] == 6.00
    assert summary["missed_by_card_used"] == {"chase_sapphire_preferred": 6.00}
    results = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(results.columns) == OUTPUT_COLUMNS + CARD_USED_COLUMNS
    assert results["status"].tolist() == ["ok", "ok", "ok", "skipped"]
    assert results["card_used"].tolist()[:3] == ["chase_sapphire_preferred"] * 3
    assert [float(x) for x in results["missed_rewards"].tolist()[:3]] == [5.00, 1.00, 0.00]
    assert "payment" in results["error"].iloc[3].lower()


def test_file_at_unknown_card_exits_2(tmp_path: Path):
    path = tmp_path / "chase.csv"
    path.write_text(CHASE_STATEMENT)
    done = cli("score", f"{path}@nope", "--wallet", "citi_double_cash")
    assert done.returncode == 2 and "nope" in done.stderr


def test_unknown_merchants_listed_and_corrections_apply_to_later_runs(tmp_path: Path):
    import os

    env = {**os.environ, "REWARDPILOT_HOME": str(tmp_path / "home")}
    path = tmp_path / "unknown.csv"
    path.write_text("transaction_id,user_id,merchant,category,amount_usd,mcc,timestamp\n"
                    "1,u,Zork Widgets,,50,,2025-01-01\n2,u,Zork Widgets,,50,,2025-01-02\n")
    wallet = ("--wallet", "citi_custom_cash,chase_freedom_unlimited")
    first = cli("score", str(path), *wallet, env=env)
    assert "ZORK WIDGETS" in first.stdout and "could not be categorized" in first.stdout
    assert cli("corrections", "add", "Zork Widgets #123", "dining", env=env).returncode == 0
    assert "ZORK WIDGETS" in cli("corrections", "list", env=env).stdout
    second = cli("score", str(path), *wallet, "--json", env=env)
    summary = json.loads(second.stdout)
    assert summary["by_category"] == {"dining": {"transactions": 2, "spend": 100.0, "rewards": 5.0}}
    bad = cli("corrections", "add", "x", "nonsense", env=env)
    assert bad.returncode == 2 and "nonsense" in bad.stderr


def test_modal_without_a_token_says_how_to_set_one_up(canonical: Path, tmp_path: Path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env.update(MODAL_CONFIG_PATH=str(tmp_path / "no-modal.toml"), REWARDPILOT_HOME=str(tmp_path / "home"))
    done = cli("score", str(canonical), "--wallet", "citi_double_cash", "--executor", "modal", env=env)
    assert done.returncode == 2
    assert "modal token new" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [["show", "nope"], ["cancel", "nope"], ["resume", "nope"],
                                     ["export", "nope", "--out", "x.csv"]])
def test_unknown_run_id_exits_2(tmp_path: Path, command: list[str]):
    import os

    done = cli("runs", *command, env={**os.environ, "REWARDPILOT_HOME": str(tmp_path / "home")})
    assert done.returncode == 2
    assert "no run 'nope'" in done.stderr and "Traceback" not in done.stderr
