"""meshrollout: progressive canary rollouts for Istio, judged on Prometheus data.

The package is layered (import-linter enforces it, see pyproject.toml and
ARCHITECTURE.md): the CLI over the controller over the adapters (``kube``,
``notify``, ``analysis.prometheus``) over the pure decision core (``engine``,
the judges in ``analysis``, ``mesh``, ``actions``, ``strategies``, ``model``).
"""
