"""The user's own merchant categories: "this merchant is dining", remembered across runs.

Saved as a small CSV (merchant, category, saved_at) under $REWARDPILOT_HOME (default
./.rewardpilot). Merchants are stored normalized and masked, so the correction applies to every
descriptor of that merchant and no card number is ever written. `backend.merchants.lookup`
reads the file once per call and lets a correction win over the dictionary.
"""
from __future__ import annotations

import csv
import os
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from backend.categories import CATEGORIES

FILE_NAME = "corrections.csv"
COLUMNS = ("merchant", "category", "saved_at")


@dataclass(frozen=True)
class Correction:
    merchant: str      # normalized merchant name
    category: str
    saved_at: str      # ISO 8601, UTC


def home() -> Path:
    """The app's data folder: $REWARDPILOT_HOME, else ./.rewardpilot."""
    return Path(os.environ.get("REWARDPILOT_HOME") or ".rewardpilot")


def corrections_path() -> Path:
    return home() / FILE_NAME


def _normalized(merchant: str) -> str:
    from backend.merchants import mask_text, normalize_text

    return normalize_text(mask_text(str(merchant)))


def read_corrections(path: Path | None = None) -> tuple[list[Correction], list[str]]:
    """Every valid row of the corrections file (later rows win) and a message per bad row."""
    path = path or corrections_path()
    if not path.exists():
        return [], []
    rows: dict[str, Correction] = {}
    issues: list[str] = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS[:2] if c not in (reader.fieldnames or [])]
        if missing:
            return [], [f"{path}: header lacks column(s) {', '.join(missing)}; no correction read"]
        for line, row in enumerate(reader, start=2):
            merchant = _normalized(row.get("merchant") or "")
            category = (row.get("category") or "").strip()
            if not merchant:
                issues.append(f"{path}: row {line}: column merchant: empty; row ignored")
            elif category not in CATEGORIES:
                issues.append(f"{path}: row {line}: column category: unknown category "
                              f"{category!r}; row ignored")
            else:
                rows[merchant] = Correction(merchant, category, (row.get("saved_at") or "").strip())
    return list(rows.values()), issues


def load_corrections(path: Path | None = None) -> dict[str, str]:
    """Normalized merchant -> category. Bad rows are reported as warnings, good rows kept."""
    rows, issues = read_corrections(path)
    for issue in issues:
        warnings.warn(issue, stacklevel=2)
    return {r.merchant: r.category for r in rows}


def _write(path: Path, rows: list[Correction]) -> None:
    """Replace the file atomically, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".corrections-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            for r in sorted(rows, key=lambda r: r.merchant):
                writer.writerow((r.merchant, r.category, r.saved_at))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_correction(merchant: str, category: str, path: Path | None = None) -> Correction:
    """Remember that `merchant` (any descriptor of it) earns in `category`."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}")
    name = _normalized(merchant)
    if not name:
        raise ValueError(f"merchant {merchant!r} has no name left after normalization")
    path = path or corrections_path()
    rows, _ = read_corrections(path)
    saved = Correction(name, category, datetime.now(timezone.utc).isoformat(timespec="seconds"))
    _write(path, [r for r in rows if r.merchant != name] + [saved])
    return saved


def remove_correction(merchant: str, path: Path | None = None) -> bool:
    """Forget a merchant's correction; True if there was one."""
    path = path or corrections_path()
    name = _normalized(merchant)
    rows, _ = read_corrections(path)
    kept = [r for r in rows if r.merchant != name]
    if len(kept) == len(rows):
        return False
    _write(path, kept)
    return True
