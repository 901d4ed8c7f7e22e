"""Small helpers shared by the tests that watch real processes."""
from __future__ import annotations

import time


def wait_for(predicate, timeout: float = 60, what: str = "condition", every: float = 0.05):
    """Poll `predicate` until it returns something truthy (returned), or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
