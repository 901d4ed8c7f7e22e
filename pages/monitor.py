"""Live monitor: the active run's progress, throughput, rewards so far, chunks, cost and errors.

The live part is a fragment that reruns every second while the run is queued or running, and
stops polling once it ends (the final state stays on screen). The run id lives in the URL, so a
reload, a page switch or a server restart (the manager resumes unfinished runs) finds it again.
"""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from backend import store
from pages import common

common.use_app_navigation()

CHUNK_COLORS = {"queued": "#d1d5db", "running": "#3b82f6", "retrying": "#f59e0b", "done": "#10b981",
                "failed": "#ef4444", "cancelled": "#6b7280"}


def card_names() -> dict[str, str]:
    return {cid: c.name for cid, c in common.catalog().cards.items()}


def header(snap) -> None:
    st.subheader(snap.name or snap.run_id)
    st.caption(f"Run {snap.run_id} · {snap.executor} executor · started {snap.started_at or snap.created_at} UTC")
    pct = common.progress_fraction(snap)
    st.progress(pct, text=f"**{snap.status}** · {snap.rows_done:,} of {snap.total_rows:,} transactions "
                         f"({pct:.0%}) · {snap.done + snap.failed:,} of {snap.total_chunks:,} chunks")
    cols = st.columns(3) + st.columns(3)
    cols[0].metric("Elapsed", common.duration(snap.elapsed_s))
    cols[1].metric("ETA", "done" if snap.finished else common.duration(snap.eta_s) if snap.eta_s is not None else "–")
    cols[2].metric("Throughput", f"{snap.rows_per_second:,.0f} transactions/s")
    cols[3].metric("Rewards so far", common.money(snap.rewards))
    cols[4].metric("Missed vs card used", common.money(snap.missed_rewards) if snap.missed_rewards is not None else "–",
                   help="Rewards the cards that actually paid left on the table (when the statement says which card paid).")
    cols[5].metric("Cost so far (at Modal prices)", common.money_short(snap.cost_usd),
                   help=f"{common.money(snap.cost_usd)} for {snap.compute_seconds_total:,.2f} compute-seconds at Modal's "
                        "prices (backend.costs). A local run costs nothing: this is what it would cost on Modal.")
    c = st.columns(5)
    for col, (label, value) in zip(c, [("Done", snap.done), ("Running", snap.in_flight), ("Queued", snap.queued),
                                       ("Retrying", snap.retrying), ("Failed", snap.failed)]):
        col.caption(f"{label}: **{value:,}** chunks")


def charts(snap) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Throughput (transactions per second)**")
        if snap.throughput:
            data = pd.DataFrame(snap.throughput, columns=["seconds", "per_second"])
            st.altair_chart(alt.Chart(data).mark_line(point=len(data) < 20).encode(
                x=alt.X("seconds:Q", title="Seconds since start"),
                y=alt.Y("per_second:Q", title="Transactions / s", axis=alt.Axis(format=",.0f")),
                tooltip=[alt.Tooltip("seconds:Q", format=",.1f"), alt.Tooltip("per_second:Q", format=",.0f")]),
                width="stretch", height=220)
        else:
            st.caption("Waiting for the first chunk to finish.")
    with right:
        st.markdown("**Chunks**")
        strip = pd.DataFrame({"chunk": range(len(snap.chunk_states)), "state": snap.chunk_states})
        if len(strip):
            per_row = max(40, -(-len(strip) // 10))        # at most 10 rows, however many chunks
            strip["row"] = strip["chunk"] // per_row
            strip["col"] = strip["chunk"] % per_row
            st.altair_chart(alt.Chart(strip).mark_rect(stroke="white", strokeWidth=1).encode(
                x=alt.X("col:O", axis=None, scale=alt.Scale(domain=list(range(per_row)))),
                y=alt.Y("row:O", axis=None),
                color=alt.Color("state:N", scale=alt.Scale(domain=list(CHUNK_COLORS), range=list(CHUNK_COLORS.values())),
                                legend=alt.Legend(orient="bottom", title=None)),
                tooltip=["chunk:Q", "state:N"]).properties(height=alt.Step(22)), width="stretch")
    names = card_names()
    left, right = st.columns(2)
    for col, title, data, key in ((left, "Rewards so far by category", snap.rewards_by_category, "category"),
                                  (right, "Rewards so far by card", snap.rewards_by_card, "card")):
        with col:
            st.markdown(f"**{title}**")
            if not data:
                st.caption("Nothing scored yet.")
                continue
            frame = pd.DataFrame({key: list(data), "rewards": list(data.values())})
            if key == "card":
                frame[key] = frame[key].map(lambda c: names.get(c, c))
            frame = frame.sort_values("rewards", ascending=False).head(15)
            st.altair_chart(alt.Chart(frame).mark_bar().encode(
                x=alt.X("rewards:Q", title="$", axis=alt.Axis(format="$,.0f")),
                y=alt.Y(f"{key}:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=160)),
                tooltip=[f"{key}:N", alt.Tooltip("rewards:Q", format="$,.2f")]).properties(height=alt.Step(20)),
                width="stretch")


def errors(snap) -> None:
    if snap.errors:
        st.markdown("**Latest errors**")
        st.dataframe(pd.DataFrame(snap.errors), hide_index=True, width="stretch")


def actions(snap) -> None:
    a, b, c, _ = st.columns([1, 1, 1, 3])
    if not snap.finished and a.button("Cancel run", icon=":material/stop:", key="cancel"):
        with common.guard("Cancelling", "Try again in a moment."):
            common.manager().cancel(snap.run_id)
            st.toast("Cancel requested: calls in flight are being stopped.")
    if snap.failed and snap.finished and b.button(f"Retry {snap.failed} failed chunks", icon=":material/replay:",
                                                  key="retry"):
        with common.guard("Retrying", "Try again in a moment."):
            common.manager().retry_failed(snap.run_id)
            st.rerun()
    if snap.status == "cancelled" and b.button("Resume run", icon=":material/play_arrow:", key="resume"):
        with common.guard("Resuming", "Try again in a moment."):
            common.manager().resume(snap.run_id)
            st.rerun()
    if snap.finished:
        c.page_link(common.RESULTS, label="Open results", icon=":material/table_chart:",
                    query_params={common.RUN_PARAM: snap.run_id})


def live_view(run_id: str) -> None:
    live = common.is_live(store.snapshot(run_id))

    @st.fragment(run_every=1 if live else None)
    def body() -> None:
        snap = None
        with common.guard("Reading the run's progress", "It is retried every second; reload the page if it stays."):
            snap = store.snapshot(run_id)
            header(snap)
            actions(snap)
            charts(snap)
            errors(snap)
        if live and snap is not None and not common.is_live(snap):
            st.rerun()            # the run ended: redraw once without polling
    body()


def past_runs(active: str | None) -> None:
    runs = store.list_runs()
    st.subheader("Runs")
    if not runs:
        st.caption("No runs yet.")
        return
    frame = pd.DataFrame(runs)
    frame["progress"] = [r["done"] + r["failed"] for r in runs]
    frame["progress"] = frame["progress"] / frame["chunks"].where(frame["chunks"] > 0, 1)
    shown = frame[["run_id", "name", "status", "executor", "total", "progress", "rewards", "created_at"]]
    picked = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                          key="runs_table", column_config={
                              "run_id": "Run", "name": "Name", "status": "Status", "executor": "On",
                              "total": st.column_config.NumberColumn("Transactions", format="localized"),
                              "progress": st.column_config.ProgressColumn("Progress", min_value=0, max_value=1),
                              "rewards": st.column_config.NumberColumn("Rewards", format="dollar"),
                              "created_at": "Created (UTC)"})
    rows = picked.selection.rows if picked else []
    if rows and shown.iloc[rows[0]]["run_id"] != active:
        common.set_active_run(shown.iloc[rows[0]]["run_id"])
        st.rerun()
    st.caption("Select a row to watch that run.")


st.title("Live monitor")
run_id = common.active_run_id()
with common.guard("Reading the run store", "Check REWARDPILOT_HOME points at a readable folder."):
    common.manager()      # the process-wide manager: resumes unfinished runs after a restart
    if run_id is None:
        common.empty_state("No run selected. Start one from Upload, or pick one below.", common.UPLOAD, "Upload")
    else:
        try:
            store.snapshot(run_id)
        except store.StoreError:
            common.show_error(f"Run {run_id} is not in this store.", "Pick a run below, or start one from Upload.")
            common.set_active_run(None)
            run_id = None
        if run_id:
            live_view(run_id)
    st.divider()
    past_runs(run_id)
