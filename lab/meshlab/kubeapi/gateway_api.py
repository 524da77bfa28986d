"""The Gateway API's HTTPRoute (gateway.networking.k8s.io v1, v1beta1) for the emulator.

The structural schema is the part of the upstream CRD (Gateway API v1.2, standard
channel) that the controller and the lab read, with the upstream's types, bounds and
defaults: a backendRef's ``weight`` defaults to 1 (0..1000000), a rule without
matches gets ``path: {type: PathPrefix, value: /}``, at most 16 rules, 16 backendRefs,
32 parentRefs. Filter and match bodies keep every field (preserve-unknown), so a
route written for a real cluster round-trips unchanged. Unknown top-level spec fields
are pruned, as a real API server does. Registered by ``registry.default_types``.
"""

from __future__ import annotations

from typing import Any

GROUP = "gateway.networking.k8s.io"
VERSIONS = ("v1", "v1beta1")

_STRING: dict[str, Any] = {"type": "string"}
_OPEN: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_PARENT_REF: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "group": {"type": "string", "default": GROUP},
        "kind": {"type": "string", "default": "Gateway"},
        "namespace": _STRING,
        "name": {"type": "string", "minLength": 1, "maxLength": 253},
        "sectionName": _STRING,
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    },
}
_BACKEND_REF: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "group": {"type": "string", "default": ""},
        "kind": {"type": "string", "default": "Service"},
        "namespace": _STRING,
        "name": {"type": "string", "minLength": 1, "maxLength": 253},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "weight": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 1},
        "filters": {"type": "array", "maxItems": 16, "items": _OPEN},
    },
}
_RULE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 253},
        "matches": {
            "type": "array",
            "maxItems": 64,
            "default": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "items": _OPEN,
        },
        "filters": {"type": "array", "maxItems": 16, "items": _OPEN},
        "backendRefs": {"type": "array", "maxItems": 16, "items": _BACKEND_REF},
        "timeouts": {
            "type": "object",
            "properties": {"request": _STRING, "backendRequest": _STRING},
        },
    },
}
HTTPROUTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": _STRING,
        "kind": _STRING,
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {
                "parentRefs": {"type": "array", "maxItems": 32, "items": _PARENT_REF},
                "hostnames": {"type": "array", "maxItems": 16, "items": _STRING},
                "rules": {
                    "type": "array",
                    "maxItems": 16,
                    "default": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}],
                    "items": _RULE,
                },
            },
        },
        "status": _OPEN,
    },
}
