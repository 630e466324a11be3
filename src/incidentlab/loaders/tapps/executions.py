"""Tapps `metrics/executions_YYYY-MM-DD.jsonl`: one finished step execution per line (+ metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import JsonLines, LoadContext, LoadResult, Quarantine, excerpt
from ..records import isolated, number
from .common import SYSTEM, in_tapps, local_ts, outcome_of, raw_text

TYPE_BY_OUTCOME = {
    "ok": "step.finish",
    "error": "step.fail",
    "timeout": "step.fail",
    "skipped": "step.skip",
}
METRICS = (("duration_ms", "step.duration_ms", "ms"), ("retry_count", "step.retry_count", "count"))
LABELS = ("execution_id", "workflow_id", "step_id", "command", "skill", "status", "gate_pass")


class ExecutionsMetricsLoader:
    name: ClassVar[str] = "tapps.executions"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "executions_jsonl"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "Tapps metrics/executions_*.jsonl (step executions, durations)"

    def detect(self, path: Path, head: bytes) -> bool:
        if not (path.name.startswith("executions_") and path.name.endswith(".jsonl")):
            return False
        return in_tapps(path) or (b'"execution_id"' in head and b'"step_id"' in head)

    def load(self, ctx: LoadContext) -> LoadResult:
        events: list[dict[str, Any]] = []
        metrics: list[dict[str, Any]] = []
        lines = JsonLines(ctx.path)
        bad = lines.quarantine
        zone_unknown = 0
        for line_no, record, line in lines:
            if not record.get("step_id"):
                bad.append(Quarantine(line_no, "not an execution record (step_id)", excerpt(line)))
            elif built := isolated(bad, line_no, line, _rows, ctx, line_no, record):
                event, measured, unknown = built
                events.append(event)
                metrics += measured
                zone_unknown += unknown
        return LoadResult(
            records_read=lines.read,
            events=events,
            metrics=metrics,
            quarantine=bad,
            facts={"executions": len(events), "timezone_unknown": zone_unknown > 0},
        )


def _rows(
    ctx: LoadContext, line_no: int, record: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """One execution's event, its metrics, and whether its time was naive without --tz."""
    when = record.get("completed_at") or record.get("started_at")
    ts, quality, unknown = local_ts(ctx, when)
    outcome = outcome_of(record.get("status"))
    stream = record.get("workflow_id") or f"executions:{ctx.path.name}"
    event = {
        "record_no": line_no,
        "ts": ts,
        "ts_raw": raw_text(when),
        "ts_quality": quality,
        "stream": stream,
        "position": line_no,
        "correlation_id": record.get("step_id"),
        "event_type": TYPE_BY_OUTCOME.get(str(outcome), "step.start"),
        "event_type_raw": f"execution.{record.get('status')}",
        "actor": record.get("skill"),
        "name": record.get("step_id"),
        "outcome": outcome,
        "severity": "error" if outcome in ("error", "timeout") else "info",
        "duration_ms": number(record.get("duration_ms")),
        "message": raw_text(record.get("error_message"))
        or f"{record.get('command')} {record.get('status')}",
        "attrs": record,
    }
    labels = {k: record.get(k) for k in LABELS}
    metrics = [
        {
            "record_no": line_no,
            "ts": ts,
            "ts_quality": quality,
            "stream": stream,
            "name": metric,
            "value": value,
            "unit": unit,
            "labels": labels,
        }
        for field, metric, unit in METRICS
        if (value := number(record.get(field))) is not None
    ]
    return event, metrics, unknown
