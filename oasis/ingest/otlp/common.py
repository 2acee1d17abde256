"""What every OTLP signal shares: resources, scopes, attributes, ids and timestamps."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from oasis.signals.model import utc_iso

#: The service of telemetry whose resource names none (the OpenTelemetry SDK default).
UNKNOWN_SERVICE = "unknown_service"
NS_PER_MINUTE = 60_000_000_000
# Resource attributes that name the instance a record came from, best first.
HOST_ATTRIBUTES = ("host.name", "k8s.pod.name")


@dataclass(slots=True)
class Origin:
    """The resource (and scope) records come from, with what OASIS reads off it."""

    service: str
    host: str | None
    version: str | None
    attributes: dict[str, Any]  # resource then scope attributes, flattened
    key: bytes  # identifies the resource (and scope) in ids and series keys
    seen: dict[bytes, int] = field(default_factory=dict)  # content hash -> occurrences

    def record_id(self, kind: str, *parts: bytes) -> str:
        """A deterministic id for a record: the same record re-sent (an exporter's retry,
        in either encoding) gets the same id and is stored once; identical records in one
        request are told apart by their order of appearance."""
        digest = hashlib.blake2b(self.key, digest_size=16)
        for part in parts:
            digest.update(len(part).to_bytes(4, "big"))
            digest.update(part)
        content = digest.digest()
        occurrence = self.seen.get(content, 0)
        self.seen[content] = occurrence + 1
        suffix = f".{occurrence}" if occurrence else ""
        return f"otlp:{kind}:{content.hex()}{suffix}"


def resource_origin(resource: Resource) -> Origin:
    attributes = flatten(resource.attributes)
    service = attributes.pop("service.name", None)
    if not isinstance(service, str) or not service.strip():
        # The specification's fallback: unknown_service, with the executable when known.
        executable = attributes.get("process.executable.name")
        service = f"{UNKNOWN_SERVICE}:{executable}" if executable else UNKNOWN_SERVICE
    host = next((str(attributes[k]) for k in HOST_ATTRIBUTES if attributes.get(k)), None)
    version = attributes.get("service.version")
    key = orjson.dumps([service, attributes], option=orjson.OPT_SORT_KEYS)
    return Origin(service.strip(), host, str(version) if version not in (None, "") else None,
                  attributes, key)


def scoped(origin: Origin, scope: InstrumentationScope) -> Origin:
    """The origin with the instrumentation scope's name, version and attributes added."""
    attributes = dict(origin.attributes)
    extra: dict[str, Any] = {}
    if scope.name:
        extra["otel.scope.name"] = scope.name
    if scope.version:
        extra["otel.scope.version"] = scope.version
    extra.update(flatten(scope.attributes))
    merge_into(attributes, extra)
    key = origin.key + orjson.dumps(extra, option=orjson.OPT_SORT_KEYS) if extra else origin.key
    return Origin(origin.service, origin.host, origin.version, attributes, key, origin.seen)


def flatten(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP attributes as a JSON object: dotted keys kept as they are (`http.route`),
    values as JSON values (arrays, nested objects for key-value lists)."""
    return {kv.key: any_value(kv.value) for kv in pairs}


def merge_into(base: dict[str, Any], specific: dict[str, Any]) -> dict[str, Any]:
    """Add the more specific attributes (a record's over its scope's over its resource's);
    the one they shadow keeps its value under `_key`, as in the NDJSON format."""
    for key, value in specific.items():
        if key in base and base[key] != value:
            base[f"_{key}"] = base[key]
        base[key] = value
    return base


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return flatten(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def render(value: AnyValue) -> str:
    """A log body as text: a string as it is, anything else as JSON."""
    if value.WhichOneof("value") == "string_value":
        return value.string_value
    plain = any_value(value)
    if plain is None:
        return ""
    return orjson.dumps(plain, option=orjson.OPT_SORT_KEYS).decode()


def hex_id(raw: bytes) -> str | None:
    """A trace or span id as lowercase hex; None when absent or all zero (invalid)."""
    return raw.hex() if raw and any(raw) else None


def iso_from_ns(ns: int) -> str:
    """Nanoseconds since the epoch as an ISO 8601 UTC timestamp (to the microsecond)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    ts = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return utc_iso(ts)


def minute_start_ns(ns: int) -> int:
    return ns - ns % NS_PER_MINUTE
