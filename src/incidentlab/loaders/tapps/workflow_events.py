"""Tapps `workflow-state/events/<workflow_id>.events.jsonl`: the append-only workflow event log."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

from ..base import Check, JsonLines, LoadContext, LoadResult, Quarantine, excerpt
from ..records import isolated, number
from .checks import CHECKS
from .common import EVENT_TYPES, SYSTEM, in_tapps, outcome_of, raw_text

FIXED_OUTCOME = {"step.finish": "ok", "step.fail": "error", "step.skip": "skipped"}


def project(ctx: LoadContext, line_no: int, record: dict[str, Any], stream: str) -> dict[str, Any]:
    raw_type = record.get("event_type")
    event_type = EVENT_TYPES.get(raw_type, "unknown")
    outcome = FIXED_OUTCOME.get(event_type) or outcome_of(record.get("status"))
    ts, quality = ctx.parse_ts(record.get("timestamp"))
    seq = record.get("seq")
    summary = record.get("tool_call_summary")
    duration = summary.get("duration_ms") if isinstance(summary, dict) else None
    step_id = record.get("step_id")
    error = record.get("error")
    return {
        "record_no": line_no,
        "ts": ts,
        "ts_raw": raw_text(record.get("timestamp")),
        "ts_quality": quality,
        "stream": record.get("workflow_id") or stream,
        "seq": seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        "position": line_no,
        "correlation_id": step_id,
        "event_type": event_type,
        "event_type_raw": raw_type,
        "actor": record.get("agent"),
        "name": step_id or record.get("workflow_id"),
        "outcome": outcome,
        "severity": "error" if outcome == "error" else "info",
        "duration_ms": number(duration),
        "message": str(error)
        if error
        else " ".join(str(p) for p in (raw_type, step_id, record.get("status")) if p),
        "attrs": record,
    }


class WorkflowEventsLoader:
    name: ClassVar[str] = "tapps.workflow_events"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "workflow_events"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "Tapps <workflow_id>.events.jsonl (workflow/step events with seq)"

    def detect(self, path: Path, head: bytes) -> bool:
        if not path.name.endswith(".events.jsonl"):
            return False
        return in_tapps(path) or (b'"event_type"' in head and b'"workflow_id"' in head)

    def load(self, ctx: LoadContext) -> LoadResult:
        stream = ctx.path.name.removesuffix(".events.jsonl")
        events: list[dict[str, Any]] = []
        lines = JsonLines(ctx.path)
        bad = lines.quarantine
        for line_no, record, line in lines:
            if not isinstance(record.get("event_type"), str):
                bad.append(Quarantine(line_no, "event_type missing", excerpt(line)))
            elif event := isolated(bad, line_no, line, project, ctx, line_no, record, stream):
                events.append(event)
        seqs = [e["seq"] for e in events if e["seq"] is not None]
        return LoadResult(
            records_read=lines.read,
            events=events,
            quarantine=bad,
            facts={
                "workflow_id": stream,
                "max_seq": max(seqs, default=None),
                "duplicate_seqs": len(seqs) - len(set(seqs)),
                "seq_regressions": sum(1 for a, b in pairwise(seqs) if b <= a),
                "unknown_types": sorted(
                    {str(e["event_type_raw"]) for e in events if e["event_type"] == "unknown"}
                ),
            },
        )
