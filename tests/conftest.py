"""Shared test policy: a test that needs a service starts it; if the service's
program is missing, it fails in CI (CI=true) and is skipped, saying why, elsewhere."""

from __future__ import annotations

import os

import pytest

from meshlab.prometheus import PrometheusMissing, binaries

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need_prometheus() -> None:
    """Make sure the Prometheus binaries are there, or fail (CI) / skip (elsewhere)."""
    try:
        binaries()
    except PrometheusMissing as error:
        if IN_CI:
            pytest.fail(str(error))
        pytest.skip(str(error))
