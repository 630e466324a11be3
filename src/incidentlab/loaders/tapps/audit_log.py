"""Tapps `audit/execution_audit.log`: `local time | LEVEL | {json}` lines of command execution."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Quarantine, excerpt, iter_lines
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
        events: list[dict[str, Any]] = []
        bad: list[Quarantine] = []
        seen: set[str] = set()
        records = zone_unknown = 0
        offsets: set[int | None] = set()
        for number, line in iter_lines(ctx.path):
            records += 1
            match = LINE.match(line)
            if not match:
                bad.append(Quarantine(number, "not `time | LEVEL | {json}`", excerpt(line)))
                continue
            try:
                record = json.loads(match["body"])
            except ValueError as exc:
                bad.append(Quarantine(number, f"malformed JSON: {exc}", excerpt(line)))
                continue
            if not isinstance(record, dict):
                bad.append(Quarantine(number, "payload is not a JSON object", excerpt(line)))
                continue
            raw_ts = record.get("timestamp") or match["asctime"]  # the prefix is local time
            ts, quality, unknown = local_ts(ctx, raw_ts)
            zone_unknown += unknown
            raw_type = record.get("event_type")
            event_type = TYPES.get(str(raw_type), "log")
            details = record.get("details") if isinstance(record.get("details"), dict) else {}
            duration = details.get("duration_ms")
            outcome = outcome_of(record.get("status")) or (
                "error" if event_type == "step.fail" else None
            )
            events.append(
                {
                    "record_no": number,
                    "ts": ts,
                    "ts_raw": raw_text(raw_ts),
                    "ts_quality": quality,
                    "stream": record.get("workflow_id") or f"audit:{ctx.path.name}",
                    "position": number,
                    "correlation_id": record.get("step_id"),
                    "event_type": event_type,
                    "event_type_raw": raw_type,
                    "name": record.get("step_id"),
                    "outcome": outcome,
                    "severity": "error"
                    if outcome == "error"
                    else severity_of_level(match["level"]),
                    "duration_ms": float(duration) if isinstance(duration, int | float) else None,
                    "message": " ".join(
                        str(p) for p in (raw_type, record.get("command"), record.get("status")) if p
                    ),
                    # the same line written again (several handlers on one logger) is a copy
                    "is_mirror": line in seen,
                    "attrs": {**record, "_asctime": match["asctime"], "_level": match["level"]},
                }
            )
            seen.add(line)
            offsets.add(_offset_minutes(ctx, match["asctime"], ts))
        return LoadResult(
            records_read=records,
            events=events,
            quarantine=bad,
            facts={
                "duplicate_lines": sum(1 for e in events if e["is_mirror"]),
                "timezone_unknown": zone_unknown > 0,
                # local prefix minus the UTC payload time: the writer's UTC offset (hint for --tz)
                "writer_utc_offset_minutes": sorted(o for o in offsets if o is not None),
            },
        )


def _offset_minutes(ctx: LoadContext, asctime: str, utc: datetime | None) -> int | None:
    local, _ = ctx.parse_ts(asctime)  # the naive prefix read as if it were UTC
    if local is None or utc is None:
        return None
    return round((local - utc).total_seconds() / 60)
