"""`python -m backend runs ...` and the run-manager path of `score --executor`.

Commands: `runs list [--json]`, `runs show RUN_ID [--json]`, `runs cancel RUN_ID`,
`runs resume RUN_ID` (carries the run on in the foreground until it ends), `runs retry RUN_ID`
(runs the chunks that ended as error rows again), `runs export RUN_ID --out FILE.csv`.
Exit codes: 0 done, 1 the run ended failed/cancelled or does not exist, 3 another process holds it.
"""
from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from backend import engine
from backend.catalog import Catalog
from backend.executors import ExecutorUnavailable
from backend.export import to_csv
from backend.runs import RunBusy, RunManager, RunOptions, get_manager
from backend.store import Snapshot, StoreError, UnknownRun, get_store
from backend.wallet import Wallet


def add_runs_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `runs` command and its subcommands to the CLI's subparsers."""
    runs = subparsers.add_parser("runs", help="batch runs: list, show, cancel, resume, retry, export",
                                 description="Batch runs stored under $REWARDPILOT_HOME (default ./.rewardpilot).")
    sub = runs.add_subparsers(dest="runs_command", metavar="COMMAND", required=True)
    p = sub.add_parser("list", help="every run, newest first")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("show", help="one run's progress, rewards, cost and errors")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--json", action="store_true", help="print the snapshot as JSON")
    p = sub.add_parser("cancel", help="stop a run; finished chunks are kept")
    p.add_argument("run_id", metavar="RUN_ID")
    p = sub.add_parser("resume", help="carry an unfinished run on here, in the foreground, until it ends")
    p.add_argument("run_id", metavar="RUN_ID")
    p = sub.add_parser("retry", help="run the chunks that ended as error rows again, in the foreground")
    p.add_argument("run_id", metavar="RUN_ID")
    p = sub.add_parser("export", help="write a run's results as CSV (the columns of `score --out`)")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="where to write the CSV")
    return runs


def run_runs_command(args: argparse.Namespace) -> int:
    """Run a parsed `runs ...` command; returns the exit code."""
    command = {"list": _list, "show": _show, "cancel": _cancel, "resume": _resume, "retry": _retry,
               "export": _export}[args.runs_command]
    try:
        return command(args)
    except UnknownRun as exc:        # a mistyped id: unusable input, like `score`'s exit 2
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except RunBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except ExecutorUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def score_with_manager(frame: pd.DataFrame, wallet: Wallet, catalog: Catalog, valuation: engine.Valuation,
                       options: RunOptions, progress: bool, name: str = "") -> tuple[str, pd.DataFrame]:
    """`score --executor ...`: submit a run, follow it (a progress bar if asked), return its results."""
    manager = get_manager(resume_unfinished=False)
    run_id = manager.submit(frame, wallet, catalog, valuation, options, name=name)
    status = _follow(manager, run_id, progress)
    if status != "done":
        snap = manager.store.snapshot(run_id)
        print(f"warning: run {run_id} ended {status}: {snap.total_rows - snap.rows_ok - snap.rows_skipped:,} rows "
              f"are error rows (see `python -m backend runs show {run_id}`)", file=sys.stderr)
    return run_id, manager.store.results(run_id)


# -- commands ---------------------------------------------------------------------------
def _list(args: argparse.Namespace) -> int:
    runs = get_store().list_runs()
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print("No runs yet: `python -m backend score FILE --executor local` starts one.")
        return 0
    print(f"{'RUN ID':<24} {'STATUS':<12} {'EXECUTOR':<8} {'ROWS':>10} {'CHUNKS':>13} {'REWARDS':>12}  CREATED")
    for r in runs:
        chunks = f"{r['done'] + r['failed']}/{r['chunks']}" + (f" ({r['failed']} failed)" if r["failed"] else "")
        print(f"{r['run_id']:<24} {r['status']:<12} {r['executor']:<8} {r['total']:>10,} {chunks:>13} "
              f"{r['rewards']:>12,.2f}  {r['created_at']}")
    return 0


def _show(args: argparse.Namespace) -> int:
    snap = get_store().snapshot(args.run_id)
    if args.json:
        print(json.dumps(snap.to_dict(), indent=2))
        return 0
    print(describe(snap))
    return 0


def describe(snap: Snapshot) -> str:
    """A run's snapshot as a few lines of text."""
    eta = "-" if snap.eta_s is None else f"{snap.eta_s:,.0f} s"
    cost = "unknown" if snap.cost_usd is None else f"${snap.cost_usd:.6f}"
    lines = [
        f"Run {snap.run_id}{' (' + snap.name + ')' if snap.name else ''}: {snap.status} on {snap.executor}",
        f"  rows        {snap.rows_done:,} / {snap.total_rows:,} ({snap.progress:.0%}): {snap.rows_ok:,} scored, "
        f"{snap.rows_skipped:,} skipped, {snap.rows_error:,} errors",
        f"  chunks      {snap.done} done, {snap.failed} failed, {snap.in_flight} in flight, {snap.retrying} retrying, "
        f"{snap.queued} queued, {snap.cancelled} cancelled (of {snap.total_chunks})",
        f"  time        {snap.elapsed_s:,.1f} s elapsed, {snap.rows_per_second:,.0f} rows/s, ETA {eta}",
        f"  rewards     ${snap.rewards:,.2f}"
        + ("" if snap.missed_rewards is None else f"; missed ${snap.missed_rewards:,.2f}"),
        f"  compute     {snap.compute_seconds_total:,.2f} s; estimated Modal cost {cost}",
    ]
    for title, values in (("by card", snap.rewards_by_card), ("by category", snap.rewards_by_category)):
        if values:
            top = sorted(values.items(), key=lambda kv: -kv[1])[:8]
            lines.append(f"  {title:<12}" + ", ".join(f"{k} ${v:,.2f}" for k, v in top))
    for err in snap.errors[:5]:
        lines.append(f"  error       chunk {err['chunk']} ({err['state']}, {err['failures']} failure(s)): {err['error']}")
    return "\n".join(lines)


def _cancel(args: argparse.Namespace) -> int:
    manager = RunManager()
    try:
        manager.cancel(args.run_id)
        status = manager.store.run(args.run_id).status
    finally:
        manager.shutdown()
    if status == "cancelled":
        print(f"Run {args.run_id} cancelled; finished chunks are kept.")
    else:
        print(f"Run {args.run_id}: cancel requested ({status}); the process running it stops at its next heartbeat.")
    return 0


def _resume(args: argparse.Namespace) -> int:
    return _carry_on(args.run_id, retry=False)


def _retry(args: argparse.Namespace) -> int:
    return _carry_on(args.run_id, retry=True)


def _carry_on(run_id: str, retry: bool) -> int:
    manager = RunManager()
    try:
        started = manager.retry_failed(run_id) if retry else manager.resume(run_id)
        if started:
            _follow(manager, run_id, progress=sys.stderr.isatty())
        status = manager.store.run(run_id).status
    finally:
        manager.shutdown()
    print(f"Run {run_id}: {status}")
    return 0 if status == "done" else 1


def _export(args: argparse.Namespace) -> int:
    frame = get_store().results(args.run_id)
    to_csv(frame, args.out)
    print(f"Wrote {len(frame):,} rows to {args.out}")
    return 0


# -- following a run --------------------------------------------------------------------
def _follow(manager: RunManager, run_id: str, progress: bool) -> str:
    """Wait for a run, with a rich progress bar when asked. Ctrl-C leaves it resumable."""
    try:
        if not progress:
            return manager.wait(run_id)
        return _progress_bar(manager, run_id)
    except KeyboardInterrupt:
        manager.shutdown()
        print(f"\nRun {run_id} interrupted; carry it on with `python -m backend runs resume {run_id}`.",
              file=sys.stderr)
        raise


def _progress_bar(manager: RunManager, run_id: str) -> str:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]} rows/s"), TextColumn("rewards ${task.fields[rewards]}"),
               TextColumn("{task.fields[chunks]}"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        snap = manager.store.snapshot(run_id)
        task = bar.add_task(f"run {run_id}", total=snap.total_rows, rate="0", rewards="0.00", chunks="")
        while True:
            try:
                status = manager.wait(run_id, timeout=0.25)
            except TimeoutError:
                status = None
            snap = manager.store.snapshot(run_id)
            bar.update(task, completed=snap.rows_done, rate=f"{snap.rows_per_second:,.0f}",
                       rewards=f"{snap.rewards:,.2f}",
                       chunks=f"{snap.done + snap.failed}/{snap.total_chunks} chunks"
                              + (f", {snap.failed} failed" if snap.failed else ""))
            if status is not None:
                return status
