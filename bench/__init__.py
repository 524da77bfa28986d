"""Benchmarks: ``python -m bench reaction [--runs N] [--json PATH]``."""
