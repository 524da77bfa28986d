"""The local lab: a Kubernetes API emulator today; Envoy, backends and Prometheus to come.

Test and demo infrastructure. Nothing in the controller imports it.
"""
