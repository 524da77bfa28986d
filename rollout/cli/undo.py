"""``rollout undo NAME [--to VERSION] [--timeout DURATION]``: a succeeded release's traffic
back to the version it replaced, said in the release's thread as "undone by <who> via CLI".

Like every command it only writes the Rollout (an ``undo`` command with an id, the
version and who asked); the controller carries it out (``rollout.engine.after``). The
command then waits for the controller's answer: switched at once (the previous
version still ran), refused (the message says why), or scaling the previous version
back first, shown as a progress bar of its ready pods until it is switched or
``--timeout`` runs out (the controller carries on either way).
"""

from __future__ import annotations

import getpass
import sys
import time
from typing import Any

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from rollout.cli.args import ROLLOUT_NAME, SUBSET, model_field
from rollout.cli.kubectl import Ctx, connection, fail, out
from rollout.kube import KubeError, NotFound
from rollout.kube.resources import DEPLOYMENTS
from rollout.kube.rollouts import undo_patch
from rollout.model import parse_duration, parse_status
from rollout.model.spec import ScaleDown

ANSWER_S = 30.0
"""How long to wait for the controller to take the command at all."""


def who(ctx: Ctx) -> str:
    """The kubeconfig user of the context in use, else the login name: who asked."""
    from kubernetes import config as k8s_config

    try:
        contexts, active = k8s_config.list_kube_config_contexts(config_file=ctx.kubeconfig)
        if ctx.context:
            active = next(c for c in contexts if c["name"] == ctx.context)
        user = (active.get("context") or {}).get("user")
        if user:
            return str(user)
    except Exception:  # noqa: BLE001 no readable kubeconfig user: the login name will do
        pass
    return getpass.getuser()


@click.command()
@click.argument("name", type=ROLLOUT_NAME)
@click.option("--to", "to", type=SUBSET, help="Go back to this subset (default: the previous).")
@click.option(
    "--timeout",
    default="5m",
    show_default=True,
    callback=model_field(ScaleDown, "after"),
    help="How long to wait for the previous version to be ready again.",
)
@connection
def undo(ctx: Ctx, name: str, to: str | None, timeout: str) -> None:
    """Send a succeeded release's traffic back to the previous version (or --to VERSION),
    without analysis; scale it back up first if it was scaled down."""
    if timeout == "never":
        fail("--timeout: a duration like 30s or 5m")
    obj = ctx.get(name)
    phase = (obj.get("status") or {}).get("phase")
    if phase != "Succeeded":
        fail(f"rollout {name} is {phase or 'Pending'}: undo goes back from a succeeded release")
    patch = undo_patch(f"{who(ctx)} via CLI", to)
    command = patch["command"]
    try:
        ctx.rollouts().patch_spec(ctx.namespace, name, patch)
    except KubeError as error:
        fail(str(error), 1)
    out.print(f"rollout {name}: undo requested", highlight=False, markup=False)
    sys.exit(_wait(ctx, name, command["id"], parse_duration(timeout).total_seconds()))


def _wait(ctx: Ctx, name: str, command_id: str, timeout_s: float) -> int:
    """Follow the controller's answer; 0 once undone, 1 refused or timed out."""
    started = time.monotonic()
    status = parse_status(ctx.get(name).get("status"))
    while status.handled_command_id != command_id:
        if time.monotonic() - started > ANSWER_S:
            fail(f"the controller has not taken the undo in {ANSWER_S:.0f}s; is it running?", 1)
        time.sleep(0.5)
        status = parse_status(ctx.get(name).get("status"))
    if status.phase == "Undoing" and status.undo is not None:
        status = _progress(ctx, name, timeout_s - (time.monotonic() - started))
    if status.phase == "Undone":
        out.print(f"rollout {name}: {status.message}", highlight=False, markup=False)
        return 0
    if status.phase == "Undoing":
        out.print(
            f"rollout {name}: still undoing after {timeout_s:.0f}s ({status.message}); "
            f"the controller carries on: rollout status {name}",
            highlight=False,
            markup=False,
        )
        return 1
    out.print(f"rollout {name}: {status.message}", highlight=False, markup=False)
    return 1


def _progress(ctx: Ctx, name: str, timeout_s: float) -> Any:
    """A bar of the previous version's ready pods while the controller waits for them."""
    status = parse_status(ctx.get(name).get("status"))
    assert status.undo is not None
    undo = status.undo
    total = sum(r.replicas for r in undo.restore)
    deadline = time.monotonic() + max(timeout_s, 0.0)
    columns = (
        TextColumn(f"scaling {undo.to} back"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} pods ready"),
        TimeElapsedColumn(),
    )
    names = [r.name for r in undo.restore]
    if not out.is_terminal:  # a log or a pipe: one line per change, no redrawn bar
        said = -1
        while status.phase == "Undoing" and time.monotonic() < deadline:
            ready = min(total, _ready_pods(ctx, names))
            if ready != said:
                out.print(f"scaling {undo.to} back: {ready}/{total} pods ready", highlight=False)
                said = ready
            time.sleep(0.5)
            status = parse_status(ctx.get(name).get("status"))
        return status
    with Progress(*columns, console=out) as bar:
        task = bar.add_task("undo", total=total)
        while status.phase == "Undoing" and time.monotonic() < deadline:
            bar.update(task, completed=min(total, _ready_pods(ctx, names)))
            time.sleep(0.5)
            status = parse_status(ctx.get(name).get("status"))
        if status.phase == "Undone":
            bar.update(task, completed=total)
    return status


def _ready_pods(ctx: Ctx, deployments: list[str]) -> int:
    ready = 0
    for deployment in deployments:
        try:
            found = ctx.kube.get(DEPLOYMENTS, ctx.namespace, deployment)
        except (NotFound, KubeError):
            continue  # the bar is a courtesy: the controller decides when it is ready
        ready += int((found.get("status") or {}).get("readyReplicas", 0))
    return ready


__all__ = ["undo", "who"]
