"""Content negotiation of request bodies: Kubernetes protobuf for built-in kinds, JSON, YAML.

A real API server accepts ``application/vnd.kubernetes.protobuf`` for built-in
kinds, and kubectl 1.37's typed clients (``kubectl create namespace``,
``create configmap``, ...) send it with no fallback: a 415 is an error to them.
CBOR is refused with 415, which is the answer that makes client-go fall back
to JSON (it only sends CBOR when allowed to, and drops it on a 415). Custom
resources have no protobuf form, so a protobuf body for one is a 415 too, as on
a real server.

The envelope is the 4-byte magic ``k8s\\0`` and a ``runtime.Unknown`` whose
``raw`` is the object; its message is decoded with the field tables in
``protoschema.json`` (from Kubernetes' ``generated.proto``, see ``protogen``)
and turned into the object's JSON form, zero values dropped as Go's
``omitempty`` drops them.
"""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from meshlab.kubeapi.store import ApiError

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"
_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"
# Fields whose zero is meaningful (pointers in Go): kept even when 0 or false.
_KEEP_ZERO = frozenset({"replicas", "immutable", "automountServiceAccountToken", "readOnly"})


@cache
def _schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(__file__).with_name("protoschema.json").read_text())
    return data


def known_kinds() -> set[str]:
    """``apiVersion/kind`` of every kind whose protobuf form the emulator reads."""
    return set(_schema()["kinds"])


def decode_body(raw: bytes, content_type: str, custom: bool) -> Any:
    """The request body as a JSON value; 400 when unreadable, 415 for a refused type."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == PROTOBUF:
        if custom:
            raise ApiError(415, "UnsupportedMediaType", f"the body of type {kind} is unsupported")
        return decode_protobuf(raw)
    if kind in ("application/cbor", "application/cbor-seq"):
        raise ApiError(415, "UnsupportedMediaType", f"the body of type {kind} is unsupported")
    if kind == "application/yaml":
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as error:
            raise ApiError(400, "BadRequest", f"the body is not YAML: {error}") from error
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, "BadRequest", f"the body is not JSON: {error}") from error


def decode_protobuf(raw: bytes) -> dict[str, Any]:
    """A Kubernetes protobuf envelope as the object's JSON form."""
    if not raw.startswith(MAGIC):
        raise ApiError(400, "BadRequest", "the protobuf body lacks the k8s envelope")
    try:
        unknown = _message(raw[len(MAGIC) :], _UNKNOWN)
        type_meta = unknown.get("typeMeta") or {}
        api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
        message = _schema()["kinds"].get(f"{api_version}/{kind}")
        if message is None:
            raise ApiError(
                415, "UnsupportedMediaType", f"no protobuf form known for {api_version} {kind}"
            )
        body = base64.b64decode(unknown.get("raw", ""))
        obj = _message(body, message)
    except (IndexError, KeyError, ValueError, struct.error) as error:
        raise ApiError(400, "BadRequest", f"the protobuf body is malformed: {error}") from error
    return {"apiVersion": api_version, "kind": kind, **obj}


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(number, wire type, raw value) of every field, in order."""
    out, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        elif wire == 2:
            length, i = _varint(data, i)
            value, i = data[i : i + length], i + length
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _scalar(typ: str, wire: int, value: Any) -> Any:
    if typ == "string":
        return bytes(value).decode()
    if typ == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if typ == "bool":
        return bool(value)
    if typ == "double":
        return struct.unpack("<d", value)[0]
    if typ == "float":
        return struct.unpack("<f", value)[0]
    if typ in ("int64", "int32") and value >= 1 << 63:
        return value - (1 << 64)  # two's complement, as protobuf encodes negatives
    return value


def _value(typ: str, wire: int, value: Any) -> Any:
    if typ in _schema()["messages"]:
        return _special(typ, _message(bytes(value), typ))
    return _scalar(typ, wire, value)


def _message(data: bytes, name: str) -> dict[str, Any]:
    table = {f[0]: f for f in _schema()["messages"][name]}
    out: dict[str, Any] = {}
    for number, wire, value in _fields(data):
        if number not in table:
            continue  # a newer field than our table knows: ignored, as old servers do
        _, field, label, typ = table[number]
        if label == "map":
            entry = {n: (w, v) for n, w, v in _fields(bytes(value))}
            key = bytes(entry.get(1, (2, b""))[1]).decode()
            w, v = entry.get(2, (2, b""))
            out.setdefault(field, {})[key] = _value(typ, w, v)
        elif label == "repeated":
            items = out.setdefault(field, [])
            if wire == 2 and typ not in ("string", "bytes") and typ not in _schema()["messages"]:
                rest = bytes(value)  # packed scalars
                while rest:
                    item, used = _varint(rest, 0)
                    items.append(_scalar(typ, 0, item))
                    rest = rest[used:]
            else:
                items.append(_value(typ, wire, value))
        else:
            out[field] = _value(typ, wire, value)
    return {k: v for k, v in out.items() if k in _KEEP_ZERO or not _empty(v)}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == 0 or value is False or value in ({}, [])


def _special(typ: str, obj: dict[str, Any]) -> Any:
    """Messages whose JSON form is not an object (times, quantities, int-or-string, raw JSON)."""
    if typ in (_META + "Time", _META + "MicroTime"):
        if not obj:
            return None
        when = datetime.fromtimestamp(obj.get("seconds", 0), UTC)
        if typ.endswith("MicroTime"):
            micros = obj.get("nanos", 0) // 1000
            return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}Z"
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if typ == _META + "Duration":
        return f"{obj.get('duration', 0) / 1e9:g}s"
    if typ == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return obj.get("string", "0")
    if typ == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        return obj.get("strVal", "") if obj.get("type") == 1 else obj.get("intVal", 0)
    if typ in ("k8s.io.apimachinery.pkg.runtime.RawExtension", _META + "FieldsV1"):
        raw = obj.get("raw") or obj.get("Raw")
        return json.loads(base64.b64decode(raw)) if raw else None
    return obj
