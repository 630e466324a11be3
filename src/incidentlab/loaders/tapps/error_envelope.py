"""Tapps error envelopes (agent results, dead-letter entries): JSON document, array or JSONL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Quarantine, excerpt, first_value
from .common import SYSTEM, in_tapps, local_ts, mtime_of, raw_text

CATEGORIES = (
    "configuration", "external_dependency", "validation", "execution", "permission", "timeout"
)
CATEGORY_SEVERITY = {"timeout": "error", "external_dependency": "warning"}


def records_of(text: str) -> list[tuple[int, Any, str]]:
    """(record_no, parsed or None, raw) for a document, an array (1-based index) or JSON lines."""
    stripped = text.strip()
    try:
        doc = json.loads(stripped)
    except ValueError:
        doc = None
    else:
        if isinstance(doc, list):
            return [(i, item, json.dumps(item)) for i, item in enumerate(doc, start=1)]
        return [(1, doc, stripped)]
    found: list[tuple[int, Any, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append((number, json.loads(line), line))
        except ValueError:
            found.append((number, None, line))
    return found


class ErrorEnvelopeLoader:
    name: ClassVar[str] = "tapps.error_envelope"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "error_envelope"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "Tapps ErrorEnvelope results / DLQ entries ({success:false, error:{code,category,...}})"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        if head.lstrip()[:1] not in (b"{", b"["):
            return False
        compact = head.replace(b" ", b"")
        envelope = b'"success":false' in compact and b'"error":{' in compact
        known = any(b'"category":"%s"' % c.encode() in compact for c in CATEGORIES)
        return envelope and b'"code"' in head and (known or in_tapps(path))

    def load(self, ctx: LoadContext) -> LoadResult:
        text = ctx.path.read_bytes().decode("utf-8", "replace")
        items = records_of(text)
        mtime = mtime_of(ctx.path)
        events: list[dict[str, Any]] = []
        bad: list[Quarantine] = []
        zone_unknown = 0
        for number, record, raw in items:
            error = record.get("error") if isinstance(record, dict) else None
            if record is None:
                bad.append(Quarantine(number, "malformed JSON", excerpt(raw)))
                continue
            if not isinstance(error, dict) and not isinstance(error, str):
                bad.append(Quarantine(number, "no error envelope (error missing)", excerpt(raw)))
                continue
            envelope = error if isinstance(error, dict) else {"code": "error", "message": error}
            when = first_value(record, "timestamp", "failed_at", "created_at", "enqueued_at")
            ts, quality, unknown = local_ts(ctx, when)
            zone_unknown += unknown
            if when is None:  # envelopes carry no time of their own: the file's mtime, labelled
                ts, quality = mtime, "derived"
            category = envelope.get("category")
            events.append(
                {
                    "record_no": number,
                    "ts": ts,
                    "ts_raw": raw_text(when),
                    "ts_quality": quality,
                    "stream": record.get("workflow_id") or f"envelopes:{ctx.path.name}",
                    "position": number,
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
                    "attrs": {
                        **record,
                        "recoverable_effective": envelope.get("recoverable") is True,
                    },
                }
            )
        return LoadResult(
            records_read=len(items),
            events=events,
            quarantine=bad,
            facts={
                "envelopes": len(events),
                "recoverable": sum(1 for e in events if e["attrs"]["recoverable_effective"]),
                "codes": sorted({e["error_code"] for e in events if e["error_code"]}),
                "timezone_unknown": zone_unknown > 0,
            },
        )
