"""Fixtures of the end-to-end suite (see ``harness``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need_prometheus
from tests.e2e.harness import Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A fresh stack per test: emulator, Prometheus, traffic; no controller yet."""
    need_prometheus()
    s = Stack(tmp_path)
    try:
        yield s
    finally:
        s.stop()
