"""Reading OTLP/JSON envelopes: AnyValue decoding and flattening resource/scope/items."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

SIGNALS = {
    "resourceSpans": ("scopeSpans", "spans", "span"),
    "resourceLogs": ("scopeLogs", "logRecords", "log"),
    "resourceMetrics": ("scopeMetrics", "metrics", "metric"),
}
# protobuf-JSON also allows the original snake_case field names
_SNAKE = {"resourceSpans": "resource_spans", "resourceLogs": "resource_logs",
          "resourceMetrics": "resource_metrics", "scopeSpans": "scope_spans",
          "scopeLogs": "scope_logs", "scopeMetrics": "scope_metrics", "logRecords": "log_records",
          "instrumentationLibrarySpans": "instrumentation_library_spans"}


def get(obj: dict[str, Any], key: str, default: Any = None) -> Any:
    if key in obj:
        return obj[key]
    snake = _SNAKE.get(key)
    if snake and snake in obj:
        return obj[snake]
    camel_to_snake = "".join("_" + c.lower() if c.isupper() else c for c in key)
    return obj.get(camel_to_snake, default)


def any_value(value: Any) -> Any:
    """Decode an OTLP AnyValue ({"stringValue": ...}, arrays, kvlists, int64 as strings)."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "doubleValue" in value:
        try:
            return float(value["doubleValue"])
        except (TypeError, ValueError, OverflowError):
            return value["doubleValue"]
    if "bytesValue" in value:
        return value["bytesValue"]
    if "arrayValue" in value:
        return [any_value(v) for v in listed(mapping(value["arrayValue"]).get("values"))]
    if "kvlistValue" in value:
        return attributes(mapping(value["kvlistValue"]).get("values"))
    return value or None


def attributes(items: Any) -> dict[str, Any]:
    """OTLP KeyValue list -> dict; a plain dict (non-OTLP writers) passes through."""
    if isinstance(items, dict):
        return dict(items)
    out: dict[str, Any] = {}
    for item in listed(items):
        if isinstance(item, dict) and "key" in item:
            out[str(item["key"])] = any_value(item.get("value"))
    return out


def is_envelope(doc: Any) -> bool:
    return isinstance(doc, dict) and any(get(doc, k) is not None for k in SIGNALS)


def items(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any], Any]]:
    """(signal, resource attrs, scope info, item) for every span / log record / metric."""
    for top, (scope_key, item_key, signal) in SIGNALS.items():
        for resource_block in listed(get(doc, top)):
            if not isinstance(resource_block, dict):
                yield signal, {}, {}, resource_block
                continue
            resource = attributes(mapping(get(resource_block, "resource")).get("attributes"))
            scopes = get(resource_block, scope_key)
            if scopes is None and signal == "span":
                scopes = get(resource_block, "instrumentationLibrarySpans")
            for scope_block in listed(scopes):
                if not isinstance(scope_block, dict):
                    yield signal, resource, {}, scope_block
                    continue
                scope = get(scope_block, "scope") or get(scope_block, "instrumentationLibrary")
                scope = scope if isinstance(scope, dict) else {}
                scope_info = {"name": scope.get("name"), "version": scope.get("version")}
                if scope.get("attributes"):
                    scope_info["attributes"] = attributes(scope["attributes"])
                for item in listed(get(scope_block, item_key)):
                    yield signal, resource, scope_info, item


def listed(value: Any) -> list[Any]:
    """A JSON list as is; None as empty; anything else as one (malformed) item."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def mapping(value: Any) -> dict[str, Any]:
    """A JSON object as is; anything else (a number, a list) as an empty one."""
    return value if isinstance(value, dict) else {}


def nanos(value: Any) -> int | None:
    """`*UnixNano` (string or number) or an hrtime `[seconds, nanos]` pair -> int nanoseconds."""
    if isinstance(value, list | tuple) and len(value) == 2:
        try:
            ns = int(value[0]) * 1_000_000_000 + int(value[1])
        except (TypeError, ValueError, OverflowError):  # OverflowError: infinity
            return None
    elif isinstance(value, bool) or value in (None, "", 0, "0"):
        return None
    else:
        try:
            ns = int(value)
        except (TypeError, ValueError, OverflowError):
            return None
    # OTLP times are fixed64: anything wider is damage, not a time.
    return ns if -(2**63) <= ns < 2**64 else None


def hex_id(value: Any) -> str | None:
    """Trace/span ids in lower-case hex (OTLP/JSON writes hex; some writers upper-case it)."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip().lower()
    return None if not text or set(text) == {"0"} else text
