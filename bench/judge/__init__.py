"""The judge benchmark (issues #5, #15): ``python -m bench judge``.

``scenarios`` (ground truth) → ``traffic`` (requests, scrapes, Prometheus's
``increase``) → ``ours`` and ``rivals`` (the judges) → ``simulate`` (one
rollout per judge per run) → ``report`` (figures, table, JSON).
"""
