"""The local lab (distribution ``meshlab``): a mesh of real parts on loopback.

The Kubernetes API emulator (``kubeapi``), backends with settable faults
(``backend``), a real Envoy configured from the Istio documents (``envoyconf``),
a real Prometheus (``prometheus``) and Istio-shaped series (``istio_metrics``),
client traffic (``traffic``), the seed documents (``seed``), the whole stack
started and stopped as one (``stack``), and ``rollout demo`` / ``rollout lab``
(``demo``, ``cli``, ``run``), which the product's CLI loads by entry point.
Test and demo infrastructure: it imports the product, the product never imports it.
"""
