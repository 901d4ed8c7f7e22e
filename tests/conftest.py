"""Fixtures shared by several test files."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def modal_server():
    """A local fake Modal control plane for the real `modal` client (see tests/fake_modal.py)."""
    from fake_modal import FakeModal, reset_modal_client

    fake = FakeModal().start()
    yield fake
    reset_modal_client()
    fake.stop()
