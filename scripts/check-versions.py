#!/usr/bin/env python3
"""Release versions agree: one version for the package, the chart, the image and the tag.

A release is one version everywhere: the ``meshrollout`` distribution
(``pyproject.toml``), the chart's ``version`` and ``appVersion``, the image tag the
chart deploys by default (``values.yaml`` ``image.tag``, empty meaning the
``appVersion``), the ``VERSION`` build argument's default in the ``Dockerfile`` (the
image installs exactly that version of the wheel), and, with ``--tag``, the git tag
``v<version>`` that the release workflow runs on. The image is pushed with the tag's
version, so the chart released beside it pulls exactly that image.

The chart's fields and the git tag are SemVer strings used as they are (Helm and the
registry compare them as strings: ``0.2.0-rc.1``); the Python side is PEP 440 and is
compared after normalising (``0.2.0rc1`` is the same release). ``make test`` runs this
through ``tests/unit/test_versions.py``, so the repository never holds mismatched
versions; ``.github/workflows/release.yml`` runs it with ``--tag`` before anything is built.

Usage: ``scripts/check-versions.py [--root DIR] [--tag vX.Y.Z]``; exit 0 when they
agree, 1 with every source and its value when they do not.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

CHART = Path("charts/rollout")
# SemVer 2.0.0, the grammar Helm requires of a chart's version (semver.org's regex).
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
DOCKER_ARG = re.compile(r"^ARG\s+VERSION=(\S+)\s*$", re.M)


@dataclass(frozen=True)
class Source:
    """Where a version is written, what it says, and how it is compared."""

    where: str
    value: str
    semver: bool  # compared as a string (chart, image tag, git tag), else PEP 440


def read_sources(root: Path, tag: str | None = None) -> tuple[list[Source], list[str]]:
    """Every place the release version is written under ``root``, and what could not be read."""
    sources: list[Source] = []
    problems: list[str] = []

    pyproject = root / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text()).get("project", {})
    if "version" in project:
        sources.append(Source("pyproject.toml [project] version", str(project["version"]), False))
    else:
        problems.append("pyproject.toml has no [project] version (a dynamic one is not checked)")

    chart = yaml.safe_load((root / CHART / "Chart.yaml").read_text()) or {}
    for key in ("version", "appVersion"):
        if key in chart:
            sources.append(Source(f"{CHART}/Chart.yaml {key}", str(chart[key]), True))
        else:
            problems.append(f"{CHART}/Chart.yaml has no {key}")

    values = yaml.safe_load((root / CHART / "values.yaml").read_text()) or {}
    image_tag = str((values.get("image") or {}).get("tag") or "")
    if image_tag:
        sources.append(Source(f"{CHART}/values.yaml image.tag", image_tag, True))
    elif "appVersion" in chart:
        # Empty: the Deployment's template falls back to the appVersion.
        where = f"{CHART}/values.yaml image.tag (empty: the appVersion)"
        sources.append(Source(where, str(chart["appVersion"]), True))

    dockerfile = root / "Dockerfile"
    found = DOCKER_ARG.search(dockerfile.read_text()) if dockerfile.exists() else None
    if found:
        sources.append(Source("Dockerfile ARG VERSION", found.group(1), False))

    if tag is not None:
        if tag.startswith("v"):
            sources.append(Source(f"git tag {tag}", tag[1:], True))
        else:
            problems.append(f"git tag {tag!r}: release tags are v<version>, e.g. v0.1.0")
    return sources, problems


def _pep440(value: str) -> Version | None:
    try:
        return Version(value)
    except InvalidVersion:
        return None


def disagreements(sources: list[Source]) -> list[str]:
    """What is wrong with these sources taken together (nothing when they agree)."""
    problems = [
        f"{s.where}: {s.value!r} is not a SemVer version (like 0.1.0 or 0.2.0-rc.1)"
        for s in sources
        if s.semver and not SEMVER.match(s.value)
    ]
    problems += [
        f"{s.where}: {s.value!r} is not a PEP 440 version"
        for s in sources
        if not s.semver and _pep440(s.value) is None
    ]
    if problems:
        return problems
    # The chart and tag side must be the very same string: it names the image's tag.
    release, _ = Counter(_pep440(s.value) for s in sources).most_common(1)[0]
    semvers = Counter(s.value for s in sources if s.semver and _pep440(s.value) == release)
    spelling = semvers.most_common(1)[0][0] if semvers else None
    differs = [
        s for s in sources if _pep440(s.value) != release or (s.semver and s.value != spelling)
    ]
    if not differs:
        return []
    width = max(len(s.where) for s in sources)
    lines = ["versions disagree; every one of these must be the same release:"]
    for s in sources:
        mark = "   <- differs" if s in differs else ""
        lines.append(f"  {s.where.ljust(width)}  {s.value}{mark}")
    lines.append("bump them together (and tag that commit v<version>)")
    return ["\n".join(lines)]


def main(argv: list[str] | None = None) -> int:
    """Check the versions under --root (default: this repository); 0 when they agree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--tag", help="the git tag being released, e.g. v0.1.0")
    args = parser.parse_args(argv)
    sources, problems = read_sources(args.root, args.tag)
    problems += disagreements(sources)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    where = ", ".join(s.where for s in sources)
    print(f"versions agree: {sources[0].value if sources else '?'} ({where})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
