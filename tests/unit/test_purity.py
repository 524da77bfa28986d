"""The decision core reads no clock and does no I/O (import-linter covers imports;
this covers calls that need no import, such as ``datetime.now`` or ``open``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = [
    *sorted((ROOT / "rollout" / "engine").glob("*.py")),
    ROOT / "rollout" / "actions.py",
    *(
        ROOT / "rollout" / "analysis" / f"{name}.py"
        for name in (
            "judges",
            "verdicts",
            "threshold",
            "sequential",
            "evalues",
            "observations",
            "queries",
            "promql",
            "series",
        )
    ),
    *sorted((ROOT / "rollout" / "mesh").glob("*.py")),
    *sorted((ROOT / "rollout" / "model").glob("*.py")),
    *sorted((ROOT / "strategies").glob("*.py")),
]
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "sleep", "open", "print", "input"}


def _calls(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in FORBIDDEN_CALLS:
                found.append((node.lineno, name))
    return found


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_reads_no_clock_and_does_no_io(path: Path) -> None:
    """No clock reads, sleeps, prints or file access in the pure core."""
    assert _calls(ast.parse(path.read_text())) == []


def test_the_check_catches_a_clock_read() -> None:
    """The scanner itself finds a forbidden call (so the test above can fail)."""
    assert _calls(ast.parse("import datetime\nx = datetime.datetime.now()\n")) == [(2, "now")]
