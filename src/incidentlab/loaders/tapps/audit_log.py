"""Tapps `audit/execution_audit.log`: `local time | LEVEL | {json}` lines of command execution."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Quarantine, excerpt
from ..reading import decode, escaped, iter_raw_lines, parse_json
from ..records import isolated, number
from .common import SYSTEM, in_tapps, local_ts, outcome_of, raw_text, severity_of_level

LINE = re.compile(
    r"^(?P<asctime>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:,\d+)?) \| (?P<level>\w+) \| (?P<body>.*)$"
)
TYPES = {
    "execution_started": "step.start",
    "execution_completed": "step.finish",
    "execution_failed": "step.fail",
}


class AuditLogLoader:
    name: ClassVar[str] = "tapps.audit_log"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "audit_log"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "Tapps execution_audit.log (rotating; repeated lines are mirrors)"

    def detect(self, path: Path, head: bytes) -> bool:
        if not path.name.startswith("execution_audit.log"):
            return False
        return in_tapps(path) or b' | {"timestamp"' in head

    def load(self, ctx: LoadContext) -> LoadResult:
        reader = _AuditReader(ctx)
        for line_no, raw in iter_raw_lines(ctx.path):
            reader.line(line_no, raw)
        events = reader.events
        return LoadResult(
            records_read=reader.records,
            events=events,
            quarantine=reader.bad,
            facts={
                "duplicate_lines": sum(1 for e in events if e["is_mirror"]),
                "timezone_unknown": reader.zone_unknown > 0,
                # local prefix minus the UTC payload time: the writer's UTC offset (hint for --tz)
                "writer_utc_offset_minutes": sorted(o for o in reader.offsets if o is not None),
            },
        )


class _AuditReader:
    """One audit log's lines as events; a line that is not `time | LEVEL | {json}` is quarantined."""

    def __init__(self, ctx: LoadContext) -> None:
        self.ctx = ctx
        self.events: list[dict[str, Any]] = []
        self.bad: list[Quarantine] = []
        self.seen: set[str] = set()
        self.records = self.zone_unknown = 0
        self.offsets: set[int | None] = set()

    def line(self, line_no: int, raw: bytes) -> None:
        self.records += 1
        line = decode(raw)
        match = LINE.match(line)
        if not match:
            self.bad.append(Quarantine(line_no, "not `time | LEVEL | {json}`", excerpt(raw)))
            return
        record, problem = parse_json(match["body"])
        if problem is None and not isinstance(record, dict):
            problem = "payload is not a JSON object"
        if problem is not None:
            self.bad.append(Quarantine(line_no, problem, excerpt(raw)))
            return
        built = isolated(self.bad, line_no, escaped(raw), self._event, line_no, line, match, record)
        if built is None:
            return
        event, unknown, offset = built
        self.events.append(event)
        self.zone_unknown += unknown
        self.seen.add(line)
        self.offsets.add(offset)

    def _event(
        self, line_no: int, line: str, match: re.Match[str], record: dict[str, Any]
    ) -> tuple[dict[str, Any], bool, int | None]:
        ctx = self.ctx
        raw_ts = record.get("timestamp") or match["asctime"]  # the prefix is local time
        ts, quality, unknown = local_ts(ctx, raw_ts)
        raw_type = record.get("event_type")
        event_type = TYPES.get(str(raw_type), "log")
        details = record.get("details") if isinstance(record.get("details"), dict) else {}
        outcome = outcome_of(record.get("status")) or (
            "error" if event_type == "step.fail" else None
        )
        event = {
            "record_no": line_no,
            "ts": ts,
            "ts_raw": raw_text(raw_ts),
            "ts_quality": quality,
            "stream": record.get("workflow_id") or f"audit:{ctx.path.name}",
            "position": line_no,
            "correlation_id": record.get("step_id"),
            "event_type": event_type,
            "event_type_raw": raw_type,
            "name": record.get("step_id"),
            "outcome": outcome,
            "severity": "error" if outcome == "error" else severity_of_level(match["level"]),
            "duration_ms": number(details.get("duration_ms")),
            "message": " ".join(
                str(p) for p in (raw_type, record.get("command"), record.get("status")) if p
            ),
            # the same line written again (several handlers on one logger) is a copy
            "is_mirror": line in self.seen,
            "attrs": {**record, "_asctime": match["asctime"], "_level": match["level"]},
        }
        return event, unknown, _offset_minutes(ctx, match["asctime"], ts)


def _offset_minutes(ctx: LoadContext, asctime: str, utc: datetime | None) -> int | None:
    local, _ = ctx.parse_ts(asctime)  # the naive prefix read as if it were UTC
    if local is None or utc is None:
        return None
    return round((local - utc).total_seconds() / 60)
