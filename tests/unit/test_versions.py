"""One version everywhere: ``scripts/check-versions.py`` on this repository, and on
copies of its version files with one of them changed, where it must fail and say which.

This is how ``make test`` keeps the package, the chart, its default image tag and the
Dockerfile on one release; the release workflow runs the same script with the git tag.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check-versions.py"
FILES = (
    "pyproject.toml",
    "charts/rollout/Chart.yaml",
    "charts/rollout/values.yaml",
    "Dockerfile",
)


def check(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the script as the workflow does; its exit code and what it said."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def version_of(root: Path) -> str:
    """The chart's appVersion in ``root``: the release the repository is at."""
    text = (root / "charts/rollout/Chart.yaml").read_text()
    found = re.search(r'^appVersion:\s*"?([^"\s]+)"?', text, re.M)
    assert found is not None
    return found.group(1)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository's version files, to change one at a time."""
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def edit(path: Path, pattern: str, replacement: str) -> None:
    """Replace the one line matching ``pattern``; fail if there is not exactly one."""
    text, count = re.subn(pattern, replacement, path.read_text(), count=0, flags=re.M)
    assert count == 1, f"{pattern!r} matched {count} lines in {path}"
    path.write_text(text)


def test_the_repository_holds_one_version() -> None:
    """pyproject, Chart.yaml's version and appVersion, the default image tag and the
    Dockerfile's VERSION agree today, and with the tag a release of it would carry."""
    version = version_of(ROOT)
    result = check(ROOT, "--tag", f"v{version}")
    assert result.returncode == 0, result.stderr
    assert f"versions agree: {version}" in result.stdout


@pytest.mark.parametrize(
    ("name", "pattern", "replacement", "where"),
    [
        ("pyproject.toml", r"^version = .*$", 'version = "9.9.9"', "pyproject.toml"),
        (
            "charts/rollout/Chart.yaml",
            r"^appVersion:.*$",
            'appVersion: "9.9.9"',
            "Chart.yaml appVersion",
        ),
        ("charts/rollout/Chart.yaml", r"^version:.*$", "version: 9.9.9", "Chart.yaml version"),
        (
            "charts/rollout/values.yaml",
            r"^  tag:.*$",
            '  tag: "9.9.9"',
            "values.yaml image.tag",
        ),
        ("Dockerfile", r"^ARG VERSION=.*$", "ARG VERSION=9.9.9", "Dockerfile ARG VERSION"),
    ],
)
def test_one_file_out_of_step_fails_naming_it(
    repo: Path, name: str, pattern: str, replacement: str, where: str
) -> None:
    """Each source alone bumped to 9.9.9: exit 1, and the lines that differ name it (a
    bumped appVersion also moves the default image tag, which follows it)."""
    edit(repo / name, pattern, replacement)
    result = check(repo)
    assert result.returncode == 1
    assert "versions disagree" in result.stderr
    differing = [line for line in result.stderr.splitlines() if "<- differs" in line]
    assert any(where in line for line in differing), result.stderr
    assert all("9.9.9" in line for line in differing), result.stderr
    assert len(differing) == (2 if where.endswith("appVersion") else 1), result.stderr


def test_a_tag_of_another_version_fails(repo: Path) -> None:
    """Releasing v9.9.9 from a tree at another version would push an image the chart
    does not deploy: refused, naming the tag."""
    result = check(repo, "--tag", "v9.9.9")
    assert result.returncode == 1
    assert "git tag v9.9.9" in result.stderr
    assert "<- differs" in result.stderr


def test_a_tag_without_the_v_is_refused(repo: Path) -> None:
    """Release tags are v<version>: the workflow triggers on v*, the image drops the v."""
    result = check(repo, "--tag", version_of(repo))
    assert result.returncode == 1
    assert "release tags are v<version>" in result.stderr


def test_a_release_candidate_is_one_version_in_both_spellings(repo: Path) -> None:
    """PEP 440 0.2.0rc1 in pyproject and the Dockerfile is SemVer 0.2.0-rc.1 in the chart
    and the tag: the same release, accepted."""
    edit(repo / "pyproject.toml", r"^version = .*$", 'version = "0.2.0rc1"')
    edit(repo / "Dockerfile", r"^ARG VERSION=.*$", "ARG VERSION=0.2.0rc1")
    edit(repo / "charts/rollout/Chart.yaml", r"^version:.*$", "version: 0.2.0-rc.1")
    edit(repo / "charts/rollout/Chart.yaml", r"^appVersion:.*$", 'appVersion: "0.2.0-rc.1"')
    result = check(repo, "--tag", "v0.2.0-rc.1")
    assert result.returncode == 0, result.stderr


def test_the_chart_and_tag_must_be_the_same_string(repo: Path) -> None:
    """The chart's version 0.2.0-rc.1 and appVersion 0.2.0-rc1 are one PEP 440 release but
    two image tags: refused."""
    edit(repo / "pyproject.toml", r"^version = .*$", 'version = "0.2.0rc1"')
    edit(repo / "Dockerfile", r"^ARG VERSION=.*$", "ARG VERSION=0.2.0rc1")
    edit(repo / "charts/rollout/Chart.yaml", r"^version:.*$", "version: 0.2.0-rc.1")
    edit(repo / "charts/rollout/Chart.yaml", r"^appVersion:.*$", 'appVersion: "0.2.0-rc1"')
    result = check(repo, "--tag", "v0.2.0-rc.1")
    assert result.returncode == 1
    assert "appVersion" in next(x for x in result.stderr.splitlines() if "<- differs" in x)


def test_a_chart_version_that_is_not_semver_is_refused(repo: Path) -> None:
    """Helm requires SemVer: a PEP 440 spelling in Chart.yaml is named, not compared."""
    edit(repo / "charts/rollout/Chart.yaml", r"^version:.*$", "version: 0.1.0rc1")
    result = check(repo)
    assert result.returncode == 1
    assert "Chart.yaml version: '0.1.0rc1' is not a SemVer version" in result.stderr


def test_the_default_image_tag_may_equal_the_app_version(repo: Path) -> None:
    """An explicit image.tag equal to the appVersion is the same image: accepted."""
    edit(repo / "charts/rollout/values.yaml", r"^  tag:.*$", f'  tag: "{version_of(repo)}"')
    assert check(repo).returncode == 0
