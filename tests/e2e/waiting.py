"""Waiting on the local mesh, for the lab's end-to-end tests: one ``wait`` whose timeout
says what it waited for and, given the lab, where the rollout was and what the
controller last said (a CI log is all there is to diagnose a slow or stuck run from)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meshlab.stack import LocalStack


def log_tail(log: Path, lines: int = 12) -> str:
    """The last ``lines`` lines of a process's log, under a header naming it."""
    tail = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
    return f"--- {log.name}, last {len(tail)} lines:\n" + "\n".join(tail)


def where(lab: LocalStack, lines: int = 12) -> str:
    """The rollout's phase, weight, step clock and last verdict, and the tail of the
    controller's log."""
    try:
        status: dict[str, Any] = lab.status()
    except Exception as error:
        status = {"unreadable": type(error).__name__}
    seen = {k: status.get(k) for k in ("phase", "canaryWeight", "stepStartedAt")}
    verdict = status.get("lastVerdict") or {}
    return (
        f"{seen}, last verdict at {verdict.get('at')}: {verdict.get('outcome')} "
        f"({verdict.get('reason')})\n{log_tail(lab.workdir / 'controller.log', lines)}"
    )


def wait(
    condition: Callable[[], Any],
    timeout: float = 90,
    what: str = "condition",
    lab: LocalStack | None = None,
    every: float = 0.1,
) -> None:
    """Poll ``condition`` every ``every`` seconds until it holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out waiting for {what}" + (f": {where(lab)}" if lab is not None else "")
            )
        time.sleep(every)


__all__ = ["log_tail", "wait", "where"]
