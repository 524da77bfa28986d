"""The long-running service: the reconciler (one Rollout, crash-safe write order), the
service that schedules evaluations and follows watches, its ports and their fakes,
settings and telemetry. ``rollout controller`` runs it.
"""
