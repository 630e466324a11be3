"""Tapps `analytics/history/{agents,workflows}-YYYY-MM-DD.jsonl`: per-run durations and success."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import JsonLines, LoadContext, LoadResult
from .common import SYSTEM, in_tapps, local_ts, raw_text

VERBS = {True: "succeeded", False: "failed"}


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
        for number, record, _line in lines:
            ts, quality, unknown = local_ts(ctx, record.get("timestamp"))
            zone_unknown += unknown
            who = record.get(f"{kind}_id") or record.get(f"{kind}_name")
            success = record.get("success")
            outcome = "ok" if success is True else ("error" if success is False else None)
            stream = str(record.get("workflow_id") or f"analytics:{kind}s")
            events.append(
                {
                    "record_no": number,
                    "ts": ts,
                    "ts_raw": raw_text(record.get("timestamp")),
                    "ts_quality": quality,
                    "stream": stream,
                    "position": number,
                    "event_type": "telemetry",
                    "event_type_raw": f"analytics.{kind}",
                    "actor": record.get("agent_name") if kind == "agent" else None,
                    "name": raw_text(who),
                    "outcome": outcome,
                    "severity": "warning" if outcome == "error" else "info",
                    "duration_ms": record["duration"] * 1000.0
                    if isinstance(record.get("duration"), int | float)
                    else None,
                    "message": f"{kind} {who} {VERBS.get(success, 'finished')}",
                    "attrs": record,
                }
            )
            for field, unit in (("duration", "s"), ("steps", "count")):
                value = record.get(field)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    metrics.append(
                        {
                            "record_no": number,
                            "ts": ts,
                            "ts_quality": quality,
                            "stream": stream,
                            "name": f"{kind}.{field}",
                            "value": float(value),
                            "unit": unit,
                            "labels": {"name": who, "success": success},
                        }
                    )
        return LoadResult(
            records_read=lines.read,
            events=events,
            metrics=metrics,
            quarantine=bad,
            facts={"kind": kind, "timezone_unknown": zone_unknown > 0},
        )
