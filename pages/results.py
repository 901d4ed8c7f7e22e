"""Results explorer: KPIs, click-to-filter charts, filters, a paged table, problems, downloads.

All numbers come from backend.explore (one cached RunView per run); this page draws them.
A click on a chart filters every other view; the clicked chart keeps showing all its bars.
"""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from backend import explore, store
from backend.categories import CATEGORIES
from backend.explore import Filters
from pages import common

common.use_app_navigation()

CHARTS = {"ch_category": "categories", "ch_month": "months", "ch_merchant": "merchants", "ch_mix": "cards"}
PICK = "pick"


# ------------------------------------------------------------------ picking the run

def pick_run() -> str | None:
    runs = store.list_runs()
    if not runs:
        common.empty_state("No runs yet. Upload statements and start a run first.", common.UPLOAD, "Upload")
        return None
    ids = [r["run_id"] for r in runs]
    labels = {r["run_id"]: f"{r['name'] or r['run_id']} · {r['status']} · {r['total']:,} rows · {r['created_at']}"
              for r in runs}
    active = common.active_run_id()
    index = ids.index(active) if active in ids else 0
    run_id = st.selectbox("Run", ids, index=index, format_func=labels.get, key=f"run_pick_{active}")
    if run_id != active:
        common.set_active_run(run_id)
    return run_id


def load(run_id: str):
    snap = store.snapshot(run_id)
    if common.is_live(snap):
        st.info(f"This run is still {snap.status}: showing the {snap.rows_done:,} transactions scored so far. "
                "Rerun the page for more.", icon=":material/hourglass_top:")
    with st.spinner("Loading results..."):
        return explore.view(run_id, version=(snap.status, snap.rows_done)), snap


# ------------------------------------------------------------------ filters

def chart_picks() -> dict[str, tuple]:
    """Values clicked on each chart (read from the widget state, before the charts redraw)."""
    picks = {}
    for key, field in CHARTS.items():
        state = st.session_state.get(key)
        points = (state or {}).get("selection", {}).get(PICK, []) if state else []
        values = tuple(sorted({str(p.get(_FIELD[field])) for p in points if p.get(_FIELD[field]) is not None}))
        if values:
            picks[field] = values
    return picks


_FIELD = {"categories": "category", "months": "month", "merchants": "merchant", "cards": "card"}


def filter_widgets(view, run_id: str) -> Filters:
    o = view.options()
    names = {cid: c.name for cid, c in common.catalog().cards.items()}
    k = f"_{run_id}"
    with st.expander("Filters", expanded=False, icon=":material/filter_list:"):
        a, b, c = st.columns(3)
        cards = a.multiselect("Recommended card", o["cards"], format_func=lambda x: names.get(x, x), key="f_cards" + k)
        categories = b.multiselect("Category", o["categories"], key="f_categories" + k)
        accounts = c.multiselect("Account", o["accounts"], key="f_accounts" + k)
        statuses = a.multiselect("Status", o["statuses"], key="f_status" + k)
        text = b.text_input("Merchant contains", key="f_text" + k)
        conf = c.slider("Minimum confidence", 0.0, 1.0, 0.0, 0.05, key="f_conf" + k)
        dates = (None, None)
        if o["date_min"]:
            picked = a.date_input("Date range", (o["date_min"], o["date_max"]), o["date_min"], o["date_max"],
                                  key="f_dates" + k)
            if isinstance(picked, (tuple, list)) and len(picked) == 2:
                dates = (picked[0] if picked[0] != o["date_min"] else None,
                         picked[1] if picked[1] != o["date_max"] else None)
        lo_a, hi_a = o["amount_min"], o["amount_max"]
        amount = (None, None)
        if hi_a > lo_a:
            lo, hi = b.slider("Amount ($)", float(lo_a), float(hi_a), (float(lo_a), float(hi_a)), key="f_amount" + k)
            amount = (lo if lo > lo_a else None, hi if hi < hi_a else None)
    return Filters(cards=tuple(cards), categories=tuple(categories), accounts=tuple(accounts), statuses=tuple(statuses),
                   text=text.strip(), min_confidence=float(conf), date_from=dates[0], date_to=dates[1],
                   amount_min=amount[0], amount_max=amount[1])


def with_picks(f: Filters, picks: dict[str, tuple], leave_out: str | None = None) -> Filters:
    """The widget filters plus every chart click (but the one of the chart being drawn)."""
    changes = {}
    for field, values in picks.items():
        if field == leave_out:
            continue
        mine = getattr(f, field)
        changes[field] = tuple(v for v in values if not mine or v in mine) or ("\0none",)
    return Filters(**{**f.__dict__, **changes})


# ------------------------------------------------------------------ drawing

def kpi_row(view, f: Filters, filtered: bool) -> None:
    k = view.kpis(f)
    cols = st.columns(3) + st.columns(3)
    cols[0].metric("Spend scored", common.money(k.spend))
    cols[1].metric("Rewards (best card)", common.money(k.rewards))
    cols[2].metric("Effective rate", common.percent(k.effective_rate))
    cols[3].metric("Missed vs card used", common.money(k.missed_rewards) if k.missed_rewards is not None else "–",
                   help=(f"What the cards that actually paid earned: {common.money(k.actual_rewards)} on "
                         f"{k.known_card_rows:,} purchases." if k.missed_rewards is not None else
                         "The statements did not say which card paid."))
    cols[4].metric("Scored", f"{k.scored:,}")
    cols[5].metric("Skipped / errors", f"{k.skipped:,} / {k.errors:,}")
    if filtered:
        st.caption(f"For the {k.rows:,} rows matching the filters.")


def chart_block(title: str, chart: alt.Chart, table: pd.DataFrame, key: str, config: dict) -> None:
    st.markdown(f"**{title}**")
    tab_chart, tab_table = st.tabs(["Chart", "Table"])
    with tab_chart:
        if table.empty:
            st.caption("Nothing to show for these filters.")
        else:
            st.altair_chart(chart, on_select="rerun", key=key, width="stretch")
    with tab_table:
        st.dataframe(table, hide_index=True, width="stretch", column_config=config)


MONEY = st.column_config.NumberColumn(format="dollar")
GROUP_CONFIG = {"spend": st.column_config.NumberColumn("Spend", format="dollar"),
                "rewards": st.column_config.NumberColumn("Rewards", format="dollar"),
                "missed": st.column_config.NumberColumn("Missed", format="dollar"),
                "effective_rate": st.column_config.NumberColumn("Rate", format="percent"),
                "share": st.column_config.NumberColumn("Share", format="percent"),
                "transactions": st.column_config.NumberColumn("Transactions", format="localized")}


def charts(view, f: Filters, picks: dict) -> None:
    pick = alt.selection_point(name=PICK, fields=["category"])
    left, right = st.columns(2)
    with left:
        data = view.by_category_card(with_picks(f, picks, "categories"))
        chart = alt.Chart(data).mark_bar().encode(
            x=alt.X("sum(rewards):Q", title="Rewards ($)"), y=alt.Y("category:N", sort="-x", title=None),
            color=alt.Color("card_name:N", title="Card", legend=alt.Legend(orient="bottom", columns=2)),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
            tooltip=["category:N", "card_name:N", alt.Tooltip("rewards:Q", format="$,.2f"),
                     alt.Tooltip("spend:Q", format="$,.2f")]).add_params(pick)
        chart_block("Rewards by category and card", chart, data, "ch_category", GROUP_CONFIG)
    with right:
        pick = alt.selection_point(name=PICK, fields=["month"])
        data = view.by_month(with_picks(f, picks, "months"))
        chart = alt.Chart(data).mark_bar().encode(
            x=alt.X("month:O", title=None), y=alt.Y("rewards:Q", title="Rewards ($)"),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
            tooltip=["month:O", alt.Tooltip("rewards:Q", format="$,.2f"), alt.Tooltip("spend:Q", format="$,.2f"),
                     alt.Tooltip("effective_rate:Q", format=".2%")]).add_params(pick)
        chart_block("Rewards by month", chart, data, "ch_month", GROUP_CONFIG)
    left, right = st.columns(2)
    with left:
        pick = alt.selection_point(name=PICK, fields=["merchant"])
        data = view.top_merchants(with_picks(f, picks, "merchants"))
        chart = alt.Chart(data).mark_bar().encode(
            x=alt.X("spend:Q", title="Spend ($)"), y=alt.Y("merchant:N", sort="-x", title=None),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
            tooltip=["merchant:N", alt.Tooltip("spend:Q", format="$,.2f"), alt.Tooltip("rewards:Q", format="$,.2f"),
                     "transactions:Q"]).add_params(pick)
        chart_block("Top merchants by spend", chart, data, "ch_merchant", GROUP_CONFIG)
    with right:
        pick = alt.selection_point(name=PICK, fields=["card"])
        names = {cid: c.name for cid, c in common.catalog().cards.items()}
        data = view.card_mix(with_picks(f, picks, "cards"))
        data["card_name"] = data["card"].map(lambda c: names.get(c, c))
        chart = alt.Chart(data).mark_bar().encode(
            x=alt.X("share:Q", title="Share of spend", axis=alt.Axis(format="%")),
            y=alt.Y("card_name:N", sort="-x", title=None), color=alt.Color("which:N", title=None,
                                                                           legend=alt.Legend(orient="bottom")),
            yOffset="which:N", opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
            tooltip=["card_name:N", "which:N", alt.Tooltip("share:Q", format=".1%"),
                     alt.Tooltip("spend:Q", format="$,.2f")]).add_params(pick)
        chart_block("Card mix: recommended vs used", chart, data, "ch_mix", GROUP_CONFIG)


TABLE_CONFIG = {
    "timestamp": "Date", "user_id": "Account", "merchant": "Merchant",
    "amount_usd": st.column_config.NumberColumn("Amount", format="dollar"),
    "reward_category": "Category", "recommended_card_name": "Best card",
    "reward_rate": st.column_config.NumberColumn("Rate", format="percent"),
    "rewards_earned": st.column_config.NumberColumn("Rewards", format="dollar"),
    "runner_up_card": "Runner-up", "runner_up_rewards": st.column_config.NumberColumn("Runner-up $", format="dollar"),
    "card_used": "Card used", "actual_rewards": st.column_config.NumberColumn("Earned", format="dollar"),
    "missed_rewards": st.column_config.NumberColumn("Missed", format="dollar"),
    "confidence": st.column_config.ProgressColumn("Confidence", min_value=0.0, max_value=1.0, format="percent"),
    "reasoning": st.column_config.TextColumn("Why", width="large"), "status": "Status", "error": "Reason",
    "transaction_id": "Transaction", "mcc": "MCC",
}
SORTABLE = ["timestamp", "amount_usd", "rewards_earned", "missed_rewards", "confidence", "merchant", "user_id"]


def table(view, f: Filters, run_id: str) -> None:
    st.subheader("Transactions")
    a, b, c = st.columns([2, 1, 1])
    sort_by = a.selectbox("Sort by", ["(input order)"] + [s for s in SORTABLE if s in view.frame],
                          key="t_sort", format_func=lambda s: s.replace("_", " "))
    desc = b.toggle("Descending", value=True, key="t_desc")
    size = c.selectbox("Rows per page", [50, 100, 500], index=1, key="t_size")
    _, total, pages = view.rows(f, 1, size)
    page = st.pagination(pages, key=f"t_page_{run_id}_{hash(f)}_{size}")
    rows, total, pages = view.rows(f, int(page), size, None if sort_by == "(input order)" else sort_by, desc)
    st.dataframe(rows, hide_index=True, width="stretch", column_config=TABLE_CONFIG,
                 height=38 + 35 * min(max(len(rows), 1), 15))
    st.caption(f"{total:,} rows · page {int(page):,} of {pages:,} · {size} per page")


def problems(view, f: Filters) -> None:
    bad = view.problems(f)
    with st.expander(f"Skipped and error rows ({len(bad):,}), with reasons", icon=":material/report:"):
        if bad.empty:
            st.caption("None: every row in view was scored.")
            return
        st.dataframe(view.problem_reasons(), hide_index=True, width="stretch")
        st.dataframe(bad.head(1000), hide_index=True, width="stretch")
        if len(bad) > 1000:
            st.caption(f"The first 1,000 of {len(bad):,}: download the filtered view for all of them.")


def unknown(view, run_id: str) -> None:
    merchants = explore.unknown_merchants(view)
    with st.expander(f"Merchants left unknown ({len(merchants):,})", icon=":material/help:"):
        if merchants.empty:
            st.caption("None: every merchant's category was known.")
            return
        st.caption("These merchants earned only base rates because their category was not known. Assign one: "
                   "it is saved and used by the next run.")
        st.dataframe(merchants.head(200), hide_index=True, width="stretch",
                     column_config={"spend": st.column_config.NumberColumn("Spend", format="dollar")})
        with st.form("assign_category"):
            a, b = st.columns(2)
            merchant = a.selectbox("Merchant", merchants["merchant"].head(200).tolist(), key="fix_merchant")
            category = b.selectbox("Category", [c for c in CATEGORIES if c != "other"],
                                   format_func=lambda c: f"{c} — {CATEGORIES[c]}", key="fix_category")
            if st.form_submit_button("Save category"):
                with common.guard("Saving the category", "Try again."):
                    from backend.corrections import save_correction
                    save_correction(merchant, category)
                    st.success(f"Saved: {merchant} is {category}. Start a new run to score with it.")


def downloads(view, f: Filters, run_id: str, filtered: bool) -> None:
    from backend.export import to_csv_bytes as csv_bytes, to_parquet_bytes as parquet_bytes

    st.subheader("Download")
    a, b, c, d = st.columns(4)
    a.download_button("All results (CSV)", data=lambda: csv_bytes(view.frame), file_name=f"results-{run_id}.csv",
                      mime="text/csv", on_click="ignore", key="dl_csv", icon=":material/download:")
    b.download_button("Filtered view (CSV)", data=lambda: csv_bytes(view.filtered(f)),
                      file_name=f"results-{run_id}-filtered.csv", mime="text/csv", on_click="ignore",
                      key="dl_csv_filtered", disabled=not filtered, icon=":material/download:")
    c.download_button("All results (Parquet)", data=lambda: parquet_bytes(view.frame),
                      file_name=f"results-{run_id}.parquet", mime="application/octet-stream", on_click="ignore",
                      key="dl_parquet", icon=":material/download:")
    d.download_button("Filtered view (Parquet)", data=lambda: parquet_bytes(view.filtered(f)),
                      file_name=f"results-{run_id}-filtered.parquet", mime="application/octet-stream",
                      on_click="ignore", key="dl_parquet_filtered", disabled=not filtered, icon=":material/download:")
    st.caption("CSV files are safe to open in a spreadsheet (cells that look like formulas are escaped).")


st.title("Results explorer")
with common.guard("Loading the results", "Pick another run, or rerun this one from Upload."):
    run_id = pick_run()
    if run_id:
        view, snap = load(run_id)
        if view.n == 0:
            common.empty_state("This run has no rows yet.", common.MONITOR, "Live monitor")
        else:
            base = filter_widgets(view, run_id)
            picks = chart_picks()
            f = with_picks(base, picks)
            filtered = bool(f.active())
            if picks:
                st.caption("Filtered by chart clicks: " + "; ".join(f"{k} = {', '.join(v)}" for k, v in picks.items())
                           + " (click an empty part of the chart to clear).")
            kpi_row(view, f, filtered)
            charts(view, base, picks)
            table(view, f, run_id)
            problems(view, f)
            unknown(view, run_id)
            downloads(view, f, run_id, filtered)
