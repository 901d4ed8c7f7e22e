"""Settings from the environment, with defaults that need no account and no server.

One place for every knob, so the CLI, the dashboard and the Modal app agree.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=lambda: Path(os.environ.get("REWARDPILOT_HOME", ".rewardpilot")))
    chunk_size: int = field(default_factory=lambda: _int("REWARDPILOT_CHUNK_SIZE", 5000))
    workers: int = field(default_factory=lambda: _int("REWARDPILOT_WORKERS", os.cpu_count() or 1))
    attempts: int = field(default_factory=lambda: _int("REWARDPILOT_ATTEMPTS", 3))
    # Modal
    modal_app: str = field(default_factory=lambda: os.environ.get("REWARDPILOT_MODAL_APP", "rewardpilot-batch"))
    modal_cpu: float = field(default_factory=lambda: _float("REWARDPILOT_MODAL_CPU", 1.0))
    modal_memory_mib: int = field(default_factory=lambda: _int("REWARDPILOT_MODAL_MEMORY_MIB", 1024))
    modal_timeout_s: int = field(default_factory=lambda: _int("REWARDPILOT_MODAL_TIMEOUT_S", 600))
    # Modal's own retries stack with the run manager's attempts: keep them few.
    modal_retries: int = field(default_factory=lambda: _int("REWARDPILOT_MODAL_RETRIES", 1))
    # Idle containers are billed until they scale down: let them go soon after a run.
    modal_scaledown_s: int = field(default_factory=lambda: _int("REWARDPILOT_MODAL_SCALEDOWN_S", 10))
    modal_max_containers: int = field(default_factory=lambda: _int("REWARDPILOT_MODAL_MAX_CONTAINERS", 100))
    modal_max_inflight: int = field(default_factory=lambda: _int("REWARDPILOT_MODAL_MAX_INFLIGHT", 100))


def get_settings() -> Settings:
    """Read the environment now (tests change it between calls)."""
    return Settings()
