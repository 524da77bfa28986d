"""Judging a step on Prometheus data.

``observations`` (what is measured, pure), ``queries`` (batched PromQL and the
parsing of answers, pure), ``judge`` (observation → verdict, pure) and
``prometheus`` (the adapter that sends the queries through
``prometheus-api-client``).
"""
