"""CodingBuddy `observe.log`: `<rfc3339> <LEVEL> <text>` lines; rate-limit lines recognised."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Quarantine, excerpt, path_has
from ..reading import decode, iter_raw_lines, parse_json
from .events import RUNTIME_DIRS
from .taxonomy import EVENT_TYPES, workspace_name

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\S+)\s+([A-Z_]+)\s?(.*)$")
# The CLI counts rate-limit incidents by these case-insensitive substrings.
RATE_LIMIT = re.compile(r"429|rate limit", re.IGNORECASE)
SEVERITY = {"ERROR": "error", "WARN": "warning", "WARNING": "warning", "TELEMETRY_ERROR": "warning",
            "INFO": "info", "DEBUG": "debug", "TRACE": "debug", "EVENT": "info"}


class ObserveLogLoader:
    name: ClassVar[str] = "codingbuddy.observe_log"
    system: ClassVar[str] = "codingbuddy"
    source: ClassVar[str] = "observe_log"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "CodingBuddy observe.log (WARN / TELEMETRY_ERROR / EVENT lines)"

    def detect(self, path: Path, head: bytes) -> bool:
        return path.name == "observe.log" and path_has(path, *RUNTIME_DIRS)

    def load(self, ctx: LoadContext) -> LoadResult:
        project = workspace_name(ctx.path)
        events: list[dict[str, Any]] = []
        quarantine: list[Quarantine] = []
        records = 0
        for number, raw in iter_raw_lines(ctx.path):
            records += 1
            event = self._event(ctx, number, decode(raw), project)
            if event is None:
                quarantine.append(Quarantine(number, "not `<rfc3339> <LEVEL> <text>`", excerpt(raw)))
            else:
                events.append(event)
        return LoadResult(records_read=records, events=events, quarantine=quarantine)

    def _event(
        self, ctx: LoadContext, number: int, text: str, project: str | None
    ) -> dict[str, Any] | None:
        match = LINE.match(text)
        ts, quality = ctx.parse_ts(match.group(1)) if match else (None, "missing")
        if not match or ts is None:
            return None
        raw_ts, level, rest = match.groups()
        event = {
            "record_no": number, "ts": ts, "ts_raw": raw_ts, "ts_quality": quality,
            "stream": "observe.log", "position": number, "project": project,
            "event_type": "log", "event_type_raw": level,
            "severity": SEVERITY.get(level, "info"), "message": rest[:300],
            "attrs": {"level": level, "text": rest},
        }
        if level == "EVENT":
            self._embedded_event(rest, event)
        elif RATE_LIMIT.search(rest):
            event.update(event_type="llm.rate_limited", severity="warning",
                         outcome="error", error_code="rate_limited")
        elif level == "TELEMETRY_ERROR":
            event.update(event_type="error", error_code="telemetry_error",
                         error_category="telemetry")
        return event

    @staticmethod
    def _embedded_event(rest: str, event: dict[str, Any]) -> None:
        """An `EVENT <EventEnvelope JSON>` line: typed like the JSONL stream, stream = its session."""
        envelope, _ = parse_json(rest)
        kind = envelope.get("kind") if isinstance(envelope, dict) else None
        if not isinstance(kind, dict) or kind.get("type") is None:
            return  # not an envelope: the line stays a plain log event
        kind_type = str(kind["type"])
        variant = kind_type.removesuffix("V1")
        event.update(
            event_type=EVENT_TYPES.get(variant, "unknown"), event_type_raw=kind_type,
            stream=envelope.get("session_id") or event["stream"], attrs=envelope,
            message=f"EVENT {kind_type}",
        )
