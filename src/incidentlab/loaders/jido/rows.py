"""Build canonical event rows from Jido records (telemetry payloads and conversation events)."""

from __future__ import annotations

import json
from typing import Any

from ..base import LoadContext, first_value
from ..records import BadRecord
from ..records import number as as_number
from .taxonomy import (
    actor_for,
    category_for,
    classify,
    error_code_for,
    event_name,
    normalize_name,
    reason_text,
)

MESSAGE_LIMIT = 500


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def conversation_fields(event: dict[str, Any]) -> dict[str, Any]:
    """Flatten a `Types.Event` (type, at, data, meta) into the keys telemetry payloads use."""
    data = as_dict(event.get("data"))
    meta = as_dict(event.get("meta"))
    call = as_dict(data.get("tool_call"))
    inner = as_dict(data.get("meta")) or as_dict(call.get("meta"))
    return {
        **data,
        "tool": first_value(data, "name", "tool") or call.get("name"),
        "correlation_id": first_value(meta, "correlation_id") or inner.get("correlation_id"),
        "conversation_id": first_value(meta, "conversation_id") or inner.get("conversation_id"),
        "project_id": first_value(meta, "project_id") or inner.get("project_id"),
    }


def make_event(
    ctx: LoadContext,
    *,
    raw_name: Any,
    at: Any,
    fields: dict[str, Any],
    record_no: int,
    attrs: Any,
    project: str | None = None,
    stream: str | None = None,
    position: int | None = None,
    event_key: str | None = None,
    is_mirror: bool = False,
    duration_ms: Any = None,
    fallback: str = "telemetry",
) -> dict[str, Any]:
    """One canonical row; raises BadRecord when the name or the time is unusable."""
    raw = event_name(raw_name)
    if raw is None:
        raise BadRecord("event name missing")
    ts, quality = ctx.parse_ts(at)
    if ts is None:
        raise BadRecord(
            "timestamp missing" if at in (None, "") else f"timestamp not parseable: {at!r}"
        )
    duration = duration_ms if duration_ms is not None else fields.get("duration_ms")
    return {
        "record_no": record_no,
        "event_key": event_key,
        "ts": ts,
        "ts_raw": at if isinstance(at, str) else json.dumps(at),
        "ts_quality": quality,
        "stream": stream or _str(fields.get("conversation_id")),
        "position": position,
        "project": project or _str(fields.get("project_id")),
        "correlation_id": _str(fields.get("correlation_id")),
        "event_type_raw": raw,
        **describe(raw, fields, fallback),
        "duration_ms": as_number(duration),
        "is_mirror": is_mirror,
        "attrs": attrs,
    }


def describe(raw: str, fields: dict[str, Any], fallback: str = "telemetry") -> dict[str, Any]:
    """The columns that follow from the event name and its payload (not from time or position).

    `fallback` is the event_type of names outside the map: `telemetry` for telemetry events,
    `unknown` for conversation events (callers may ingest arbitrary types)."""
    name = normalize_name(raw)
    event_type, outcome, severity = classify(name, fallback)
    if fields.get("status") == "error" and event_type == "tool.result":
        outcome, severity = "error", "error"
    if name.startswith("project.assets_") and _positive(fields.get("error_count")):
        severity = "warning"
    code = error_code_for(name, outcome, fields)
    if name == "conversation.stopped" and code:
        severity = "warning"
    tool = first_value(fields, "tool", "tool_name")
    return {
        "event_type": event_type,
        "actor": actor_for(name),
        "name": _str(tool) or _str(fields.get("model")),
        "outcome": outcome,
        "severity": severity,
        "message": _message(raw, tool, fields),
        "error_code": code,
        "error_category": category_for(name) if code else None,
    }


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _message(raw: str, tool: Any, fields: dict[str, Any]) -> str:
    content = fields.get("content")
    if isinstance(content, str) and content.strip():
        text = " ".join(content.split())
    else:
        parts = [raw]
        if tool:
            parts.append(str(tool))
        detail = [
            t for t in (reason_text(fields.get("reason")), reason_text(fields.get("error"))) if t
        ]
        text = " ".join(parts) + (": " + "; ".join(detail) if detail else "")
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "…"
