"""coding-loops bus event types (docs/EVENT-CATALOG.md) mapped into the shared taxonomy."""

from __future__ import annotations

from typing import Any

# event_type -> (event_type, outcome, severity, error_code)
EVENT_TYPES: dict[str, tuple[str, str | None, str, str | None]] = {
    "test_started": ("test.start", None, "info", None),
    "test_passed": ("test.pass", "ok", "info", None),
    "test_failed": ("test.fail", "error", "error", None),
    "test_blocked": ("test.fail", "error", "error", "blocked"),
    "file_locked": ("lock.acquire", None, "info", None),
    "file_unlocked": ("lock.release", None, "info", None),
    "all_locks_released": ("lock.release", None, "info", None),
    "file_conflict": ("conflict", None, "warning", "file_conflict"),
    "stuck_detected": ("alert", None, "warning", "stuck"),
    "digression_detected": ("alert", None, "warning", "digression"),
    "regression_detected": ("alert", None, "error", "regression"),
    "resource_warning": ("alert", None, "warning", "resource"),
    "decision_needed": ("decision.request", None, "info", None),
    "human_message": ("decision.resolved", "ok", "info", None),
    "priority_changed": ("config.change", None, "info", None),
    "pause_requested": ("loop.pause", None, "info", None),
    "resume_requested": ("loop.resume", None, "info", None),
    "rollback_triggered": ("loop.rollback", None, "warning", None),
    "force_release": ("lock.release", None, "warning", "force_release"),
    "summary_requested": ("telemetry", None, "info", None),
    "knowledge_recorded": ("knowledge.recorded", None, "info", None),
    "knowledge_conflict": ("conflict", None, "warning", "knowledge_conflict"),
    "component_started": ("component.start", None, "info", None),
    "component_stopped": ("component.stop", None, "info", None),
    "component_degraded": ("component.degraded", None, "warning", None),
}
NAME_KEYS = ("test_id", "file_path", "decision_id", "component", "knowledge_id", "resource")
SEVERITIES = {"debug", "info", "warning", "error", "critical"}


def classify(raw: str, payload: dict[str, Any]) -> tuple[str, str | None, str, str | None]:
    event_type, outcome, severity, code = EVENT_TYPES.get(raw, ("unknown", None, "info", None))
    if raw == "test_failed":
        code = payload.get("error_category") or None
        if payload.get("will_retry") is True:
            severity = "warning"
    if raw == "human_message" and not payload.get("decision_id"):
        return "chat.turn", None, "info", None
    return event_type, outcome, severity, code


def summary(raw: str, payload: dict[str, Any]) -> str:
    """One readable line: the type plus the payload fields an operator looks at first."""
    keys = (
        "test_id",
        "attempt",
        "file_path",
        "error_message",
        "last_error",
        "summary",
        "reason",
        "message",
        "choice",
        "component",
        "status",
        "resource",
        "percentage",
    )
    parts = [f"{k}={payload[k]}" for k in keys if payload.get(k) not in (None, "", [])]
    return raw + (" " + " ".join(str(p) for p in parts) if parts else "")
