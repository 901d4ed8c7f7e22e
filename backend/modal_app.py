"""The Modal app: one deployed function, `score_chunk`, that scores one chunk payload.

Deploy it once per workspace with `modal deploy backend/modal_app.py`; the `modal` executor then
finds it by name (`settings.modal_app`, "rewardpilot-batch" by default).

Why so thin: the body is `backend.payload.score_payload`, the very function the local executor
runs, so a chunk scores identically on this machine and in a container. Importing this module
only declares things (image, app, function): it makes no network call and needs no token, so
tests and the CLI can import it freely, and `score_chunk.local(payload)` runs the body in-process.

Resources, timeout, retries and container cap come from `backend.settings` (REWARDPILOT_MODAL_*
environment variables), read when the module is imported, i.e. at `modal deploy` time.
"""
from __future__ import annotations

import modal

from backend.payload import score_payload
from backend.settings import Settings, get_settings

# The container's runtime dependencies: the same pins as requirements.txt (a test checks that
# they match what is installed here, so local and remote runs use the same versions).
RUNTIME_DEPS = (
    "pandas==3.1.1",
    "pyarrow==26.0.1",
    "numpy==2.4.6",
    "iso18245==1.4.1",
    "rapidfuzz==3.14.6",
)
PYTHON_VERSION = "3.11"

settings = get_settings()

image = (
    modal.Image.debian_slim(python_version=PYTHON_VERSION)
    .pip_install(*RUNTIME_DEPS)
    .add_local_python_source("backend")
)

app = modal.App(settings.modal_app, image=image)


def function_options(s: Settings) -> dict:
    """`@app.function` keyword arguments from settings (modal 1.x names).

    Retries: Modal re-runs a failed input itself (with backoff) before the run manager sees
    the failure; 0 turns that off.
    """
    retries = None
    if s.modal_retries > 0:
        retries = modal.Retries(max_retries=s.modal_retries, backoff_coefficient=2.0, initial_delay=1.0)
    return {"cpu": s.modal_cpu, "memory": s.modal_memory_mib, "timeout": s.modal_timeout_s,
            "retries": retries, "max_containers": s.modal_max_containers,
            "scaledown_window": s.modal_scaledown_s}


@app.function(**function_options(settings))
def score_chunk(payload: bytes) -> bytes:
    """Score one chunk payload (Arrow IPC bytes) and return the result bytes."""
    return score_payload(payload)
