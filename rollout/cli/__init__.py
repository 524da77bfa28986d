"""The ``rollout`` command. It only reads and writes Rollout resources (and, for
``start``, reads the mesh to check the input); the controller does the work.

Exit codes: 0 done, 1 the rollout failed or rolled back (with ``--wait``),
2 bad input (nothing written). Other distributions add subcommands through the
``meshrollout.cli`` entry-point group (the lab adds ``demo`` and ``lab``).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import click
import yaml
from rich.live import Live

from rollout.cli.args import (
    HOST,
    NAMESPACE,
    ROLLOUT_NAME,
    SUBSET,
    interval_option,
    max_inconclusive_option,
    min_requests_option,
    step_duration_option,
    steps_option,
)
from rollout.cli.discover import BadInput, merged, restart_patch, with_flags
from rollout.cli.kubectl import Ctx, connection, err, fail, out
from rollout.cli.plan import plan
from rollout.cli.view import history_table, rollouts_table, status_panel
from rollout.kube import KubeError, NotFound
from rollout.kube.rollouts import command_patch
from rollout.mesh import MeshError
from rollout.model import TERMINAL_PHASES, SpecError, parse_spec

PLUGIN_GROUP = "meshrollout.cli"
"""Entry-point group where other distributions add subcommands: the lab
registers ``demo`` and ``lab`` there. The product names no plugin, so it never imports
one, and a controller installed alone does not offer them."""


def plugin_entry_points() -> dict[str, EntryPoint]:
    """The installed plugins' commands by name (the first distribution wins a name)."""
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=PLUGIN_GROUP):
        found.setdefault(entry.name, entry)
    return found


class PluginGroup(click.Group):
    """Our own commands and the plugins' (ours win a name). A plugin is loaded only when
    click lists or resolves it, never on import: it may import the CLI's modules."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        own = super().list_commands(ctx)
        return sorted(set(own) | set(plugin_entry_points()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry = plugin_entry_points().get(cmd_name)
        if entry is None:
            return None
        loaded = entry.load()
        if not isinstance(loaded, click.Command):
            raise click.ClickException(f"plugin {cmd_name!r} ({entry.value}) is not a command")
        return loaded


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-n", "--namespace", type=NAMESPACE, help="Namespace (default: the kubeconfig context's)."
)
@click.option("--context", help="The kubeconfig context to use.")
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Path to the kubeconfig file.")
@click.pass_context
def main(
    ctx: click.Context, namespace: str | None, context: str | None, kubeconfig: str | None
) -> None:
    """Progressive canary rollouts for Istio."""
    ctx.obj = Ctx(namespace, context, kubeconfig)


@main.command()
@click.argument("name", type=ROLLOUT_NAME)
@click.argument("version", type=SUBSET)
@click.option("--service", type=HOST, help="The host to roll out (default: found from NAME).")
@click.option("--stable", type=SUBSET, help="The stable subset (default: the one at 100% now).")
@click.option(
    "--canary-service",
    type=SUBSET,
    help="On an HTTPRoute: the canary's backend Service (default: NAME-VERSION).",
)
@click.option(
    "--steps", metavar="W,W,..", callback=steps_option, help="Canary weights (default 5,25,50,100)."
)
@click.option(
    "--step-duration",
    metavar="DURATION",
    callback=step_duration_option,
    help="Minimum time at each step (1m; at most 24h).",
)
@click.option(
    "--interval",
    metavar="DURATION",
    callback=interval_option,
    help="Time between evaluations (15s; 1s..1h).",
)
@click.option(
    "--min-requests", metavar="N", callback=min_requests_option, help="Requests a step needs (100)."
)
@click.option(
    "--max-inconclusive",
    metavar="N",
    callback=max_inconclusive_option,
    help="Evaluations without a verdict tolerated (5).",
)
@click.option("--wait", is_flag=True, help="Follow it; exit 0 on success, 1 on rollback.")
@connection
def start(
    ctx: Ctx,
    name: str,
    version: str,
    service: str | None,
    stable: str | None,
    canary_service: str | None,
    steps: list[int] | None,
    step_duration: str | None,
    interval: str | None,
    min_requests: int | None,
    max_inconclusive: int | None,
    wait: bool,
) -> None:
    """Start rolling out VERSION (a DestinationRule subset) of NAME.

    On a rollout that ran before, the flags given here set the plan and the
    analysis settings they name, and those not given go back to their defaults (a
    note says which changed); everything else in the spec is kept.
    """
    flags = {
        "--steps": steps,
        "--step-duration": step_duration,
        "--interval": interval,
        "--min-requests": min_requests,
        "--max-inconclusive": max_inconclusive,
    }
    ns = ctx.namespace
    rollouts = ctx.rollouts()
    try:
        found_spec, said, check = plan(ctx, name, version, service, stable, canary_service)
        patch: dict[str, Any] = {}
        try:
            existing: dict[str, Any] | None = rollouts.get(ns, name)
        except NotFound:
            existing = None
        if existing is None:
            spec, notes = with_flags(found_spec, flags), list[str]()
        else:
            _may_restart(name, existing)
            patch, notes = restart_patch(existing.get("spec") or {}, found_spec, flags)
            patch["paused"] = False
            patch["command"] = {"name": "restart", "id": uuid.uuid4().hex[:12]}
            spec = merged(existing.get("spec") or {}, patch)
        # What the resource will hold is what must be valid, kept fields included.
        check(parse_spec(spec))
    except (BadInput, SpecError, MeshError) as error:
        fail(str(error))
    except NotFound as error:
        fail(str(error))
    except KubeError as error:
        fail(str(error), 1)
    # Said before anything is written: every route to the service will move.
    err.print(said, highlight=False, markup=False, soft_wrap=True)
    for note in notes:
        err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    try:
        if existing is None:
            written = rollouts.create(ns, name, spec)
        else:
            version_read = existing["metadata"]["resourceVersion"]
            written = rollouts.patch_spec(ns, name, patch, version_read)
    except KubeError as error:
        fail(str(error), 1)
    out.print(
        f"rollout {name}: {found_spec['stableSubset']} → {version} started in {ns}",
        highlight=False,
        markup=False,
    )
    if wait:
        sys.exit(_follow(ctx, name, live=False, generation=written["metadata"].get("generation")))


def _may_restart(name: str, existing: dict[str, Any]) -> None:
    """A rollout may start again once it ended, failed or never began; not mid-run."""
    status = existing.get("status") or {}
    phase = status.get("phase")
    if phase == "Undoing":
        fail(f"rollout {name} is undoing its last release: wait until it is Undone")
    if phase not in TERMINAL_PHASES and phase not in (None, "Failed", "Pending"):
        canary = (existing.get("spec") or {}).get("canarySubset")
        fail(
            f"rollout {name} is {phase} ({canary} at {status.get('canaryWeight', 0)}%): "
            "abort it first"
        )


def _follow(ctx: Ctx, name: str, live: bool, generation: int | None = None) -> int:
    """Show the rollout until it ends; the exit code its end deserves.

    With ``generation``, a status the controller wrote before it saw that spec
    (the previous run's ending) does not count.
    """
    last = ""
    started = time.monotonic()

    def current() -> dict[str, Any]:
        return ctx.get(name)

    def finished(obj: dict[str, Any]) -> bool:
        status = obj.get("status") or {}
        if generation is not None and (status.get("observedGeneration") or 0) < generation:
            return False
        if status.get("phase") in TERMINAL_PHASES:
            return True
        return status.get("phase") == "Failed" and time.monotonic() - started > 2

    obj = current()
    if live and out.is_terminal:
        with Live(status_panel(obj), console=out, refresh_per_second=4) as view:
            while not finished(obj):
                time.sleep(1)
                obj = current()
                view.update(status_panel(obj))
    else:
        while True:
            status = obj.get("status") or {}
            phase = status.get("phase") or "Pending"
            line = f"{phase} {status.get('canaryWeight', 0)}% {status.get('message', '')}"
            caught_up = generation is None or (status.get("observedGeneration") or 0) >= generation
            if line != last and caught_up:
                out.print(line, highlight=False, markup=False)
                last = line
            if finished(obj):
                break
            time.sleep(1)
            obj = current()
    phase = (obj.get("status") or {}).get("phase")
    return 0 if phase == "Succeeded" else 1


@main.command()
@click.argument("name", type=ROLLOUT_NAME)
@click.option("-w", "--watch", is_flag=True, help="Keep showing it until it ends.")
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]), help="Print the resource.")
@connection
def status(ctx: Ctx, name: str, watch: bool, output: str | None) -> None:
    """Show a rollout: steps, weight, each metric against its threshold, the last decision."""
    obj = ctx.get(name)
    if output == "json":
        out.print_json(json.dumps(obj))
    elif output == "yaml":
        click.echo(yaml.safe_dump(obj, sort_keys=False))
    elif watch:
        _follow(ctx, name, live=True)
        out.print(status_panel(ctx.get(name)))
    else:
        out.print(status_panel(obj))


@main.command(name="list")
@click.option("-A", "--all-namespaces", is_flag=True)
@connection
def list_(ctx: Ctx, all_namespaces: bool) -> None:
    """List rollouts."""
    try:
        items, _ = ctx.rollouts().list(None if all_namespaces else ctx.namespace)
    except KubeError as error:
        fail(str(error), 1)
    out.print(rollouts_table(items))


@main.command()
@click.argument("name", type=ROLLOUT_NAME)
@connection
def history(ctx: Ctx, name: str) -> None:
    """The decisions of a rollout, oldest first."""
    out.print(history_table(ctx.get(name)))


def _patch(ctx: Ctx, name: str, patch: dict[str, Any], said: str) -> None:
    ctx.get(name)  # unknown rollout: exit 2 before writing anything
    try:
        ctx.rollouts().patch_spec(ctx.namespace, name, patch)
    except KubeError as error:
        fail(str(error), 1)
    out.print(f"rollout {name}: {said}", highlight=False, markup=False)


@main.command()
@click.argument("name", type=ROLLOUT_NAME)
@connection
def pause(ctx: Ctx, name: str) -> None:
    """Pause: no weight changes until resumed (a regression still rolls back)."""
    _patch(ctx, name, command_patch("pause"), "pause requested")


@main.command()
@click.argument("name", type=ROLLOUT_NAME)
@connection
def resume(ctx: Ctx, name: str) -> None:
    """Resume a paused rollout (whoever paused it)."""
    _patch(ctx, name, command_patch("resume"), "resume requested")


@main.command()
@click.argument("name", type=ROLLOUT_NAME)
@click.option("--full", is_flag=True, help="Go straight to 100%.")
@connection
def promote(ctx: Ctx, name: str, full: bool) -> None:
    """Skip the rest of the current step's analysis (or all of it with --full)."""
    _patch(ctx, name, command_patch("promoteFull" if full else "promote"), "promotion requested")


@main.command()
@click.argument("name", type=ROLLOUT_NAME)
@connection
def abort(ctx: Ctx, name: str) -> None:
    """Roll back now: 100% to stable."""
    _patch(ctx, name, command_patch("abort"), "abort requested")


from rollout.cli.controller import controller  # noqa: E402
from rollout.cli.dashboard import dashboard  # noqa: E402
from rollout.cli.undo import undo  # noqa: E402

main.add_command(controller)
main.add_command(dashboard)
main.add_command(undo)
