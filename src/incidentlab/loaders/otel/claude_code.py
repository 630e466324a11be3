"""Claude Code OTel log events (`claude_code.*`) mapped like its transcripts are."""

from __future__ import annotations

from typing import Any

EVENTS = {"user_prompt", "api_request", "api_error", "tool_result", "tool_decision"}
USAGE = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_tokens": "cache_read_tokens",
    "cache_creation_tokens": "cache_creation_tokens",
    "cost_usd": "cost_usd",
}


def event_name(
    record: dict[str, Any], attrs: dict[str, Any], body: Any, service: Any
) -> str | None:
    """`claude_code.<event>` when this log record is one of Claude Code's events, else None."""
    for candidate in (record.get("eventName"), attrs.get("event.name"), body):
        if not isinstance(candidate, str):
            continue
        short = candidate.removeprefix("claude_code.")
        if short in EVENTS and (candidate != short or str(service or "").startswith("claude")):
            return f"claude_code.{short}"
    return None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _truthy(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def mapping(name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """Event columns for one Claude Code event (event_type, actor, name, outcome, ...)."""
    short = name.removeprefix("claude_code.")
    row: dict[str, Any] = {
        "stream": attrs.get("session.id"),
        "correlation_id": attrs.get("prompt.id"),
        "event_type_raw": name,
        "duration_ms": _number(attrs.get("duration_ms")),
    }
    if short == "user_prompt":
        prompt = attrs.get("prompt")
        length = attrs.get("prompt_length")
        row |= {"event_type": "chat.turn", "actor": "user",
                "message": prompt if prompt else f"<prompt not logged, {length} chars>"}
    elif short == "api_request":
        row |= {"event_type": "llm.usage", "actor": "assistant", "name": attrs.get("model"),
                "outcome": "ok",
                "message": ", ".join(f"{k}={attrs[k]}" for k in USAGE if attrs.get(k) is not None)}
    elif short == "api_error":
        status = attrs.get("status_code")
        limited = str(status) == "429"
        row |= {"event_type": "llm.rate_limited" if limited else "llm.error",
                "actor": "assistant", "name": attrs.get("model"), "outcome": "error",
                "severity": "warning" if limited else "error",
                "error_code": None if status in (None, "") else str(status),
                "message": attrs.get("error")}
    elif short == "tool_result":
        ok = _truthy(attrs.get("success"))
        row |= {"event_type": "tool.result", "actor": "assistant", "name": attrs.get("tool_name"),
                "outcome": None if ok is None else ("ok" if ok else "error"),
                "severity": "error" if ok is False else "info",
                "message": attrs.get("error") or attrs.get("tool_parameters")}
    elif short == "tool_decision":
        accepted = str(attrs.get("decision", "")).lower() in ("accept", "accepted", "allow")
        row |= {"event_type": "tool.approved" if accepted else "policy.denied",
                "actor": str(attrs.get("source") or "user"), "name": attrs.get("tool_name"),
                "outcome": "ok" if accepted else "denied",
                "error_code": None if accepted else str(attrs.get("source") or "reject"),
                "message": f"{attrs.get('decision')} ({attrs.get('source')})"}
    return row


def usage_metrics(attrs: dict[str, Any]) -> dict[str, float]:
    out = {}
    for raw, metric in USAGE.items():
        value = _number(attrs.get(raw))
        if value is not None:
            out[metric] = value
    return out
