"""Cost calculator: Modal batch vs an always-on server vs one call per transaction.

Every figure comes from backend.costs; this page only collects inputs and draws.
"""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from backend import costs, explore
from pages import common

common.use_app_navigation()

st.title("Cost calculator")
st.caption("What a month of transactions costs on Modal, on an always-on server, "
           "and with the old one-call-per-transaction dispatch.")

measured = None
with common.guard("Reading the latest run's compute time", "The benchmark figure is used instead."):
    measured = explore.measured_compute()
default_spt = measured.seconds_per_transaction if measured else costs.BENCH_SECONDS_PER_TRANSACTION

p0 = costs.DEFAULT_PRICES
with st.expander(f"Modal prices — published rates as of {p0.as_of:%B %Y} (editable)", icon=":material/sell:"):
    c1, c2, c3, c4 = st.columns(4)
    prices = costs.Prices(
        cpu_core_second=c1.number_input("CPU, $ per core-second", 0.0, value=p0.cpu_core_second,
                                        format="%.7f", step=0.0000001, key="price_cpu"),
        memory_gib_second=c2.number_input("Memory, $ per GiB-second", 0.0, value=p0.memory_gib_second,
                                          format="%.8f", step=0.00000001, key="price_mem"),
        min_cpu=c3.number_input("Reserved cores per container (minimum)", 0.0, value=p0.min_cpu,
                                step=0.125, key="price_min_cpu"),
        min_memory_mib=c4.number_input("Reserved MiB per container (minimum)", 0.0, value=p0.min_memory_mib,
                                       step=64.0, key="price_min_mem"),
        as_of=p0.as_of, source=p0.source)
    st.caption(f"Source: {p0.source}. Billing takes the higher of reservation and use.")

st.subheader("Workload")
a, b, c = st.columns(3)
tx_month = a.number_input("Transactions per month", 0, value=1_000_000, step=100_000, key="tx_month")
runs = a.number_input("Runs per month", 1, value=4, step=1, key="runs_month",
                      help="The month's transactions are scored in this many batches.")
chunk = a.number_input("Chunk size (transactions per call)", 1, value=5000, step=1000, key="chunk")
cpu = b.number_input("CPU cores per container", 0.125, value=1.0, step=0.125, key="cpu")
mem = b.number_input("Memory per container (MiB)", 128, value=1024, step=128, key="mem")
max_c = b.number_input("Max containers", 1, value=100, step=10, key="max_containers")
micro = c.number_input("Compute per transaction (µs)", 0.0, value=round(default_spt * 1e6, 3), step=1.0,
                       format="%.3f", key="us_per_tx")
if measured:
    c.caption(f"Default measured on run {measured.run_id}: {measured.compute_seconds:,.2f} compute-seconds "
              f"for {measured.transactions:,} transactions (benchmark: "
              f"{costs.BENCH_SECONDS_PER_TRANSACTION * 1e6:,.0f} µs).")
else:
    c.caption(f"Default from the benchmark (5,000-row chunks): no finished run of "
              f"{explore.MIN_MEASURED_TRANSACTIONS:,}+ transactions has measured it yet.")
cold = c.number_input("Cold start per container (s)", 0.0, value=costs.COLD_START_SECONDS, step=0.5, key="cold")
server = c.number_input("Always-on server, $ per month", 0.0, value=costs.DEFAULT_SERVER_MONTHLY, step=5.0,
                        key="server_monthly")

w = costs.Workload(transactions_per_month=int(tx_month), runs_per_month=int(runs), chunk_size=int(chunk),
                   cpu=float(cpu), memory_mib=float(mem), max_containers=int(max_c),
                   seconds_per_transaction=float(micro) / 1e6, cold_start_seconds=float(cold),
                   server_monthly=float(server))

st.subheader("Per run and per month")
cols = st.columns(3)
for col, e in zip(cols, costs.compare(w, prices)):
    with col.container(border=True):
        st.markdown(f"**{e.name}**")
        st.metric("Per month", common.money(e.cost_per_month))
        st.metric("Per run", common.money(e.cost_per_run))
        st.metric("Wall time per run", common.duration(e.wall_seconds_per_run))
        st.caption(e.note)

even = costs.break_even_volume(w, prices)
per_call_even = costs.per_call_break_even_volume(w)
if even is None:
    st.success(f"Modal stays cheaper than the always-on server ({common.money(w.server_monthly)}/month) "
               "at any realistic volume.")
else:
    st.info(f"Break-even: Modal costs as much as the always-on server at **{even:,} transactions a month**. "
            f"One call per transaction reaches it at {per_call_even:,}.", icon=":material/balance:")

st.subheader("Monthly cost against volume")
table = costs.cost_table(w, prices)
left, right = st.columns([1, 1])
long = table.melt("transactions_per_month", var_name="option", value_name="dollars_per_month")
long["option"] = long["option"].map({"modal": "Modal batch", "always_on": "Always-on server",
                                     "per_call": "One call per transaction"})
long = long[long["dollars_per_month"] > 0]
lines = alt.Chart(long).mark_line(point=True).encode(
    x=alt.X("transactions_per_month:Q", scale=alt.Scale(type="log"), title="Transactions per month"),
    y=alt.Y("dollars_per_month:Q", scale=alt.Scale(type="log"), title="$ per month"),
    color=alt.Color("option:N", title=None, legend=alt.Legend(orient="bottom")),
    tooltip=[alt.Tooltip("option:N"), alt.Tooltip("transactions_per_month:Q", format=","),
             alt.Tooltip("dollars_per_month:Q", format="$,.2f")])
chart = lines
if even is not None:
    rule = alt.Chart(pd.DataFrame({"transactions_per_month": [even], "label": [f"break-even {even:,}"]}))
    chart = lines + rule.mark_rule(strokeDash=[4, 4], color="gray").encode(x="transactions_per_month:Q") + \
        rule.mark_text(align="right", baseline="top", dx=-4, color="gray").encode(
            x="transactions_per_month:Q", y=alt.value(4), text="label:N")
left.altair_chart(chart, width="stretch")
right.dataframe(table, hide_index=True, height=420, column_config={
    "transactions_per_month": st.column_config.NumberColumn("Per month", format="localized"),
    "modal": st.column_config.NumberColumn("Modal", format="$%.4f"),
    "always_on": st.column_config.NumberColumn("Always-on", format="dollar"),
    "per_call": st.column_config.NumberColumn("Per call", format="dollar"),
})
