"""ARCHITECTURE.md names every module of the product, and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "ARCHITECTURE.md"


def _modules() -> set[str]:
    found = {
        str(p.relative_to(ROOT))
        for package in ("rollout", "strategies")
        for p in (ROOT / package).rglob("*.py")
    }
    return found


def test_every_module_of_the_product_is_in_the_architecture_document() -> None:
    """A new module fails this until ARCHITECTURE.md says what it is for, in one line."""
    text = DOC.read_text()
    missing = sorted(m for m in _modules() if f"`{m}`" not in text)
    assert missing == [], f"add these to ARCHITECTURE.md: {missing}"


def test_the_architecture_document_names_no_module_that_is_gone() -> None:
    """A renamed or removed module fails this until the document follows."""
    named = set(re.findall(r"`((?:rollout|strategies)/[\w/]+\.py)`", DOC.read_text()))
    gone = sorted(m for m in named if not (ROOT / m).exists())
    assert gone == [], f"ARCHITECTURE.md names modules that do not exist: {gone}"
