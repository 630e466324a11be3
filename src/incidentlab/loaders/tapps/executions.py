"""Tapps `metrics/executions_YYYY-MM-DD.jsonl`: one finished step execution per line (+ metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import JsonLines, LoadContext, LoadResult, Quarantine, excerpt
from .common import SYSTEM, in_tapps, local_ts, outcome_of, raw_text

TYPE_BY_OUTCOME = {
    "ok": "step.finish",
    "error": "step.fail",
    "timeout": "step.fail",
    "skipped": "step.skip",
}
METRICS = (("duration_ms", "step.duration_ms", "ms"), ("retry_count", "step.retry_count", "count"))


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
        for number, record, line in lines:
            if not record.get("step_id"):
                bad.append(Quarantine(number, "not an execution record (step_id)", excerpt(line)))
                continue
            when = record.get("completed_at") or record.get("started_at")
            ts, quality, unknown = local_ts(ctx, when)
            zone_unknown += unknown
            outcome = outcome_of(record.get("status"))
            stream = record.get("workflow_id") or f"executions:{ctx.path.name}"
            duration = record.get("duration_ms")
            events.append(
                {
                    "record_no": number,
                    "ts": ts,
                    "ts_raw": raw_text(when),
                    "ts_quality": quality,
                    "stream": stream,
                    "position": number,
                    "correlation_id": record.get("step_id"),
                    "event_type": TYPE_BY_OUTCOME.get(str(outcome), "step.start"),
                    "event_type_raw": f"execution.{record.get('status')}",
                    "actor": record.get("skill"),
                    "name": record.get("step_id"),
                    "outcome": outcome,
                    "severity": "error" if outcome in ("error", "timeout") else "info",
                    "duration_ms": float(duration) if isinstance(duration, int | float) else None,
                    "message": raw_text(record.get("error_message"))
                    or f"{record.get('command')} {record.get('status')}",
                    "attrs": record,
                }
            )
            labels = {
                k: record.get(k)
                for k in (
                    "execution_id",
                    "workflow_id",
                    "step_id",
                    "command",
                    "skill",
                    "status",
                    "gate_pass",
                )
            }
            for field, metric, unit in METRICS:
                value = record.get(field)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    metrics.append(
                        {
                            "record_no": number,
                            "ts": ts,
                            "ts_quality": quality,
                            "stream": stream,
                            "name": metric,
                            "value": float(value),
                            "unit": unit,
                            "labels": labels,
                        }
                    )
        return LoadResult(
            records_read=lines.read,
            events=events,
            metrics=metrics,
            quarantine=bad,
            facts={"executions": len(events), "timezone_unknown": zone_unknown > 0},
        )
