"""`python -m bench reaction --quick`: the benchmark runs, prints and writes its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need_prometheus

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.alone  # a time on two cores: beside another end-to-end file it measures both
def test_reaction_benchmark_quick(tmp_path: Path) -> None:
    """Three runs on the local mesh: the median rollback is within the 10 s goal."""
    need_prometheus()
    out = tmp_path / "reaction.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "reaction", "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "time to rollback" in result.stdout
    report = json.loads(out.read_text())
    assert report["runs"] == 3
    assert len(report["reaction_s"]["all"]) == 3
    assert report["reaction_s"]["median"] <= 10
