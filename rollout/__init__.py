"""meshrollout: progressive canary rollouts for Istio, judged on Prometheus data.

The package is layered (import-linter enforces it, see pyproject.toml):
``model`` (the resource) < ``strategies`` (plans) < ``actions`` (effects as
data) < ``mesh`` (pure Istio document transforms) < ``engine`` (the pure
state machine). Adapters and the service sit above the core.
"""
