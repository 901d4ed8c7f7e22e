"""Column mappings: saved and loaded as JSON or TOML, and applied to a bank we do not know."""
from __future__ import annotations

from pathlib import Path

import pytest

from backend.statements import ColumnMapping, StatementError, load_mapping, read_statement, save_mapping
from backend.transactions import prepare

FIXTURES = Path(__file__).parent / "fixtures" / "statements"
UNKNOWN = FIXTURES / "unknown_header.csv"


def booking_mapping(**changes) -> ColumnMapping:
    fields = dict(date="Booking Date", description="Details", amount="Value",
                  sign="purchases_negative", date_format="%d/%m/%Y", issuer="Acme Bank")
    return ColumnMapping(**{**fields, **changes})


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_round_trip(tmp_path, suffix):
    mapping = booking_mapping(category="Kind", mcc="MCC code", description='Say "hi" \\ there')
    path = save_mapping(mapping, tmp_path / f"acme{suffix}")
    assert load_mapping(path) == mapping
    debit_credit = ColumnMapping(date="Date", description="Description", debit="Debit", credit="Credit")
    assert load_mapping(save_mapping(debit_credit, tmp_path / f"dc{suffix}")) == debit_credit


def test_unknown_bank_read_through_a_mapping():
    st = read_statement(UNKNOWN, account="acme", card_used="citi_double_cash", mapping=booking_mapping())
    f = st.frame
    assert (st.format, st.issuer, st.rows_read) == ("custom", "Acme Bank", 3)
    assert f["timestamp"].tolist() == ["2026-01-15", "2026-01-16", "2026-01-17"]
    assert f["amount_usd"].tolist() == [4.50, -200.00, 31.99]
    assert f["description"].iloc[2] == "OFFICE SUPPLIES ****1111"
    assert f["skip_reason"].tolist() == ["", "payment: PAYMENT RECEIVED THANK YOU", ""]
    assert f["source_row"].tolist() == [2, 3, 4]
    assert f["transaction_id"].str.startswith("custom-").all()
    assert prepare(f)["status"].tolist() == ["ok", "skipped", "ok"]


def test_date_format_is_guessed_when_not_given():
    f = read_statement(UNKNOWN, mapping=booking_mapping(date_format=None)).frame
    assert f["timestamp"].tolist() == ["2026-01-15", "2026-01-16", "2026-01-17"]


def test_debit_credit_mapping_reads_a_citi_file():
    mapping = ColumnMapping(date="DATE", description="description", debit="Debit", credit="Credit")
    f = read_statement(FIXTURES / "citi.csv", mapping=mapping).frame
    assert f["amount_usd"].tolist()[:3] == [142.37, -300.00, -45.10]


def test_category_and_mcc_columns(tmp_path):
    path = tmp_path / "bank.csv"
    path.write_text("When,What,How much,Kind,Code\n2026-03-01,TACO TRUCK,9.50,Dining,5812\n")
    mapping = ColumnMapping(date="When", description="What", amount="How much", category="Kind", mcc="Code")
    f = read_statement(path, mapping=mapping).frame
    assert (f["category"].iloc[0], f["mcc"].iloc[0], f["amount_usd"].iloc[0]) == ("Dining", "5812", 9.50)


def test_mapping_naming_missing_columns_names_them_all():
    mapping = booking_mapping(description="Memo", amount="Total")
    with pytest.raises(StatementError) as err:
        read_statement(UNKNOWN, mapping=mapping)
    message = str(err.value)
    assert message.startswith("unknown_header.csv:")
    assert "'Memo'" in message and "'Total'" in message
    assert "Booking Date, Details, Value, Currency" in message


@pytest.mark.parametrize("fields, words", [
    (dict(date="D", description="X", amount="A", debit="B"), "either an amount column or debit/credit"),
    (dict(date="D", description="X"), "either an amount column or debit/credit"),
    (dict(date="", description="X", amount="A"), "date column is required"),
    (dict(date="D", description="X", amount="A", sign="negative"), "sign must be one of"),
])
def test_invalid_mappings(fields, words):
    with pytest.raises(ValueError, match=words):
        ColumnMapping(**fields)


def test_load_rejects_unknown_keys_and_bad_files(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text('{"date": "D", "description": "X", "amount": "A", "colour": "blue"}')
    with pytest.raises(ValueError, match="m.json: unknown key colour"):
        load_mapping(bad)
    broken = tmp_path / "m.toml"
    broken.write_text("date = ")
    with pytest.raises(ValueError, match="m.toml: not a valid TOML file"):
        load_mapping(broken)
