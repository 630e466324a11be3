"""coding-loops `transcripts/<execution_id>/unified.jsonl` (shared/transcript_writer.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import JsonLines, LoadContext, LoadResult, Quarantine, first_value
from ..records import BadRecord, guarded, head_has
from ..records import number as as_number
from .common import json_cell, loop_name, short

ENTRY_TYPES: dict[str, str] = {
    "phase_start": "phase.start",
    "phase_end": "phase.end",
    "phase_complete": "phase.end",
    "task_start": "task.start",
    "task_end": "task.end",
    "tool_use": "tool.call",
    "skill_invoke": "skill.invoke",
    "skill_complete": "skill.complete",
    "validation": "validation.check",
    "assertion": "validation.assertion",
    "discovery": "knowledge.discovery",
    "error": "error",
    "checkpoint": "checkpoint.created",
    "lock_acquire": "lock.acquire",
    "lock_release": "lock.release",
    "decision": "agent.decision",
}
REQUIRED = ("execution_id", "entry_type", "sequence")


def _outcome(entry_type: str, details: dict[str, Any]) -> tuple[str | None, str]:
    if entry_type == "error":
        return "error", "error"
    flag = first_value(details, "success", "passed", "ok")
    if isinstance(flag, bool):
        return ("ok", "info") if flag else ("error", "warning")
    return None, "info"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class UnifiedTranscriptLoader:
    name: ClassVar[str] = "coding_loops.unified_transcript"
    system: ClassVar[str] = "coding_loops"
    source: ClassVar[str] = "unified_transcript"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "coding-loops transcripts/<execution_id>/unified.jsonl"

    def detect(self, path: Path, head: bytes) -> bool:
        return head_has(head, REQUIRED)

    def load(self, ctx: LoadContext) -> LoadResult:
        project = loop_name(ctx.path)
        events: list[dict[str, Any]] = []
        quarantine: list[Quarantine] = []
        reader = JsonLines(ctx.path, quarantine)
        for number, entry, raw in reader:
            row = guarded(
                quarantine, number, f"line {number}", raw, self._line, ctx, number, entry, project
            )
            if row is not None:
                events.append(row)
        quarantine.sort(key=lambda q: q.record_no or 0)
        return LoadResult(records_read=reader.read, events=events, quarantine=quarantine)

    def _line(
        self, ctx: LoadContext, number: int, entry: dict[str, Any], project: str | None
    ) -> dict:
        raw_type = entry.get("entry_type")
        if not isinstance(raw_type, str) or not raw_type:
            raise BadRecord("entry_type missing")
        raw_ts = entry.get("timestamp")
        ts, quality = ctx.parse_ts(raw_ts)
        if ts is None:
            raise BadRecord(
                "timestamp missing"
                if raw_ts in (None, "")
                else f"timestamp not parseable: {raw_ts!r}"
            )
        sequence = entry.get("sequence")
        details = json_cell(entry.get("details"))
        details = details if isinstance(details, dict) else {}
        outcome, severity = _outcome(raw_type, details)
        duration = entry.get("duration_ms")
        return {
            "record_no": number,
            "ts": ts,
            "ts_raw": str(raw_ts),
            "ts_quality": quality,
            "stream": entry.get("execution_id"),
            "seq": sequence
            if isinstance(sequence, int) and not isinstance(sequence, bool)
            else None,
            "position": number,
            "project": project,
            "correlation_id": entry.get("task_id"),
            "event_type": ENTRY_TYPES.get(raw_type, "unknown"),
            "event_type_raw": raw_type,
            "actor": entry.get("instance_id") or entry.get("source"),
            "name": _text(first_value(details, "tool", "skill", "skill_name", "phase", "name")),
            "outcome": outcome,
            "severity": severity,
            "duration_ms": as_number(duration),
            "message": short(entry.get("summary")),
            "error_code": _text(first_value(details, "error_type", "code"))
            if outcome == "error"
            else None,
            "attrs": entry,
        }
