"""superpowers task folders (`tasks/<date-slug>/`): gate decisions and lifecycle emissions.

An agentic SDLC pipeline keeps per task an `events.jsonl` (the decision router's log and the
pipeline's lifecycle emissions) and a `decisions.jsonl` (the ledger of human-in-the-loop gate
verdicts). Each task folder is one stream. Lifecycle emissions carry no time in the source: they
load with `ts_quality = 'missing'` in file order, never with a time made up for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult
from ..reading.head import head_objects
from .common import Collector, as_dict, clip, keyed_lines, ts_fields

# Verdicts are free text ("approve", "Approve, inline TDD", "request-changes"): read by prefix.
_PENDING = ("pending",)
_APPROVED = ("approve", "accept")
_REFUSED = ("request-changes", "request changes", "reject", "abort")
_STATUS_OUTCOME = {"succeeded": "ok", "failed": "error", "skipped": "skipped"}


def _first_object(head: bytes) -> dict[str, Any]:
    found = head_objects(head, limit=1)
    return found[0] if found else {}


def verdict_outcome(decision: Any) -> tuple[str | None, str]:
    """(outcome, severity) of a gate verdict; outcome None when the text says neither."""
    text = decision.strip().lower() if isinstance(decision, str) else ""
    if text.startswith(_APPROVED):
        return "ok", "info"
    if text.startswith(_REFUSED):
        return "denied", "warning"
    return None, "info"


def ledger_decision(rec: dict[str, Any]) -> Any:
    """A ledger record's decision, in either of its two shapes:
    {ts, mode, verdict: {decision, rationale, source}} and the older
    {decided_at, decided_by, decision, note}."""
    return as_dict(rec.get("verdict")).get("decision", rec.get("decision"))


def ledger_time(rec: dict[str, Any]) -> Any:
    """A ledger record's raw time, in either shape (see ledger_decision)."""
    return rec.get("ts", rec.get("decided_at"))


def is_pending(decision: Any) -> bool:
    return isinstance(decision, str) and decision.strip().lower().startswith(_PENDING)


class TaskEventsLoader:
    name: ClassVar[str] = "superpowers.task_events"
    system: ClassVar[str] = "superpowers"
    source: ClassVar[str] = "task_events"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ("superpowers task events.jsonl (decision router log, lifecycle "
                                  "emissions without times)")

    def detect(self, path: Path, head: bytes) -> bool:
        if path.name != "events.jsonl":
            return False
        first = _first_object(head)
        keys = set(first)
        return isinstance(first.get("event"), str) and (
            {"intent", "status"} <= keys or {"schema", "phase", "summary"} <= keys)

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        task = ctx.path.parent.name
        for number, rec, raw in keyed_lines(col, "event"):
            with col.record(number, raw):
                col.event(number, **self._fields(rec, rec["event"]), stream=task,
                          **ts_fields(ctx, rec.get("ts")), attrs=rec)
        return col.result()

    @staticmethod
    def _fields(rec: dict[str, Any], event: str) -> dict[str, Any]:
        if event == "decision.recorded":
            data = as_dict(rec.get("data"))
            outcome, severity = verdict_outcome(data.get("decision"))
            return {"event_type": "decision.recorded", "event_type_raw": event,
                    "actor": rec.get("actor"), "name": data.get("gate_id"),
                    "correlation_id": data.get("gate_id"), "outcome": outcome,
                    "severity": severity, "message": clip(rec.get("summary"))}
        if event == "lifecycle_emission":
            intent = rec.get("intent")
            subject = rec.get("artifact_kind") or rec.get("assessment_mode") or rec.get("mode")
            status = rec.get("status")
            outcome = _STATUS_OUTCOME.get(status) if isinstance(status, str) else None
            kind = intent if isinstance(intent, str) and intent.isidentifier() else None
            return {"event_type": f"lifecycle.{kind}" if kind else "lifecycle",
                    "event_type_raw": event, "name": subject, "outcome": outcome,
                    "severity": "warning" if outcome == "error" else "info",
                    "message": clip(" ".join(str(p) for p in (intent, subject, status) if p))}
        return {"event_type": "log", "event_type_raw": event, "actor": rec.get("actor"),
                "message": clip(rec.get("summary") or event)}


class DecisionsLoader:
    name: ClassVar[str] = "superpowers.decisions"
    system: ClassVar[str] = "superpowers"
    source: ClassVar[str] = "decisions"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ("superpowers task decisions.jsonl (gate verdicts: approve, "
                                  "request-changes, pending)")

    def detect(self, path: Path, head: bytes) -> bool:
        if path.name != "decisions.jsonl":
            return False
        first = _first_object(head)
        return isinstance(first.get("gate_id"), str) and bool(
            {"verdict", "decision", "decided_at"} & set(first))

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        task = ctx.path.parent.name
        for number, rec, raw in keyed_lines(col, "gate_id"):
            with col.record(number, raw):
                self._decision(col, number, rec, rec["gate_id"], task)
        return col.result()

    @staticmethod
    def _decision(col: Collector, number: int, rec: dict[str, Any], gate: str, task: str) -> None:
        verdict = as_dict(rec.get("verdict"))
        decision = ledger_decision(rec)
        reason = verdict.get("rationale", rec.get("note"))
        outcome, severity = verdict_outcome(decision)
        if is_pending(decision):
            event_type = "decision.request"  # the gate waits for a person
        elif outcome is not None:
            event_type = "decision.resolved"
        else:
            event_type = "decision.recorded"  # what it decided is not determined from the text
        when = ledger_time(rec)
        col.event(number, event_type, stream=task, event_type_raw="gate_verdict", name=gate,
                  correlation_id=gate, actor=rec.get("decided_by") or verdict.get("source")
                  or rec.get("mode"), outcome=outcome, severity=severity,
                  message=clip(f"{gate}: {decision}" + (f" - {reason}" if reason else "")),
                  **ts_fields(col.ctx, when), attrs=rec)
