"""Statement importers: every fixture file read end to end, then through the real row checks.

Each fixture in tests/fixtures/statements/ is a small export in one issuer's format with
purchases, a payment, a refund, a fee, interest and a descriptor carrying a 16-digit number.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.statements import (COLUMNS, KNOWN_FORMATS, Statement, StatementError, UnknownFormatError,
                                detect, read_statement, suggest_card)
from backend.statements.values import iso_dates, parse_money
from backend.transactions import prepare

FIXTURES = Path(__file__).parent / "fixtures" / "statements"
CARD = "chase_freedom_flex"

# fixture -> (format, source rows, one purchase (row, amount, date, merchant), skips {row: kind},
#             row whose descriptor carried a card number)
EXPECTED = {
    "chase.csv": ("chase", list(range(2, 14)), (3, 1234.56, "2026-01-14", "AMAZON"),
                  {7: "payment", 8: "refund", 9: "fee", 10: "interest", 13: "adjustment"}, 5),
    "chase_bom.csv": ("chase", list(range(2, 7)), (2, 5.75, "2026-01-15", "BLUE BOTTLE COFFEE"), {}, 5),
    "amex.csv": ("amex", list(range(4, 12)), (5, 1432.10, "2026-01-14", "DELTA AIR LINES ATLANTA"),
                 {7: "payment", 8: "refund", 9: "fee", 10: "interest"}, 6),
    "amex_cp1252.csv": ("amex", [2, 3, 4], (2, 18.50, "2026-01-15", "CAFE DU MONDE"), {4: "payment"}, 3),
    "capital_one.csv": ("capital_one", list(range(2, 10)), (4, 1011.99, "2026-01-14", "SPOTIFY"),
                        {5: "payment", 6: "refund", 7: "fee", 8: "interest"}, 4),
    "citi.csv": ("citi", list(range(2, 9)), (2, 142.37, "2026-01-15", "COSTCO WHSE"),
                 {3: "payment", 4: "refund", 5: "fee", 6: "interest"}, 7),
    "discover.csv": ("discover", list(range(2, 10)), (2, 45.00, "2026-01-15", "CHEVRON"),
                     {3: "payment", 4: "refund", 5: "credit", 6: "fee", 7: "interest"}, 8),
    "bank_of_america.csv": ("bank_of_america", list(range(2, 9)), (8, 1204.00, "2026-01-10", "OFFICE DEPOT"),
                            {3: "payment", 4: "refund", 5: "fee", 6: "interest"}, 7),
    "wells_fargo.csv": ("wells_fargo", list(range(1, 8)), (2, 12.50, "2026-01-06", None),
                        {3: "payment", 4: "refund", 5: "fee", 6: "interest"}, 2),
    "us_bank.csv": ("us_bank", list(range(2, 9)), (2, 12.34, "2026-01-15", "CHIPOTLE"),
                    {3: "payment", 4: "refund", 5: "fee", 6: "interest"}, 7),
}


def read(name: str, **kwargs) -> Statement:
    return read_statement(FIXTURES / name, account="acme", card_used=CARD, **kwargs)


def by_row(st: Statement) -> pd.DataFrame:
    return st.frame.set_index("source_row")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_issuer_fixture_reads_every_row_once(name):
    fmt, rows, (row, amount, date, merchant), skips, masked_row = EXPECTED[name]
    st = read(name)
    f = by_row(st)
    assert (st.format, st.name) == (fmt, name)
    assert list(st.frame.columns) == COLUMNS
    assert st.rows_read == len(st.frame) == len(rows)
    assert st.frame["source_row"].tolist() == rows
    assert st.issues.empty
    # purchase-positive floats, ISO dates, account and card from the upload
    assert st.frame["amount_usd"].dtype == np.float64
    assert f.loc[row, "amount_usd"] == pytest.approx(amount)
    assert f.loc[row, "timestamp"] == date
    if merchant:
        assert f.loc[row, "merchant"] == merchant
    assert st.frame["timestamp"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert set(st.frame["user_id"]) == {"acme"} and set(st.frame["card_used"]) == {CARD}
    assert set(st.frame["source_file"]) == {name}
    # skip reasons: exactly the expected rows, each "kind: descriptor"
    reasons = f["skip_reason"]
    kinds = reasons.str.split(":").str[0]
    assert {r: k for r, k in kinds.items() if k} == skips
    for r in skips:
        assert reasons[r] == f"{skips[r]}: {f.loc[r, 'description']}"[: len(skips[r]) + 2 + 60]
    # payments and refunds are negative, the rest positive
    for r, kind in skips.items():
        assert (f.loc[r, "amount_usd"] < 0) == (kind in ("payment", "refund", "credit", "adjustment")), r
    assert (f.loc[[r for r in rows if r not in skips], "amount_usd"] > 0).all()
    # no card number survives anywhere; the masked one keeps its last four digits
    text = st.frame.drop(columns=["transaction_id"]).select_dtypes(exclude="number").astype(str)
    assert not text.apply(lambda c: c.str.contains(r"\d{8,}")).any().any()
    assert re.search(r"\*\*\*\*\d{4}", f.loc[masked_row, "description"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_issuer_fixture_passes_the_row_checks(name):
    """The canonical frame goes through transactions.prepare: skips skipped, the rest ok."""
    st = read(name)
    checked = prepare(st.frame)
    skips = EXPECTED[name][3]
    status = dict(zip(checked["source_row"], checked["status"]))
    assert {r for r, s in status.items() if s == "skipped"} == set(skips)
    assert {r for r, s in status.items() if s == "ok"} == set(EXPECTED[name][1]) - set(skips)


def test_amex_multiline_fields_and_leading_blank_rows():
    st = read("amex.csv")
    f = by_row(st)
    # two blank lines, the header on row 3; a quoted field spanning three lines stays one row
    assert f.loc[4, "merchant"] == "BLUE BOTTLE COFFEE"
    assert f.loc[4, "category"] == "Restaurant-Restaurant"
    assert f.loc[5, "category"] == "Travel-Airline"
    assert f.loc[11, "category"] == "Merchandise & Supplies-Groceries"


def test_encodings_are_detected():
    assert read("chase_bom.csv").encoding == "utf-8"
    st = read("amex_cp1252.csv")
    assert st.encoding == "cp1252"
    assert by_row(st).loc[2, "description"] == "CAFÉ DU MONDE NEW ORLEANS LA"
    # the BOM is not part of the first column name: the file is detected as Chase
    assert detect(FIXTURES / "chase_bom.csv") == "chase"


def test_us_bank_mcc_comes_from_the_memo():
    f = by_row(read("us_bank.csv"))
    assert f["mcc"].to_dict() == {2: "5814", 3: "", 4: "5200", 5: "", 6: "", 7: "5541", 8: "3509"}


def test_canonical_passes_values_through_and_keeps_its_own_accounts():
    st = read_statement(FIXTURES / "canonical.csv", card_used="citi_double_cash")
    f = by_row(st)
    assert st.format == "canonical" and st.rows_read == 6
    assert f["transaction_id"].tolist() == [f"T000{i}" for i in range(1, 7)]
    assert f["user_id"].tolist() == ["ops", "sales", "default", "ops", "ops", "eng"]
    assert f.loc[2, "card_used"] == "amex_business_gold"          # the file's own card wins
    assert f.loc[4, "card_used"] == "citi_double_cash"            # a blank one takes the upload's
    assert f["amount_usd"].tolist() == ["51.10", "17.52", "193.73", "-22.47", "twelve", "1,803.07"]
    assert f.loc[2, "timestamp"] == "2026-01-02 15:36:00"
    assert f.loc[4, "mcc"] == "" and f.loc[2, "mcc"] == "5541"
    assert f.loc[3, "description"] == "SQ *BLUE BOTTLE COFFEE ****1111"
    assert f.loc[3, "merchant"] == "BLUE BOTTLE COFFEE"
    assert "note" not in st.frame
    checked = prepare(st.frame).set_index("source_row")
    assert checked.loc[6, "status"] == "error" and "twelve" in checked.loc[6, "error"]
    assert checked.loc[5, "status"] == "skipped"
    assert checked.loc[7, "status"] == "ok" and checked.loc[7, "amount"] == pytest.approx(1803.07)


def test_canonical_seed_sample_reads():
    from backend.samples import SAMPLE_STATEMENT
    st = read_statement(SAMPLE_STATEMENT)
    raw = pd.read_csv(SAMPLE_STATEMENT, dtype=str, keep_default_na=False)
    assert st.format == "canonical" and st.rows_read == len(raw) == len(st.frame)
    assert st.frame["transaction_id"].tolist() == raw["transaction_id"].tolist()
    assert st.frame["user_id"].tolist() == raw["user_id"].tolist()


# --- detection --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED) + ["canonical.csv"])
def test_detect_each_fixture(name):
    expected = EXPECTED[name][0] if name in EXPECTED else "canonical"
    assert detect(FIXTURES / name) == expected


@pytest.mark.parametrize("header, fmt", [
    ("Date,Description,Card Member,Account #,Amount", "amex"),                  # older Amex
    ("Date,Reference,Description,Card Member,Account #,Amount,Extended Details", "amex"),
    ("Status,Date,Description,Debit,Credit", "citi"),                           # no Member Name
    (" transaction date , POST DATE ,Description,Category,Type,Amount,Memo,Extra", "chase"),
    ("Trans. Date,Post Date,Description,Amount,Category", "discover"),
    ('"Date","Transaction","Name","Memo","Amount"', "us_bank"),
    ('"1/5/2026","-21.77","*","","GROCERY SEATTLE WA"', "wells_fargo"),
    ("transaction_id,user_id,merchant,category,amount_usd,mcc,timestamp", "canonical"),
    ("Booking Date,Details,Value,Currency", None),
    ('"01/05/2026","-21.77","*","GROCERY SEATTLE WA"', None),                   # 4 fields: not WF
    ("Date,Description,Amount", None),                                         # too generic
])
def test_detect_headers(header, fmt):
    assert detect(f"{header}\n".encode(), "x.csv") == fmt


def test_known_formats_lists_every_importer():
    assert set(KNOWN_FORMATS) == {"canonical", "chase", "amex", "capital_one", "citi", "discover",
                                  "bank_of_america", "wells_fargo", "us_bank"}


def test_suggest_card_names_the_issuer_and_its_catalog_cards():
    hint = suggest_card("chase")
    assert hint.issuer == "Chase"
    assert "chase_freedom_flex" in hint.card_ids and all(c.startswith("chase") for c in hint.card_ids)
    assert "amex_business_gold" in suggest_card("amex").card_ids
    assert suggest_card("canonical").card_ids == () and suggest_card("nope").issuer == ""


# --- files that cannot be used ----------------------------------------------------------------

def test_canonical_missing_columns_are_all_named():
    data = b"transaction_id,merchant,amount_usd\nT1,SHELL,10\n"
    with pytest.raises(StatementError) as err:
        read_statement(data, "seed.csv")
    message = str(err.value)
    assert message.startswith("seed.csv:")
    for column in ("user_id", "category", "mcc", "timestamp"):
        assert column in message.split("(required")[0]
    assert "merchant," not in message.split("(required")[0]


def test_unknown_header_says_what_is_known_and_how_to_map():
    with pytest.raises(UnknownFormatError) as err:
        read(str(FIXTURES / "unknown_header.csv"))
    assert err.value.header == ["Booking Date", "Details", "Value", "Currency"]
    message = str(err.value)
    assert message.startswith("unknown_header.csv:")
    assert "Booking Date,Details,Value,Currency" in message
    for fmt in KNOWN_FORMATS:
        assert fmt in message
    assert "mapping" in message and "--mapping" in message


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"\n\n  \n,,,\n", "empty"),
    (b"Transaction Date,Post Date,Description,Category,Type,Amount,Memo\n\n", "no transactions"),
    (b"PK\x03\x04rest-of-a-zip", "Excel"),
    (b"%PDF-1.7 ...", "PDF"),
    (b"Date,Description\x81\x8d,Amount\n\xff\xfe\x81", "neither UTF-8 nor Windows-1252"),
])
def test_unusable_files(data, words):
    with pytest.raises(StatementError, match=words) as err:
        read_statement(data, "bad.csv")
    assert str(err.value).startswith("bad.csv:")


def test_missing_path():
    with pytest.raises(StatementError, match="nope.csv: cannot read"):
        read_statement("/nonexistent/nope.csv")


def test_uploaded_file_object_and_bytes_read_like_the_path():
    raw = (FIXTURES / "citi.csv").read_bytes()
    upload = io.BytesIO(raw)
    upload.name = "citi.csv"
    a = read_statement(upload, account="acme", card_used=CARD).frame
    b = read_statement(raw, "citi.csv", account="acme", card_used=CARD).frame
    pd.testing.assert_frame_equal(a, read("citi.csv").frame)
    pd.testing.assert_frame_equal(b, read("citi.csv").frame)


# --- robust reading ---------------------------------------------------------------------------

BOFA_HEADER = "Posted Date,Reference Number,Payee,Address,Amount\r\n"


def test_money_forms_and_crlf_and_trailing_blank_lines():
    data = (BOFA_HEADER
            + '01/02/2026,1,A,"",($12.00)\r\n'
            + '01/02/2026,2,B,"","$-1,234.56"\r\n'
            + '01/02/2026,3,C,"","  -7.10 "\r\n'
            + '01/02/2026,4,D,"",+3.00\r\n\r\n\r\n  \r\n').encode()
    f = read_statement(data, "bofa.csv").frame
    assert f["amount_usd"].tolist() == [12.00, 1234.56, 7.10, -3.00]
    assert f["source_row"].tolist() == [2, 3, 4, 5]


def test_bad_cells_become_error_rows_not_lost_rows():
    """A row with an unquoted comma (too many fields), one too short, a bad date and a bad
    amount: each stays one row, the row checks mark it error, and the good rows go through."""
    data = (BOFA_HEADER
            + "01/02/2026,1,OFFICE DEPOT #1025, DALLAS,DALLAS TX,-10.00\r\n"
            + "01/02/2026,2,SHORT ROW\r\n"
            + "13/45/2026,3,BAD DATE,,-5.00\r\n"
            + "01/03/2026,4,BAD AMOUNT,,abc\r\n"
            + "01/04/2026,5,GOOD,,-20.00\r\n").encode()
    st = read_statement(data, "bofa.csv")
    assert st.rows_read == len(st.frame) == 5
    checked = prepare(st.frame).set_index("source_row")
    assert checked["status"].to_dict() == {2: "error", 3: "error", 4: "error", 5: "error", 6: "ok"}
    assert checked.loc[4, "error_column"] == "timestamp" and "13/45/2026" in checked.loc[4, "error"]
    assert st.issues["row"].tolist() == [2, 3, 5]
    assert "more fields than the header" in st.issues["message"].iloc[0]
    assert set(st.issues["file"]) == {"bofa.csv"}


def test_quoted_commas_quotes_and_newlines_round_trip(tmp_path):
    descs = ['ACME, INC "WEST"', "LINE ONE\nLINE TWO", "CAFÉ  ÜBER", " PADDED ", "TAB\tHERE"]
    raw = pd.DataFrame({"Trans. Date": "01/02/2026", "Post Date": "01/02/2026", "Description": descs,
                        "Amount": ["1.00", "2.00", "3.00", "4.00", "5.00"], "Category": "Merchandise"})
    path = tmp_path / "disc.csv"
    raw.to_csv(path, index=False)
    st = read_statement(path)
    assert st.format == "discover"
    assert st.frame["description"].tolist() == [d.strip() for d in descs]
    assert st.frame["source_row"].tolist() == [2, 3, 4, 5, 6]


def test_parse_money_and_iso_dates_units():
    money = parse_money(pd.Series(["$1,234.56", "(12.00)", "-5", "12.00-", "", "n/a", "USD 3.50", "7.25 CR",
                                   "($1.00)"], dtype="str"))
    assert money.iloc[:4].tolist() == [1234.56, -12.0, -5.0, -12.0]
    assert money.iloc[4:6].isna().all() and money.iloc[6:].tolist() == [3.5, -7.25, -1.0]
    dates = iso_dates(pd.Series(["1/5/2026", "01/15/26", "2026-02-03", "2026-02-03 14:05:00", "never",
                                 "2026-02-03T23:30:00-05:00", "2026-02-03T10:00:00+01:00"], dtype="str"))
    assert dates.tolist() == ["2026-01-05", "2026-01-15", "2026-02-03", "2026-02-03T14:05:00", "never",
                              "2026-02-04T04:30:00", "2026-02-03T09:00:00"]


# --- stable transaction ids -------------------------------------------------------------------

def test_ids_are_stable_across_reads_and_distinct_for_repeated_purchases():
    a, b = read("chase.csv").frame, read("chase.csv").frame
    assert a["transaction_id"].tolist() == b["transaction_id"].tolist()
    assert a["transaction_id"].is_unique                  # two identical pizzas are two purchases
    assert a["transaction_id"].str.fullmatch(r"chase-[0-9a-f]{16}").all()
    other_card = read_statement(FIXTURES / "chase.csv", account="acme", card_used="chase_ink_business_cash")
    assert not set(other_card.frame["transaction_id"]) & set(a["transaction_id"])


def test_id_value_is_pinned():
    """A changed hash would give every re-uploaded statement new ids: pin one."""
    f = by_row(read("chase.csv"))
    assert f.loc[2, "transaction_id"] == PINNED_CHASE_ROW_2


PINNED_CHASE_ROW_2 = "chase-d1e898f98cf8b147"


def test_overlapping_exports_give_shared_purchases_the_same_ids(tmp_path):
    lines = (FIXTURES / "chase.csv").read_text().splitlines()
    header, rows = lines[0], [l for l in lines[1:] if l]
    first = tmp_path / "jan_a.csv"
    second = tmp_path / "jan_b.csv"
    first.write_text("\n".join([header] + rows[:9]) + "\n")         # rows 1-9
    second.write_text("\n".join([header] + rows[4:]) + "\n")        # rows 5-12: 5 shared
    a = read_statement(first, card_used=CARD).frame
    b = read_statement(second, card_used=CARD).frame
    shared = set(a["transaction_id"]) & set(b["transaction_id"])
    assert len(shared) == 5
    assert set(a["transaction_id"].iloc[4:9]) == shared
    both = prepare(pd.concat([a, b], ignore_index=True))
    dup = both["error"].str.startswith("duplicate transaction_id")
    assert dup.sum() == 5
    assert set(both.loc[dup, "source_file"]) == {"jan_b.csv"}


def test_overlap_keeps_both_copies_of_a_repeated_purchase(tmp_path):
    lines = (FIXTURES / "chase.csv").read_text().splitlines()
    header, pizza = lines[0], lines[10]
    assert "PIZZA" in pizza and lines[11] == pizza
    one = tmp_path / "one.csv"
    one.write_text(f"{header}\n{pizza}\n")
    two = tmp_path / "two.csv"
    two.write_text(f"{header}\n{pizza}\n{pizza}\n")
    a = read_statement(one).frame["transaction_id"].tolist()
    b = read_statement(two).frame["transaction_id"].tolist()
    assert a == b[:1] and b[0] != b[1]
