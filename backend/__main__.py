"""The command line: `python -m backend score|cards|runs ...`.

Exit status: 0 done, 1 a run that did not finish, 2 unusable input (a file, a card id, the
catalog, a wallet) with one message saying what and where.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

from backend.catalog import Catalog, CatalogError, load_catalog
from backend.engine import Valuation, score, summarize
from backend.export import to_csv
from backend.wallet import Wallet, parse_wallet, read_wallets_csv, validate_wallet


class UsageError(Exception):
    """Input the command cannot use: exit status 2."""


def _parse_cpp(values: list[str]) -> dict[str, float]:
    out = {}
    for item in values:
        currency, sep, cents = item.partition("=")
        try:
            out[currency.strip()] = float(cents)
        except ValueError:
            sep = ""
        if not sep:
            raise UsageError(f"--cpp {item!r}: expected CURRENCY=CENTS, e.g. amex_mr=1.0")
    return out


def _split_card(spec: str, catalog: Catalog) -> tuple[str, str]:
    """`FILE@CARD_ID` -> (file, card id); a plain FILE -> (file, '')."""
    path, at, card = spec.rpartition("@")
    if not at or not path or "/" in card or Path(spec).exists():
        return spec, ""
    if card not in catalog.cards:
        raise UsageError(f"{spec}: unknown card id {card!r} after '@' (see `python -m backend cards`)")
    return path, card


def read_inputs(specs: list[str], catalog: Catalog, mapping_file: str | None = None) -> pd.DataFrame:
    """Read every statement into one canonical frame; a file that cannot be used stops here."""
    from backend.statements import StatementError, read_statement
    from backend.statements.mapping import load_mapping

    mapping = load_mapping(mapping_file) if mapping_file else None
    frames = []
    for spec in specs:
        path, card = _split_card(spec, catalog)
        try:
            statement = read_statement(path, Path(path).name, card_used=card, mapping=mapping)
        except StatementError as exc:
            raise UsageError(str(exc)) from None
        print(f"{path}: read as {statement.format}, {statement.rows_read} rows", file=sys.stderr)
        frames.append(statement.frame)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if "card_used" in frame and not (frame["card_used"].fillna("") != "").any():
        frame = frame.drop(columns=["card_used"])
    return frame


def _wallet(args, catalog: Catalog) -> Wallet:
    if not args.wallet and not args.wallets:
        raise UsageError("name the wallet: --wallet CARD_ID[,CARD_ID...] and/or --wallets FILE.csv")
    accounts = {}
    if args.wallets:
        try:
            accounts = read_wallets_csv(args.wallets)
        except (OSError, CatalogError) as exc:
            raise UsageError(f"{args.wallets}: {exc}") from None
    wallet = Wallet(parse_wallet(args.wallet or ""), accounts)
    if not wallet.cards and accounts:   # every account has its own wallet; default to the union
        wallet = Wallet(tuple(dict.fromkeys(c for cs in accounts.values() for c in cs)), accounts)
    validate_wallet(wallet, catalog)
    return wallet


def _print_summary(summary: dict, out) -> None:
    print(f"{summary['total_transactions']:,} transactions: {summary['scored']:,} scored, "
          f"{summary['skipped']:,} skipped, {summary['failed']:,} errors", file=out)
    print(f"Best-card rewards: ${summary['total_rewards']:,.2f} on ${summary['total_spend']:,.2f} of spend "
          f"({summary['effective_rate']:.2%})", file=out)
    if "missed_rewards" in summary:
        print(f"Cards actually used earned ${summary['actual_rewards']:,.2f}: "
              f"${summary['missed_rewards']:,.2f} left on the table", file=out)
    for card, row in sorted(summary["by_card"].items(), key=lambda kv: -kv[1]["rewards"]):
        print(f"  {card:40s} {row['transactions']:>9,} purchases  ${row['rewards']:>12,.2f}", file=out)
    if summary.get("throughput_tps"):
        print(f"Scored in {summary['processing_time_seconds']:.2f}s ({summary['throughput_tps']:,.0f}/s)", file=out)


def _print_unknown(results: pd.DataFrame, out) -> None:
    """Merchants nothing could categorize: the user can say what they are, once."""
    from backend.merchants import unknown_merchants

    unknown = unknown_merchants(results)
    if unknown.empty:
        return
    print(f"{int(unknown['count'].sum()):,} purchases at {len(unknown):,} merchants could not be categorized "
          f"(they earn base rates). Biggest:", file=out)
    for row in unknown.head(5).itertuples():
        print(f"  {row.merchant:40s} {row.count:>6,} purchases  ${row.spend:>12,.2f}", file=out)
    print('Assign one with: python -m backend corrections add "MERCHANT" CATEGORY', file=out)


def cmd_score(args) -> int:
    catalog = load_catalog(args.catalog)
    wallet = _wallet(args, catalog)
    valuation = Valuation(args.valuation, _parse_cpp(args.cpp))
    catalog.cents_per_point(valuation.profile, valuation.overrides)   # validate overrides now
    frame = read_inputs(args.files, catalog, args.mapping)
    started = time.perf_counter()
    if args.executor:
        from backend.runs import RunOptions
        from backend.runs_cli import score_with_manager

        options = RunOptions(executor=args.executor, chunk_size=args.chunk_size, workers=args.workers)
        run_id, results = score_with_manager(frame, wallet, catalog, valuation, options,
                                             progress=sys.stderr.isatty() and not args.json)
        print(f"run {run_id}", file=sys.stderr)
    else:
        results = score(frame, wallet, catalog, valuation)
    summary = summarize(results, time.perf_counter() - started)
    if args.out:
        to_csv(results, args.out)
    if args.json:
        print(json.dumps(summary, indent=2), file=sys.stderr if args.out == "-" else sys.stdout)
    else:
        _print_summary(summary, sys.stderr if args.out == "-" else sys.stdout)
        _print_unknown(results, sys.stderr if args.out == "-" else sys.stdout)
    return 0


def cmd_corrections(args) -> int:
    """The user's merchant -> category corrections, applied to every later run."""
    from backend.corrections import read_corrections, remove_correction, save_correction

    if args.action == "add":
        try:
            saved = save_correction(args.merchant, args.category)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        print(f"{saved.merchant} -> {saved.category}")
    elif args.action == "remove":
        if not remove_correction(args.merchant):
            raise UsageError(f"no correction for {args.merchant!r}")
    else:
        rows, issues = read_corrections()
        for message in issues:
            print(message, file=sys.stderr)
        for row in rows:
            print(f"{row.merchant:40s} {row.category:20s} {row.saved_at}")
    return 0


def cmd_cards(args) -> int:
    catalog = load_catalog(args.catalog)
    cards = list(catalog.cards.values())
    if args.json:
        print(json.dumps([{"id": c.id, "name": c.name, "issuer": c.issuer, "kind": c.kind,
                           "annual_fee": c.annual_fee, "currency": c.currency, "base_rate": c.base_rate,
                           "rules": [r.label or r.kind for r in c.rules],
                           "choices": list(c.choice_rule.options) if c.choice_rule else [],
                           "as_of": c.as_of.isoformat(), "note": c.note} for c in cards], indent=2))
        return 0
    for c in cards:
        rules = "; ".join(r.label or r.kind for r in c.rules if r.kind != "portal") or "flat rate"
        print(f"{c.id:36s} {c.name:42s} {c.kind:8s} ${c.annual_fee:>5,.0f}  {c.currency:18s} {rules}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend", description="RewardPilot: the best card for every purchase.")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("score", help="score statements against a wallet")
    s.add_argument("files", nargs="+", metavar="FILE[@CARD_ID]",
                   help="statement CSVs (canonical or an issuer export); @CARD_ID names the card that paid")
    s.add_argument("--wallet", default="", help="card ids, comma-separated; CARD_ID:CHOICE sets a choice, "
                                                 "CARD_ID:not_activated turns rotating categories off")
    s.add_argument("--wallets", help="CSV user_id,card_id[,choice] for accounts whose wallets differ")
    s.add_argument("--valuation", choices=["cash", "travel", "transfer"], default="cash")
    s.add_argument("--cpp", action="append", default=[], metavar="CURRENCY=CENTS",
                   help="override a currency's cents per point, e.g. amex_mr=1.0 (repeatable)")
    s.add_argument("--catalog", help="another catalog file of the same format")
    s.add_argument("--mapping", help="column mapping for a statement format RewardPilot does not know")
    s.add_argument("--out", help="write the results CSV here ('-' for stdout)")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.add_argument("--executor", choices=["local", "modal"],
                   help="run as a batch through the run manager (default: in this process)")
    s.add_argument("--chunk-size", type=int, default=None, help="target rows per chunk (batch runs)")
    s.add_argument("--workers", type=int, default=None, help="local worker processes (batch runs)")
    s.set_defaults(func=cmd_score)

    c = sub.add_parser("cards", help="list the card catalog")
    c.add_argument("--catalog")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_cards)

    k = sub.add_parser("corrections", help="merchant categories you assign (applied to later runs)")
    k_sub = k.add_subparsers(dest="action", required=True)
    k_sub.add_parser("list")
    add = k_sub.add_parser("add")
    add.add_argument("merchant")
    add.add_argument("category", help="a reward category, e.g. dining (see README)")
    remove = k_sub.add_parser("remove")
    remove.add_argument("merchant")
    k.set_defaults(func=cmd_corrections)

    try:
        from backend.runs_cli import add_runs_parser, run_runs_command
    except ImportError:
        pass
    else:
        r = add_runs_parser(sub)
        r.set_defaults(func=run_runs_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    from backend.executors import ExecutorUnavailable

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, CatalogError, ExecutorUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:        # `--out - | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
