"""Tapps structured JSON logs (TAPPS_AGENTS_STRUCTURED_LOGGING=true), one record per line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from ...errors import NeedsTimezoneError
from ...timeparse import has_zone
from ..base import JsonLines, LoadContext, LoadResult
from ..reading.text import BOM
from ..records import isolated
from .common import SYSTEM, duration_ms, in_tapps, raw_text, severity_of_level

# Messages the workflow logger writes (and the runbook's example) -> step / workflow events.
MESSAGE_TYPES = (
    (re.compile(r"^step started", re.I), "step.start", None),
    (re.compile(r"^step completed", re.I), "step.finish", "ok"),
    (re.compile(r"^step failed", re.I), "step.fail", "error"),
    (re.compile(r"^step skipped", re.I), "step.skip", "skipped"),
    (re.compile(r"^workflow started", re.I), "workflow.start", None),
    (re.compile(r"^workflow completed", re.I), "workflow.end", "ok"),
    (re.compile(r"^workflow failed", re.I), "workflow.end", "error"),
)


def classify(message: object) -> tuple[str, str | None]:
    if isinstance(message, str):
        for pattern, event_type, outcome in MESSAGE_TYPES:
            if pattern.match(message.strip()):
                return event_type, outcome
    return "log", None


class StructuredLogLoader:
    name: ClassVar[str] = "tapps.structured_log"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "structured_log"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "Tapps JSON log lines (timestamp/level/logger/message); naive local times need --tz"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        # a redirected stderr may start with plain lines: some line must be a JSON object
        head = head.removeprefix(BOM)
        if path.name.endswith(".events.jsonl") or not re.search(rb"(?:^|\n)\{", head):
            return False
        fields = all(k in head for k in (b'"timestamp"', b'"level"', b'"logger"', b'"message"'))
        return fields and (b'"tapps_agents' in head or in_tapps(path))

    def load(self, ctx: LoadContext) -> LoadResult:
        lines = JsonLines(ctx.path)
        bad = lines.quarantine
        parsed = list(lines)
        naive = [
            r["timestamp"]
            for _, r, _ in parsed
            if isinstance(r.get("timestamp"), str) and not has_zone(r["timestamp"])
        ]
        if naive and ctx.tz is None:
            # logging's asctime is the writer's local time: refuse to guess its zone.
            raise NeedsTimezoneError(str(ctx.path), naive[0])
        fallback = f"log:{ctx.path.name}"
        events = [
            event
            for line_no, record, line in parsed
            if (event := isolated(bad, line_no, line, self._event, ctx, line_no, record, fallback))
        ]
        bad.sort(key=lambda q: q.record_no or 0)
        return LoadResult(
            records_read=lines.read,
            events=events,
            quarantine=bad,
            facts={
                "naive_local_timestamps": len(naive),
                "tz": ctx.tz_name,
                "workflows": sorted(
                    {str(r["workflow_id"]) for _, r, _ in parsed if r.get("workflow_id")}
                ),
            },
        )

    @staticmethod
    def _event(ctx: LoadContext, line_no: int, record: dict[str, Any], fallback: str) -> dict:
        ts, quality = ctx.parse_ts(record.get("timestamp"), naive="local")
        event_type, outcome = classify(record.get("message"))
        severity = severity_of_level(record.get("level"))
        if event_type == "log" and severity in ("error", "critical"):
            outcome = "error"
        return {
            "record_no": line_no,
            "ts": ts,
            "ts_raw": raw_text(record.get("timestamp")),
            "ts_quality": quality,
            "stream": record.get("workflow_id") or fallback,
            "position": line_no,
            "correlation_id": record.get("step_id"),
            "event_type": event_type,
            "event_type_raw": record.get("logger"),
            "actor": record.get("agent"),
            "name": record.get("step_id") or record.get("logger"),
            "outcome": outcome,
            "severity": severity,
            "duration_ms": duration_ms(record.get("duration_seconds")),
            "message": raw_text(record.get("message")),
            "attrs": record,
        }
