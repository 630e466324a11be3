"""Jido event names (both generations) mapped into the shared event_type taxonomy."""

from __future__ import annotations

import json
import re
from typing import Any

# normalized name -> (event_type, outcome, severity). Names are normalized by normalize_name.
EVENT_TYPES: dict[str, tuple[str, str | None, str]] = {
    "project.started": ("project.start", None, "info"),
    "project.stopped": ("project.stop", None, "info"),
    "project.assets_loaded": ("assets.loaded", None, "info"),
    "project.assets_reloaded": ("assets.reloaded", None, "info"),
    "project.watcher_started": ("watcher.start", None, "info"),
    "project.watcher_stopped": ("watcher.stop", None, "info"),
    "project.watcher_reload_completed": ("watcher.reload", "ok", "info"),
    "project.watcher_reload_failed": ("watcher.reload", "error", "error"),
    "conversation.started": ("conversation.start", None, "info"),
    "conversation.stopped": ("conversation.end", None, "info"),
    "conversation.cancel": ("conversation.cancel", None, "info"),
    "conversation.resume": ("conversation.resume", None, "info"),
    "conversation.event_ingested": ("telemetry", None, "debug"),
    "user.message": ("chat.turn", None, "info"),
    "assistant.message": ("chat.turn", None, "info"),
    "assistant.delta": ("chat.delta", None, "debug"),
    "llm.started": ("llm.request", None, "info"),
    "llm.completed": ("llm.response", "ok", "info"),
    "llm.failed": ("llm.error", "error", "error"),
    "llm.delta": ("chat.delta", None, "debug"),
    "tool.requested": ("tool.call", None, "info"),
    "tool.started": ("tool.call", None, "info"),
    "tool.completed": ("tool.result", "ok", "info"),
    "tool.failed": ("tool.result", "error", "error"),
    "tool.cancelled": ("tool.result", "skipped", "warning"),
    "tool.timeout": ("tool.timeout", "timeout", "warning"),
    "tool.child_processes_terminated": ("tool.cleanup", None, "warning"),
    "policy.allowed": ("policy.allowed", "ok", "info"),
    "policy.denied": ("policy.denied", "denied", "warning"),
}
ACTORS = {"user": "user", "assistant": "assistant", "llm": "llm"}
CATEGORIES = {"tool": "tool", "llm": "llm", "policy": "policy", "security": "policy"}
# `conversation.<x>` names that are the conversation's own (not the post-seed prefixed generation).
_CONVERSATION_OWN = {"started", "stopped", "cancel", "resume", "event_ingested"}
_TUPLE = re.compile(r"^\{\s*:?\"?([A-Za-z_][\w.]*)")
_NOT_ERRORS = {"allowed", "allow", "ok"}


def event_name(raw: Any) -> str | None:
    """The dotted event name from a string or a `[:jido_code_server, :tool, :failed]` list."""
    if isinstance(raw, list) and raw and all(isinstance(p, str) for p in raw):
        raw = ".".join(p.lstrip(":") for p in raw)
    if not isinstance(raw, str) or not raw.strip():
        return None
    return raw.strip()


def normalize_name(name: str) -> str:
    """`jido_code_server.conversation.tool.failed` -> `tool.failed`; `conversation.started` kept."""
    if name.startswith("jido_code_server."):
        name = name[len("jido_code_server.") :]
    if name.startswith("conversation."):
        rest = name[len("conversation.") :]
        if rest not in _CONVERSATION_OWN and "." in rest:
            return rest
    return name


def classify(name: str, fallback: str = "telemetry") -> tuple[str, str | None, str]:
    """(event_type, outcome, severity) for a normalized name; unknown names stay recognisable."""
    if name in EVENT_TYPES:
        return EVENT_TYPES[name]
    if name.startswith("security."):
        kind = name.split(".", 1)[1]
        if kind == "sandbox_violation":
            return name, "denied", "error"
        return name, ("denied" if kind.endswith("_denied") else None), "warning"
    return fallback, None, "info"


def reason_code(reason: Any) -> str | None:
    """A readable code from an Elixir reason: `:timeout`, `{:output_too_large, n, max}`, lists."""
    if reason is None or reason == "" or isinstance(reason, bool):
        return None
    if isinstance(reason, list):
        return reason_code(reason[0]) if reason else None
    if isinstance(reason, dict):
        for key in ("reason", "code", "type", "error", "kind"):
            if key in reason:
                return reason_code(reason[key])
        return None
    if isinstance(reason, int | float):
        return str(reason)
    text = str(reason).strip()
    match = _TUPLE.match(text)
    if match:
        return match.group(1)
    text = text.lstrip(":")
    token = re.match(r"^[A-Za-z_][\w.\-]*", text)
    if token and token.group(0) == text:
        return text
    return None


def reason_text(reason: Any) -> str | None:
    if reason is None or reason == "":
        return None
    text = reason if isinstance(reason, str) else json.dumps(reason, default=str)
    return " ".join(text.split())


def error_code_for(name: str, outcome: str | None, payload: dict[str, Any]) -> str | None:
    for key in ("reason", "error", "reason_code"):
        code = reason_code(payload.get(key))
        if code and code not in _NOT_ERRORS:
            return code
    if outcome == "timeout":
        return "timeout"
    if name.startswith("security.") and outcome == "denied":
        return name.split(".", 1)[1]
    return None


def actor_for(name: str) -> str | None:
    return ACTORS.get(name.split(".", 1)[0])


def category_for(name: str) -> str | None:
    return CATEGORIES.get(name.split(".", 1)[0], name.split(".", 1)[0])
