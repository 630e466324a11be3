"""Jido `diagnostics(project_id)` result (or its bare `telemetry` snapshot) exported as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from ..base import LoadContext, LoadResult, Quarantine
from ..reading.head import object_head
from ..records import BadRecord, guarded, raw_excerpt, read_doc
from ..records import number as as_number
from .rows import as_dict, make_event
from .taxonomy import classify, normalize_name

RECENT_EVENTS_CAP = 200
RECENT_ERRORS_CAP = 25
MARKERS = (
    b'"runtime_opts"',
    b'"event_counts"',
    b'"recent_events"',
    b'"recent_errors"',
    b'"watcher_enabled"',
    b'"pending_tool_call_count"',
    b'"recent_decisions"',
    b'"total_events"',
)


class DiagnosticsLoader:
    name: ClassVar[str] = "jido.diagnostics"
    system: ClassVar[str] = "jido"
    source: ClassVar[str] = "diagnostics"
    positions: ClassVar[str] = "grouped"  # rows numbered per table / snapshot, not one file order
    snapshot: ClassVar[bool] = True  # bounded newest-first lists: calls and results fall out apart
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "Jido.Code.Server diagnostics/1 result (or its telemetry snapshot) as JSON"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        return object_head(head) and sum(m in head for m in MARKERS) >= 2

    def load(self, ctx: LoadContext) -> LoadResult:
        doc, bad = read_doc(ctx.path)
        if bad:
            return LoadResult(records_read=1, quarantine=[bad])
        if not isinstance(doc, dict):
            return LoadResult(
                records_read=1,
                quarantine=[Quarantine(1, "not a JSON object", raw_excerpt(doc))],
            )
        telemetry = doc if "event_counts" in doc else as_dict(doc.get("telemetry"))
        project = doc.get("project_id") or telemetry.get("project_id")
        project = str(project) if project else None
        snapshot_at = datetime.fromtimestamp(ctx.path.stat().st_mtime, UTC)
        events: list[dict[str, Any]] = []
        quarantine: list[Quarantine] = []
        recent = _list(telemetry.get("recent_events"))
        errors = _list(telemetry.get("recent_errors"))
        decisions = _list(as_dict(doc.get("policy")).get("recent_decisions"))
        seen = {_identity(e) for e in recent if isinstance(e, dict)}
        for key, items in (
            ("recent_events", recent),
            ("recent_errors", errors),
            ("recent_decisions", decisions),
        ):
            for index, item in enumerate(items, start=1):
                row = guarded(
                    quarantine, index, f"{key}[{index}]", item,
                    self._event, ctx, key, index, len(items), item, project, seen,
                )
                if row is not None:
                    events.append(row)
        metrics = self._metrics(doc, telemetry, project, snapshot_at, quarantine)
        conversations = []
        for index, item in enumerate(_list(doc.get("conversations")), start=1):
            row = guarded(
                quarantine, index, f"conversations[{index}]", item, _conversation_row, item, project
            )
            if row is not None:
                conversations.append(row)
        tables = (
            {"jido_conversations": pa.Table.from_pylist(conversations, schema=_CONVERSATIONS)}
            if conversations
            else {}
        )
        counters = len(as_dict(telemetry.get("event_counts")))
        singles = sum(1 for m in metrics if m.get("record_no") is None)
        records = len(recent) + len(errors) + len(decisions) + counters + singles
        records += len(_list(doc.get("conversations")))
        facts = self._facts(doc, telemetry, project, recent, errors, snapshot_at)
        return LoadResult(
            records_read=records,
            events=events,
            metrics=metrics,
            tables=tables,
            quarantine=quarantine,
            facts=facts,
        )

    def _event(
        self,
        ctx: LoadContext,
        key: str,
        index: int,
        size: int,
        item: Any,
        project: str | None,
        seen: set[tuple[Any, ...]],
    ) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise BadRecord("not a JSON object")
        if key == "recent_decisions":
            decision = item.get("decision") or (
                "allow" if item.get("reason") == "allowed" else "deny"
            )
            raw_name = "policy.allowed" if decision == "allow" else "policy.denied"
        else:
            raw_name = item.get("event")
        # recent_errors repeats entries still present in recent_events: those rows are mirrors.
        mirror = key == "recent_errors" and _identity(item) in seen
        if key == "recent_events" and item.get("event_type"):
            mirror = item.get("event") != "conversation.event_ingested"
        return make_event(
            ctx,
            raw_name=raw_name,
            at=item.get("at"),
            fields=item,
            record_no=index,
            event_key=key,
            attrs=item,
            project=project,
            # the lists are newest-first; position counts in emit order (oldest = 1)
            position=size - index + 1,
            is_mirror=mirror,
        )

    def _metrics(
        self,
        doc: dict[str, Any],
        telemetry: dict[str, Any],
        project: str | None,
        at: datetime,
        quarantine: list[Quarantine],
    ) -> list[dict[str, Any]]:
        base = {"ts": at, "ts_quality": "derived", "project": project}
        rows: list[dict[str, Any]] = []
        for index, (event, count) in enumerate(
            sorted(as_dict(telemetry.get("event_counts")).items()), start=1
        ):
            value = as_number(count)
            if value is None:
                quarantine.append(
                    Quarantine(
                        index, f"event_counts[{event}]: count is not a number", raw_excerpt(count)
                    )
                )
            else:
                name = normalize_name(event)
                rows.append(
                    {
                        **base,
                        "record_no": index,
                        "name": "telemetry.event_count",
                        "value": value,
                        "unit": "events",
                        "labels": {"event": event, "event_type": classify(name)[0]},
                    }
                )
        health = as_dict(doc.get("health"))
        singles = [
            ("telemetry.total_events", telemetry.get("total_events"), "events"),
            ("health.error_count", health.get("error_count"), "errors"),
            ("health.conversation_count", health.get("conversation_count"), "conversations"),
        ]
        for name, raw, unit in singles:
            value = as_number(raw)
            if value is not None:
                rows.append(
                    {
                        **base,
                        "name": name,
                        "value": value,
                        "unit": unit,
                        "labels": {"status": health.get("status")} if health else None,
                    }
                )
        return rows

    def _facts(
        self,
        doc: dict[str, Any],
        telemetry: dict[str, Any],
        project: str | None,
        recent: list[Any],
        errors: list[Any],
        at: datetime,
    ) -> dict[str, Any]:
        total = telemetry.get("total_events")
        events_cut = len(recent) >= RECENT_EVENTS_CAP or (
            isinstance(total, int) and total > len(recent)
        )
        return {
            "project_id": project,
            "snapshot_time": {"value": at.isoformat(), "quality": "derived (file mtime)"},
            "recent_events": {
                "count": len(recent),
                "cap": RECENT_EVENTS_CAP,
                "truncated": events_cut,
                "total_events": total,
            },
            "recent_errors": {
                "count": len(errors),
                "cap": RECENT_ERRORS_CAP,
                "truncated": len(errors) >= RECENT_ERRORS_CAP,
            },
            "timeline_complete": not events_cut and len(errors) < RECENT_ERRORS_CAP,
            "health": doc.get("health"),
            "runtime_opts": doc.get("runtime_opts"),
            "watcher_enabled": doc.get("watcher_enabled"),
            "root_path": doc.get("root_path"),
            "data_dir": doc.get("data_dir"),
            "assets": doc.get("assets"),
            "policy": {
                k: v for k, v in as_dict(doc.get("policy")).items() if k != "recent_decisions"
            }
            or None,
        }


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _identity(item: dict[str, Any]) -> str:
    """What makes a recent_errors entry the same as a recent_events one (hashable, any values)."""
    keys = ("event", "at", "conversation_id", "correlation_id")
    return raw_excerpt([item.get(k) for k in keys]) or ""


def _is_int64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


_TEXT = ("conversation_id", "status", "last_event_type", "last_event_at")
_COUNTS = ("subscriber_count", "event_count", "pending_tool_call_count")


_CONVERSATIONS = pa.schema(
    [("project", pa.string())]
    + [(k, pa.string()) for k in _TEXT]
    + [(k, pa.int64()) for k in _COUNTS]
    + [("attrs", pa.string())]
)


def _conversation_row(item: Any, project: str | None) -> dict[str, Any]:
    """A fixed, typed row so the table's schema never depends on which values were null."""
    if not isinstance(item, dict):
        raise BadRecord("not a JSON object")
    row: dict[str, Any] = {"project": str(item.get("project_id") or project or "") or None}
    for key in _TEXT:
        row[key] = None if item.get(key) is None else str(item[key])
    for key in _COUNTS:
        value = item.get(key)
        row[key] = value if _is_int64(value) else None
    row["attrs"] = json.dumps(item, default=str, ensure_ascii=False)
    return row
