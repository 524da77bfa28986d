"""The scale benchmark: ``python -m bench scale [--rollouts N] [--json PATH]`` (issue #16)."""
