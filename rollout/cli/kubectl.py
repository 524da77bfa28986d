"""How every ``rollout`` subcommand reaches the cluster: kubectl's connection flags,
the namespace (checked as a Kubernetes name whatever its source), and ``fail``, the
one way a command refuses (one line on stderr, an exit code, no traceback).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click
from rich.console import Console

from rollout.cli.args import NAMESPACE, check_namespace
from rollout.kube import KubeClient, KubeError, NotFound, RolloutClient

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    # one line, any width, and no rich markup read into text that came from input
    err.print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(code)


class Ctx:
    """Connection settings shared by every subcommand (kubectl's habits)."""

    def __init__(self, namespace: str | None, context: str | None, kubeconfig: str | None):
        self.context, self.kubeconfig = context, kubeconfig
        self._namespace = namespace
        self._kube: KubeClient | None = None

    @property
    def kube(self) -> KubeClient:
        if self._kube is None:
            try:
                self._kube = KubeClient.connect(self.kubeconfig, self.context, identity="cli")
            except KubeError as error:
                fail(str(error))
            except Exception as error:  # noqa: BLE001 a malformed kubeconfig; its text may hold a token
                where = self.kubeconfig or "the default kubeconfig"
                fail(f"cannot load Kubernetes configuration from {where} ({type(error).__name__})")
        return self._kube

    @property
    def namespace(self) -> str:
        """The namespace to act in (the flag's, else the context's), checked before any use."""
        found = self._namespace or self._context_namespace()
        problem = check_namespace(found)
        if problem:
            fail(f"namespace: {problem}")
        return found

    def _context_namespace(self) -> str:
        from kubernetes import config as k8s_config

        try:
            _, active = k8s_config.list_kube_config_contexts(config_file=self.kubeconfig)
            if self.context:
                contexts, _ = k8s_config.list_kube_config_contexts(config_file=self.kubeconfig)
                active = next(c for c in contexts if c["name"] == self.context)
            found = (active.get("context") or {}).get("namespace") or "default"
            return str(found)
        except Exception:  # noqa: BLE001 no kubeconfig namespace: kubectl's default
            return "default"

    def rollouts(self) -> RolloutClient:
        return RolloutClient(self.kube)

    def get(self, name: str) -> dict[str, Any]:
        try:
            return self.rollouts().get(self.namespace, name)
        except NotFound:
            fail(f"no rollout {name!r} in namespace {self.namespace}")
        except KubeError as error:
            fail(str(error), 1)


def connection(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add kubectl's -n/--context/--kubeconfig to a subcommand (they may also come before it)."""

    @functools.wraps(f)
    def wrapper(
        *args: Any,
        namespace: str | None = None,
        context: str | None = None,
        kubeconfig: str | None = None,
        **kwargs: Any,
    ) -> Any:
        parent = click.get_current_context().find_object(Ctx) or Ctx(None, None, None)
        ctx = Ctx(
            namespace or parent._namespace,
            context or parent.context,
            kubeconfig or parent.kubeconfig,
        )
        return f(ctx, *args, **kwargs)

    for option in (
        click.option("--kubeconfig", envvar="KUBECONFIG", help="Path to the kubeconfig file."),
        click.option("--context", help="The kubeconfig context to use."),
        click.option(
            "-n", "--namespace", type=NAMESPACE, help="Namespace (default: the context's)."
        ),
    ):
        wrapper = option(wrapper)
    return wrapper
