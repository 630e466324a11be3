"""Tapps error envelopes (agent results, dead-letter entries): JSON document, array or JSONL."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from ..base import JsonLines, LoadContext, LoadResult, Quarantine, excerpt, first_value
from ..reading import iter_lines, read_document
from ..reading.text import BOM
from ..records import dumped, isolated
from .common import SYSTEM, in_tapps, local_ts, mtime_of, raw_text

CATEGORIES = (
    "configuration", "external_dependency", "validation", "execution", "permission", "timeout"
)
CATEGORY_SEVERITY = {"timeout": "error", "external_dependency": "warning"}
LINE_START = re.compile(rb"\n[ \t]*\{")


def records_of(path: Path, bad: list[Quarantine]) -> tuple[int, list[tuple[int, Any, str]]]:
    """(records read, [(record_no, object, raw)]) of a document, an array (1-based) or JSON lines.

    Records that are not JSON objects go to `bad`; a broken pretty-printed (or gzip) document is
    one record.
    """
    doc = read_document(path)
    if doc.problem is None:
        listed = isinstance(doc.value, list)
        items = doc.value if listed else [doc.value]
        found = []
        for index, item in enumerate(items, start=1):
            raw = dumped(item) if listed else doc.text
            if isinstance(item, dict):
                found.append((index, item, raw))
            else:
                bad.append(Quarantine(index, "not a JSON object", excerpt(raw)))
        return len(items), found
    if doc.gzipped or _pretty_printed(path):
        bad.append(dataclasses.replace(doc.problem, record_no=1))
        return 1, []
    lines = JsonLines(path, bad)
    found = list(lines)
    return lines.read, found


def _pretty_printed(path: Path) -> bool:
    """A document written with indentation opens with a bare `{` or `[` line; JSON lines never do."""
    lines = iter_lines(path)
    try:
        first = next(lines, (0, ""))[1]
    finally:
        lines.close()
    return first.strip() in ("{", "[")


class ErrorEnvelopeLoader:
    name: ClassVar[str] = "tapps.error_envelope"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "error_envelope"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "Tapps ErrorEnvelope results / DLQ entries ({success:false, error:{code,category,...}})"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        # a document, an array, or JSON lines (whose first line may be damaged)
        if head.removeprefix(BOM).lstrip()[:1] not in (b"{", b"[") and not LINE_START.search(head):
            return False
        compact = head.replace(b" ", b"")
        envelope = b'"success":false' in compact and b'"error":{' in compact
        known = any(b'"category":"%s"' % c.encode() in compact for c in CATEGORIES)
        return envelope and b'"code"' in head and (known or in_tapps(path))

    def load(self, ctx: LoadContext) -> LoadResult:
        bad: list[Quarantine] = []
        records, items = records_of(ctx.path, bad)
        mtime = mtime_of(ctx.path)
        events: list[dict[str, Any]] = []
        zone_unknown = 0
        for record_no, record, raw in items:
            error = record.get("error")
            if not isinstance(error, dict | str):
                bad.append(Quarantine(record_no, "no error envelope (error missing)", excerpt(raw)))
            elif built := isolated(bad, record_no, raw, _event, ctx, record_no, record, mtime):
                events.append(built[0])
                zone_unknown += built[1]
        bad.sort(key=lambda q: q.record_no or 0)
        return LoadResult(
            records_read=records,
            events=events,
            quarantine=bad,
            facts={
                "envelopes": len(events),
                "recoverable": sum(1 for e in events if e["attrs"]["recoverable_effective"]),
                "codes": sorted({e["error_code"] for e in events if e["error_code"]}),
                "timezone_unknown": zone_unknown > 0,
            },
        )


def _event(
    ctx: LoadContext, record_no: int, record: dict[str, Any], mtime: datetime
) -> tuple[dict[str, Any], bool]:
    """One envelope's error event, and whether its time was naive without --tz."""
    error = record["error"]
    envelope = error if isinstance(error, dict) else {"code": "error", "message": error}
    when = first_value(record, "timestamp", "failed_at", "created_at", "enqueued_at")
    ts, quality, unknown = local_ts(ctx, when)
    if when is None:  # envelopes carry no time of their own: the file's mtime, labelled
        ts, quality = mtime, "derived"
    category = envelope.get("category")
    event = {
        "record_no": record_no,
        "ts": ts,
        "ts_raw": raw_text(when),
        "ts_quality": quality,
        "stream": record.get("workflow_id") or f"envelopes:{ctx.path.name}",
        "position": record_no,
        "correlation_id": record.get("correlation_id") or record.get("step_id"),
        "event_type": "error",
        "event_type_raw": "error_envelope",
        "actor": record.get("agent"),
        "name": record.get("step_id"),
        "outcome": "timeout" if category == "timeout" else "error",
        "severity": CATEGORY_SEVERITY.get(str(category), "error"),
        "message": raw_text(envelope.get("message")),
        "error_code": raw_text(envelope.get("code")),
        "error_category": raw_text(category),
        "attrs": {**record, "recoverable_effective": envelope.get("recoverable") is True},
    }
    return event, unknown
