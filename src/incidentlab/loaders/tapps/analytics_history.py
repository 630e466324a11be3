"""Tapps `analytics/history/{agents,workflows}-YYYY-MM-DD.jsonl`: per-run durations and success."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import JsonLines, LoadContext, LoadResult
from ..records import isolated, number
from .common import SYSTEM, duration_ms, in_tapps, local_ts, raw_text

VERBS = {True: "succeeded", False: "failed"}
METRICS = (("duration", "s"), ("steps", "count"))


class AnalyticsHistoryLoader:
    name: ClassVar[str] = "tapps.analytics_history"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "analytics_history"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "Tapps analytics/history agents-*.jsonl and workflows-*.jsonl"

    def detect(self, path: Path, head: bytes) -> bool:
        name = path.name
        if not (name.startswith(("agents-", "workflows-")) and name.endswith(".jsonl")):
            return False
        return in_tapps(path) or (b'"success"' in head and b'"duration"' in head)

    def load(self, ctx: LoadContext) -> LoadResult:
        kind = "agent" if ctx.path.name.startswith("agents-") else "workflow"
        events: list[dict[str, Any]] = []
        metrics: list[dict[str, Any]] = []
        lines = JsonLines(ctx.path)
        bad = lines.quarantine
        zone_unknown = 0
        for line_no, record, line in lines:
            if built := isolated(bad, line_no, line, _rows, ctx, kind, line_no, record):
                event, measured, unknown = built
                events.append(event)
                metrics += measured
                zone_unknown += unknown
        return LoadResult(
            records_read=lines.read,
            events=events,
            metrics=metrics,
            quarantine=bad,
            facts={"kind": kind, "timezone_unknown": zone_unknown > 0},
        )


def _rows(
    ctx: LoadContext, kind: str, line_no: int, record: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """One run's telemetry event, its metrics, and whether its time was naive without --tz."""
    ts, quality, unknown = local_ts(ctx, record.get("timestamp"))
    who = record.get(f"{kind}_id") or record.get(f"{kind}_name")
    success = record.get("success")
    outcome = "ok" if success is True else ("error" if success is False else None)
    stream = str(record.get("workflow_id") or f"analytics:{kind}s")
    event = {
        "record_no": line_no,
        "ts": ts,
        "ts_raw": raw_text(record.get("timestamp")),
        "ts_quality": quality,
        "stream": stream,
        "position": line_no,
        "event_type": "telemetry",
        "event_type_raw": f"analytics.{kind}",
        "actor": record.get("agent_name") if kind == "agent" else None,
        "name": raw_text(who),
        "outcome": outcome,
        "severity": "warning" if outcome == "error" else "info",
        "duration_ms": duration_ms(record.get("duration")),
        "message": f"{kind} {who} {_verb(success)}",
        "attrs": record,
    }
    metrics = [
        {
            "record_no": line_no,
            "ts": ts,
            "ts_quality": quality,
            "stream": stream,
            "name": f"{kind}.{field}",
            "value": value,
            "unit": unit,
            "labels": {"name": who, "success": success},
        }
        for field, unit in METRICS
        if (value := number(record.get(field))) is not None
    ]
    return event, metrics, unknown


def _verb(success: object) -> str:
    return "finished" if isinstance(success, dict | list) else VERBS.get(success, "finished")
