"""Subcommands from other distributions: the ``meshrollout.cli`` entry-point group.

The product's CLI offers what is registered there (the lab's ``demo`` and ``lab``)
and loads it only when asked, so importing the CLI never imports a plugin.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint

import click
import pytest
from click.testing import CliRunner

import rollout.cli

HERE = __name__


@click.command()
def hello() -> None:
    """Say hello (a plugin command)."""
    click.echo("hello from a plugin")


@click.command()
def imposter() -> None:
    """Would shadow one of ours."""
    click.echo("imposter")


NOT_A_COMMAND = "just a string"


def _registered(monkeypatch: pytest.MonkeyPatch, **targets: str) -> None:
    points = [EntryPoint(n, f"{HERE}:{t}", rollout.cli.PLUGIN_GROUP) for n, t in targets.items()]

    def entry_points(group: str) -> list[EntryPoint]:
        return points if group == rollout.cli.PLUGIN_GROUP else []

    monkeypatch.setattr(rollout.cli, "entry_points", entry_points)


def test_a_registered_command_is_listed_and_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command in the group shows in `rollout --help` and runs as `rollout NAME`."""
    _registered(monkeypatch, hello="hello")
    runner = CliRunner()
    listing = runner.invoke(rollout.cli.main, ["--help"])
    assert "hello" in listing.output.split("Commands:")[1]
    ran = runner.invoke(rollout.cli.main, ["hello"])
    assert ran.exit_code == 0
    assert ran.output == "hello from a plugin\n"


def test_without_plugins_the_lab_commands_are_not_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing registered: `rollout demo` is an unknown command (exit 2)."""
    _registered(monkeypatch)
    result = CliRunner().invoke(rollout.cli.main, ["demo"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_our_own_command_wins_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin named like one of ours does not replace it."""
    _registered(monkeypatch, start="imposter")
    result = CliRunner().invoke(rollout.cli.main, ["start", "--help"])
    assert result.exit_code == 0
    assert "Start rolling out VERSION" in result.output


def test_an_entry_point_that_is_not_a_command_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken registration is an error that names it, not a crash."""
    _registered(monkeypatch, broken="NOT_A_COMMAND")
    result = CliRunner().invoke(rollout.cli.main, ["broken"])
    assert result.exit_code == 1
    assert "is not a command" in result.output


def test_importing_the_cli_imports_no_plugin() -> None:
    """`import rollout.cli` (and listing nothing) leaves the lab unimported: no cycle."""
    probe = (
        "import sys, rollout.cli; print(sorted(m for m in sys.modules if m.startswith('meshlab')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
