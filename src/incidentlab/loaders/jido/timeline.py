"""Jido `incident_timeline(project_id, conversation_id, ...)` result exported as JSON."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from ...timeparse import parse_ts
from ..base import Check, LoadContext, LoadResult, Quarantine
from ..reading.head import object_head
from ..records import BadRecord, guarded, raw_excerpt, read_doc
from .checks import CHECKS
from .rows import as_dict, conversation_fields, make_event

_SOURCE = re.compile(rb'"source"\s*:\s*"(conversation|telemetry)"')


class IncidentTimelineLoader:
    name: ClassVar[str] = "jido.incident_timeline"
    system: ClassVar[str] = "jido"
    source: ClassVar[str] = "incident_timeline"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "Jido.Code.Server incident_timeline/3 result as JSON (conversation + telemetry entries)"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        return (
            object_head(head)
            and b'"entries"' in head
            and b'"conversation_id"' in head
            and bool(_SOURCE.search(head))
        )

    def load(self, ctx: LoadContext) -> LoadResult:
        doc, bad = read_doc(ctx.path)
        if bad:
            return LoadResult(records_read=1, quarantine=[bad])
        if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
            return LoadResult(
                records_read=1,
                quarantine=[
                    Quarantine(1, "not an incident timeline (no entries list)", raw_excerpt(doc))
                ],
            )
        entries: list[Any] = doc["entries"]
        project = doc.get("project_id") if isinstance(doc.get("project_id"), str) else None
        events: list[dict[str, Any]] = []
        quarantine: list[Quarantine] = []
        for index, entry in enumerate(entries, start=1):
            row = guarded(
                quarantine, index, f"entries[{index}]", entry,
                self._entry, ctx, index, entry, doc, project,
            )
            if row is not None:
                events.append(row)
        limit, total = doc.get("limit"), doc.get("total_entries")
        facts = {
            "project_id": project,
            "conversation_id": doc.get("conversation_id"),
            "correlation_id": doc.get("correlation_id"),
            "limit": limit,
            "total_entries": total,
            "entries": len(entries),
            # incident_timeline keeps only the LAST `limit` entries: earlier history may be cut.
            "possibly_truncated": isinstance(limit, int) and len(entries) >= limit,
        }
        return LoadResult(
            records_read=len(entries), events=events, quarantine=quarantine, facts=facts
        )

    def _entry(
        self, ctx: LoadContext, index: int, entry: Any, doc: dict[str, Any], project: str | None
    ) -> dict[str, Any]:
        if not isinstance(entry, dict):
            raise BadRecord("not a JSON object")
        payload = as_dict(entry.get("payload"))
        origin = entry.get("source")
        if origin == "conversation":
            fields = conversation_fields(payload)
            mirror = False
        elif origin == "telemetry":
            fields = dict(payload)
            # telemetry entries with a conversation event_type re-announce a conversation event
            mirror = bool(payload.get("event_type")) and payload.get("event") != (
                "conversation.event_ingested"
            )
        else:
            raise BadRecord(f"unknown source {origin!r}")
        for key in ("conversation_id", "correlation_id"):
            fields[key] = entry.get(key) or fields.get(key) or doc.get(key)
        return make_event(
            ctx,
            raw_name=entry.get("event") or payload.get("type") or payload.get("event"),
            at=_best_time(entry.get("at"), payload.get("at")),
            fields=fields,
            record_no=index,
            attrs=entry,
            project=project,
            position=index,
            is_mirror=mirror,
            fallback="unknown" if origin == "conversation" else "telemetry",
        )


def _best_time(entry_at: Any, payload_at: Any) -> Any:
    """The payload's own `at` (microseconds) beats the entry's (milliseconds) when it parses."""
    if isinstance(payload_at, str | int) and parse_ts(payload_at)[0] is not None:
        return payload_at
    return entry_at
