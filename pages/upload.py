"""Upload: statements in (format read, row report, preview), the wallet, valuation, start a run."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from backend import explore
from backend.catalog import PROFILES, CatalogError
from backend.engine import Valuation
from backend.export import to_csv_bytes
from backend.samples import SAMPLE_STATEMENT, sample_statement_bytes
from backend.settings import get_settings
from backend.statements import ColumnMapping, StatementError, UnknownFormatError, read_statement, suggest_card
from backend.statements.mapping import SIGNS, load_mapping, save_mapping
from backend.wallet import Wallet, WalletCard, read_wallets_csv, validate_wallet
from pages import common

common.use_app_navigation()

NOT_KNOWN = ""
SAMPLE_ID = "sample"


@dataclass
class Upload:
    """One file on the page: its bytes and where they came from."""
    file_id: str
    name: str
    data: bytes


# ------------------------------------------------------------------ statements

def uploads() -> list[Upload]:
    limit = st.get_option("server.maxUploadSize")
    files = st.file_uploader("Card statements (CSV)", type=["csv", "txt"], accept_multiple_files=True,
                             key="statements",
                             help="Chase, Amex, Capital One, Citi, Discover, Bank of America, Wells Fargo, "
                                  "US Bank exports, or the canonical format. Other banks: map the columns once.")
    st.caption(f"Up to {limit:,} MB per file. Bigger files: split them by month, or score them from the command "
               "line with `python -m backend score FILE --wallet ...` (no size limit).")
    out = [Upload(f.file_id, f.name, f.getvalue()) for f in files or []]
    left, right = st.columns([1, 3])
    if st.session_state.get("use_sample"):
        if left.button("Remove the sample statement", icon=":material/close:", key="drop_sample"):
            st.session_state["use_sample"] = False
            st.rerun()
        else:
            out.append(Upload(SAMPLE_ID, SAMPLE_STATEMENT.name, sample_statement_bytes()))
    elif left.button("Use the sample statement", icon=":material/description:", key="use_sample_button"):
        st.session_state["use_sample"] = True
        st.rerun()
    right.caption("The sample: 303 purchases of three accounts over six months, with a refund, "
                  "a card payment and one bad row.")
    return out


def mappings_dir() -> Path:
    return get_settings().home / "mappings"


def saved_mappings() -> dict[str, ColumnMapping]:
    out = {}
    for path in sorted(mappings_dir().glob("*.json")):
        try:
            out[path.stem] = load_mapping(path)
        except (OSError, ValueError):
            continue
    return out


def fitting_mapping(header: list[str]) -> tuple[str, ColumnMapping] | None:
    """A saved mapping whose columns are all in this header (used without asking)."""
    have = {h.strip().lower() for h in header}
    for name, mapping in saved_mappings().items():
        if all(col.strip().lower() in have for col in mapping.columns().values()):
            return name, mapping
    return None


def read(upload: Upload, account: str, card: str, mapping: ColumnMapping | None):
    """read_statement, remembered in the session per (file, account, card, mapping)."""
    cache = st.session_state.setdefault("read_cache", {})
    key = (upload.file_id, account, card, mapping)
    if key not in cache:
        for old in [k for k in cache if k[0] == upload.file_id]:
            del cache[old]
        try:
            with st.spinner(f"Reading {upload.name}..."):
                statement = read_statement(upload.data, upload.name, account=account, card_used=card, mapping=mapping)
                cache[key] = (statement, explore.statement_report(statement))
        except StatementError as exc:
            cache[key] = exc
    return cache[key]


def mapping_form(upload: Upload, error: UnknownFormatError) -> None:
    """The unknown-header case: say why, and let the user name the columns (saved for reuse)."""
    st.warning(str(error), icon=":material/help:")
    header = list(error.header)
    blank = ["(none)"] + header
    with st.form(f"mapping_{upload.file_id}"):
        st.markdown("**Map columns** — name the columns of this file once; the mapping is saved for its next export.")
        a, b, c = st.columns(3)
        date = a.selectbox("Date", header, key=f"m_date_{upload.file_id}")
        desc = b.selectbox("Description", header, index=min(1, len(header) - 1), key=f"m_desc_{upload.file_id}")
        amount = c.selectbox("Amount (signed)", blank, index=min(2, len(header)), key=f"m_amt_{upload.file_id}")
        debit = a.selectbox("or Debit (purchases)", blank, key=f"m_debit_{upload.file_id}")
        credit = b.selectbox("and Credit (payments, refunds)", blank, key=f"m_credit_{upload.file_id}")
        sign = c.radio("Purchases are", SIGNS, format_func=lambda s: s.replace("purchases_", ""),
                       horizontal=True, key=f"m_sign_{upload.file_id}")
        category = a.selectbox("Category (optional)", blank, key=f"m_cat_{upload.file_id}")
        mcc = b.selectbox("MCC (optional)", blank, key=f"m_mcc_{upload.file_id}")
        date_format = c.text_input("Date format (optional)", placeholder="%d/%m/%Y", key=f"m_fmt_{upload.file_id}")
        issuer = a.text_input("Bank name", placeholder="Acme Bank", key=f"m_issuer_{upload.file_id}")
        save = b.checkbox("Save this mapping for next time", value=True, key=f"m_save_{upload.file_id}")
        submitted = st.form_submit_button("Read with this mapping", type="primary")
    if not submitted:
        return
    pick = lambda v: None if v == "(none)" else v  # noqa: E731
    try:
        mapping = ColumnMapping(date=date, description=desc, amount=pick(amount) if pick(amount) and not pick(debit) else None,
                                debit=pick(debit), credit=pick(credit), category=pick(category), mcc=pick(mcc),
                                sign=sign, date_format=date_format.strip() or None, issuer=issuer.strip())
    except ValueError as exc:
        st.error(f"{exc}. Pick a date and description column, and either an amount or debit/credit columns.")
        return
    st.session_state.setdefault("mapping_for", {})[upload.file_id] = mapping
    if save:
        name = "".join(ch if ch.isalnum() else "_" for ch in (issuer.strip() or Path(upload.name).stem)).strip("_")
        mappings_dir().mkdir(parents=True, exist_ok=True)
        save_mapping(mapping, mappings_dir() / f"{name or 'mapping'}.json")
    st.rerun()


def statement_panel(upload: Upload, catalog) -> tuple | None:
    """One file: account, card that paid, what was read, problems, preview. Returns (statement, report)."""
    fid = upload.file_id
    with st.container(border=True):
        st.markdown(f"**{upload.name}**")
        a, b = st.columns(2)
        account = a.text_input("Account (user_id) for rows without one", value="default", key=f"acct_{fid}",
                               help="Caps are tracked per account. Canonical files keep their own user_id.")
        mapping = st.session_state.get("mapping_for", {}).get(fid)
        first = read(upload, account, st.session_state.get(f"card_{fid}", NOT_KNOWN), mapping)
        if isinstance(first, UnknownFormatError):
            declined = fid in st.session_state.get("no_saved_mapping", set())
            fit = fitting_mapping(first.header) if mapping is None and not declined else None
            if fit:
                st.session_state.setdefault("mapping_for", {})[fid] = fit[1]
                st.rerun()
            mapping_form(upload, first)
            return None
        if isinstance(first, StatementError):
            common.show_error(str(first), "Check the file is a card statement export (CSV).")
            if mapping is not None and st.button("Map the columns again", key=f"remap_{fid}"):
                st.session_state["mapping_for"].pop(fid, None)
                st.session_state.setdefault("no_saved_mapping", set()).add(fid)
                st.rerun()
            return None
        statement, report = first
        hint = suggest_card(statement.format, catalog)
        cards = list(hint.card_ids) + [c for c in catalog.cards if c not in hint.card_ids]
        label = lambda cid: "(not known)" if cid == NOT_KNOWN else catalog.cards[cid].name  # noqa: E731
        b.selectbox("Card that paid (optional: gives missed rewards)", [NOT_KNOWN] + cards,
                    index=1 if len(hint.card_ids) == 1 else 0, format_func=label, key=f"card_{fid}",
                    help=f"Proposed from the issuer ({hint.issuer})." if hint.issuer else
                    "Canonical files can name it per row in a card_used column.")
        named = int((statement.frame["card_used"].fillna("") != "").sum()) if "card_used" in statement.frame else 0
        if named and not st.session_state.get(f"card_{fid}"):
            b.caption(f"The file itself names the card that paid on {named:,} of {len(statement.frame):,} rows.")
        if mapping is not None:
            st.caption(f"Read with a column mapping ({mapping.issuer or 'custom'}).")
        cols = st.columns(5)
        cols[0].metric("Format", f"{statement.format}" + (f" ({statement.issuer})" if statement.issuer else ""))
        cols[1].metric("Rows read", f"{report.rows_read:,}")
        cols[2].metric("To score", f"{report.to_score:,}")
        cols[3].metric("Skipped", f"{report.skipped:,}")
        cols[4].metric("Errors", f"{report.errors:,}")
        if len(report.problems):
            with st.expander(f"{len(report.problems):,} rows not scored, with reasons"):
                st.dataframe(report.problems.head(500), hide_index=True, width="stretch")
                st.download_button("Download the problems report (CSV)", data=lambda p=report.problems: to_csv_bytes(p),
                                   file_name=f"{Path(upload.name).stem}-problems.csv", mime="text/csv",
                                   on_click="ignore", key=f"problems_{fid}", icon=":material/download:")
        with st.expander("Preview (canonical rows)"):
            st.dataframe(report.preview, hide_index=True, width="stretch")
        return statement, report


# ------------------------------------------------------------------ wallet

def card_label(catalog, cid: str) -> str:
    c = catalog.cards[cid]
    currency = catalog.currencies[c.currency].name
    return f"{c.name} · {c.issuer} · ${c.annual_fee:,.0f}/yr · {currency}"


def wallet_picker(catalog, paid_with: list[str]) -> Wallet | None:
    st.subheader("Wallet")
    st.caption("The cards to compare. Type to search by name or issuer.")
    if paid_with and st.button("Add the cards that paid", key="add_paid"):
        st.session_state["wallet_cards"] = list(dict.fromkeys(st.session_state.get("wallet_cards", []) + paid_with))
    ids = st.multiselect("Cards", list(catalog.cards), format_func=lambda cid: card_label(catalog, cid),
                         key="wallet_cards", placeholder="Search cards...")
    if not ids:
        st.info("Pick at least one card to compare.", icon=":material/info:")
        return None
    chosen: list[WalletCard] = []
    for cid in ids:
        card = catalog.cards[cid]
        choice, activated = None, True
        if card.choice_rule is not None or card.has_rotating:
            cols = st.columns([2, 3])
            cols[0].markdown(f"{card.name}")
            if card.choice_rule is not None:
                options = list(card.choice_rule.options)
                choice = cols[1].selectbox("Holder's chosen category", options,
                                           index=options.index(card.choice_rule.default_choice),
                                           key=f"choice_{cid}")
            if card.has_rotating:
                activated = cols[1].checkbox("Rotating categories activated each quarter", value=True,
                                             key=f"activated_{cid}")
        chosen.append(WalletCard(cid, choice=choice, activated=activated))
    accounts = per_account_wallets(catalog)
    wallet = Wallet(tuple(chosen), accounts or {})
    try:
        validate_wallet(wallet, catalog)
    except CatalogError as exc:
        st.error(f"The wallet cannot be used: {exc}.")
        return None
    return wallet


def per_account_wallets(catalog) -> dict | None:
    with st.expander("Different cards per account (optional)"):
        st.caption("A `user_id,card_id[,choice]` table: those accounts compare only their own cards; "
                   "other accounts use the wallet above.")
        upload = st.file_uploader("Wallets CSV", type=["csv"], key="wallets_csv")
        start = pd.DataFrame({"user_id": pd.Series(dtype="str"), "card_id": pd.Series(dtype="str"),
                              "choice": pd.Series(dtype="str")})
        if upload is not None:
            try:
                loaded = read_wallets_csv(io.BytesIO(upload.getvalue()))
                start = pd.DataFrame([{"user_id": u, "card_id": c.card_id, "choice": c.choice or ""}
                                      for u, cards in loaded.items() for c in cards])
            except (CatalogError, ValueError) as exc:
                st.error(f"{upload.name}: {exc}. The file needs user_id and card_id columns.")
        edited = st.data_editor(start, num_rows="dynamic", hide_index=True, key=f"wallets_{upload.file_id if upload else 0}",
                                column_config={"card_id": st.column_config.SelectboxColumn(
                                    "card_id", options=list(catalog.cards), required=True)})
        edited = edited.dropna(subset=["user_id", "card_id"])
        edited = edited[edited["user_id"].astype(str).str.strip() != ""]
        if edited.empty:
            return None
        return read_wallets_csv(io.StringIO(edited.fillna("").to_csv(index=False)))


def valuation_picker(catalog) -> Valuation:
    st.subheader("Valuation")
    profile = st.radio("Value points at", PROFILES, horizontal=True, key="profile",
                       format_func={"cash": "Cash (floor)", "travel": "Travel (fixed value)",
                                    "transfer": "Transfer partners (estimate)"}.get)
    base = catalog.cents_per_point(profile)
    with st.expander("Cents per point (override)"):
        table = pd.DataFrame({"currency": list(base), "name": [catalog.currencies[c].name for c in base],
                              "cents_per_point": list(base.values())})
        edited = st.data_editor(table, hide_index=True, disabled=["currency", "name"], key=f"cpp_{profile}",
                                column_config={"cents_per_point": st.column_config.NumberColumn(
                                    "Cents per point", min_value=0.0, max_value=10.0, step=0.05, format="%.2f")})
    overrides = {c: float(v) for c, v in zip(edited["currency"], edited["cents_per_point"])
                 if pd.notna(v) and abs(float(v) - base[c]) > 1e-12}
    return Valuation(profile=profile, overrides=overrides)


def executor_picker():
    from backend.executors.modal import SETUP_HOWTO, modal_available
    from backend.runs import RunOptions
    settings = get_settings()
    st.subheader("Run on")
    if modal_available():
        executor = st.radio("Executor", ["local", "modal"], horizontal=True, key="executor",
                            format_func={"local": "This machine", "modal": "Modal (fan out)"}.get)
    else:
        executor = "local"
        st.radio("Executor", ["local"], format_func=lambda _: "This machine", key="executor", horizontal=True)
        st.caption(f"Modal: {SETUP_HOWTO}")
    with st.expander("Advanced"):
        a, b = st.columns(2)
        chunk = a.number_input("Chunk size (transactions per call)", 100, 1_000_000, settings.chunk_size, 500,
                               key="chunk_size", help="Chunks are whole account-years, cut near this size.")
        workers = b.number_input("Workers (local processes)", 1, 64, settings.workers, key="workers")
    return RunOptions(executor=executor, chunk_size=int(chunk), workers=int(workers))


# ------------------------------------------------------------------ page

st.title("Upload")
st.caption("Your card statements in, the wallet to compare, then start a run.")
catalog = common.catalog()
read_ok: list[tuple] = []
with common.guard("Reading the statements", "Check the files are CSV exports from your card issuer."):
    files = uploads()
    if not files:
        common.empty_state("Upload one or more statements, or use the sample statement to try it out.")
    for upload in files:
        result = statement_panel(upload, catalog)
        if result:
            read_ok.append(result)
    # forget files no longer on the page
    keep = {u.file_id for u in files}
    for store_key in ("read_cache",):
        cache = st.session_state.get(store_key, {})
        for k in [k for k in cache if k[0] not in keep]:
            del cache[k]

paid = sorted({c for s, _ in read_ok for c in s.frame["card_used"].dropna().unique() if c in catalog.cards}) \
    if read_ok else []
wallet = None
with common.guard("Building the wallet", "Check the per-account wallet table."):
    wallet = wallet_picker(catalog, paid)
valuation = valuation_picker(catalog)
options = None
with common.guard("Reading the run options", "Use the defaults under Advanced."):
    options = executor_picker()

total = sum(r.to_score for _, r in read_ok)
st.divider()
default_name = ", ".join(s.name for s, _ in read_ok)[:80]
name = st.text_input("Run name", placeholder=default_name or "e.g. Q1 statements", key="run_name").strip() or default_name
ready = bool(read_ok) and wallet is not None and options is not None
if not ready:
    st.caption("To start: at least one statement read and one card in the wallet.")
if st.button(f"Start run ({total:,} transactions to score)" if ready else "Start run", type="primary",
             disabled=not ready, key="start_run", icon=":material/play_arrow:"):
    try:
        frame = explore.run_input([s.frame for s, _ in read_ok])
        run_id = common.manager().submit(frame, wallet, catalog, valuation, options, name=name)
    except Exception as exc:  # noqa: BLE001
        common.show_error(f"The run could not start: {exc}", "Check the wallet and try again.", exc)
    else:
        common.set_active_run(run_id)
        common.go(common.MONITOR, run_id)
