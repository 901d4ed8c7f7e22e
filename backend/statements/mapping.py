"""Column mappings: read any bank's CSV by naming its columns once.

A user whose bank we do not know fills a `ColumnMapping` on the Upload page (or writes one as
JSON/TOML for `--mapping FILE`); it is saved and reused for the next export of that bank.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

from backend.statements.capital_one import debit_minus_credit
from backend.statements.frame import build
from backend.statements.reading import StatementError, Table, key
from backend.statements.values import best_date_format, iso_dates, parse_money

NAME = "custom"
SIGNS = ("purchases_positive", "purchases_negative")


@dataclass(frozen=True)
class ColumnMapping:
    """Which header names hold what. Give `amount` (signed by `sign`) or `debit`/`credit`
    (purchases in debit, payments and refunds in credit, any sign). Names match the header
    case-insensitively."""
    date: str
    description: str
    amount: str | None = None
    debit: str | None = None
    credit: str | None = None
    category: str | None = None
    mcc: str | None = None
    sign: str = "purchases_positive"
    date_format: str | None = None      # strptime format, e.g. "%d/%m/%Y"; None: guessed
    issuer: str = ""                    # a label shown with the statement, e.g. "Acme Bank"

    def __post_init__(self) -> None:
        problems = []
        if not (self.date or "").strip():
            problems.append("date column is required")
        if not (self.description or "").strip():
            problems.append("description column is required")
        if bool(self.amount) == bool(self.debit or self.credit):
            problems.append("give either an amount column or debit/credit columns")
        if self.sign not in SIGNS:
            problems.append(f"sign must be one of {', '.join(SIGNS)}, not {self.sign!r}")
        if problems:
            raise ValueError("column mapping: " + "; ".join(problems))

    def columns(self) -> dict[str, str]:
        """Role -> header name, for the roles this mapping uses."""
        roles = ("date", "description", "amount", "debit", "credit", "category", "mcc")
        return {r: getattr(self, r) for r in roles if getattr(self, r)}

    @classmethod
    def from_dict(cls, data: dict, where: str = "mapping") -> "ColumnMapping":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        try:
            return cls(**{k: (None if v == "" and k not in ("date", "description") else v)
                          for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from exc


def load_mapping(path: str | Path) -> ColumnMapping:
    """A mapping from a .json or .toml file (flat keys, as `save_mapping` writes them)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name}: not a valid {path.suffix.lstrip('.').upper() or 'JSON'} file: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: expected a table of keys, e.g. {{\"date\": \"Date\", ...}}")
    return ColumnMapping.from_dict(data, where=path.name)


def save_mapping(mapping: ColumnMapping, path: str | Path) -> Path:
    """Write a mapping as TOML (`.toml`) or JSON (anything else); unset keys are left out."""
    path = Path(path)
    data = {k: v for k, v in asdict(mapping).items() if v not in (None, "")}
    if path.suffix.lower() == ".toml":
        # Flat string keys only: JSON string escapes are valid TOML basic strings.
        text = "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in data.items())
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def parse(table: Table, mapping: ColumnMapping, *, account: str, card_used: str) -> pd.DataFrame:
    """Any headed CSV read through a mapping; StatementError names every missing column."""
    wanted = mapping.columns()
    missing = [f"{role} column {name!r}" for role, name in wanted.items() if key(name) not in table.data]
    if missing:
        raise StatementError(f"{table.name}: the column mapping names columns this file does not have: "
                             f"{'; '.join(missing)} (the file's columns: {', '.join(table.header)})")

    def col(role: str) -> pd.Series | None:
        return table.data[key(wanted[role])].astype("str") if role in wanted else None

    if mapping.amount:
        amount = parse_money(col("amount"))
        if mapping.sign == "purchases_negative":
            amount = -amount
    else:
        blank = pd.Series("", index=table.data.index, dtype="str")
        amount = debit_minus_credit(col("debit") if mapping.debit else blank,
                                    col("credit") if mapping.credit else blank)
    dates = col("date")
    fmt = mapping.date_format or best_date_format(dates)
    return build(table, fmt=NAME, account=account, card_used=card_used,
                 timestamp=iso_dates(dates, (fmt,)),
                 amount=amount, description=col("description"),
                 category=col("category"), mcc=col("mcc"))
