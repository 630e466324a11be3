"""coding-loops `loop-*/specs/health.json`: the legacy heartbeat file, overwritten in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Quarantine
from ..reading.head import object_head
from ..records import BadRecord, guarded, raw_excerpt, read_doc
from ..records import number as as_number
from .common import loop_name, short


class HealthJsonLoader:
    name: ClassVar[str] = "coding_loops.health_json"
    system: ClassVar[str] = "coding_loops"
    source: ClassVar[str] = "health_json"
    positions: ClassVar[str] = "grouped"  # rows numbered per table / snapshot, not one file order
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "coding-loops loop-*/specs/health.json (legacy heartbeat file)"

    def detect(self, path: Path, head: bytes) -> bool:
        return object_head(head) and b'"loop_name"' in head and b'"last_heartbeat"' in head

    def load(self, ctx: LoadContext) -> LoadResult:
        doc, bad = read_doc(ctx.path)
        if bad is None and not isinstance(doc, dict):
            bad = Quarantine(1, "not a JSON object", raw_excerpt(doc))
        if bad is not None:
            return LoadResult(records_read=1, quarantine=[bad])
        quarantine: list[Quarantine] = []
        built = guarded(quarantine, 1, "", doc, self._rows, ctx, doc)
        if built is None:
            return LoadResult(records_read=1, quarantine=quarantine)
        event, metrics = built
        return LoadResult(
            records_read=1,
            events=[event],
            metrics=metrics,
            facts={"status": doc.get("status"), "pid": doc.get("pid")},
        )

    @staticmethod
    def _rows(ctx: LoadContext, doc: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
        raw = doc.get("last_heartbeat")
        ts, quality = ctx.parse_ts(raw)
        if ts is None:
            raise BadRecord(f"last_heartbeat missing or not parseable: {raw!r}")
        project = loop_name(ctx.path)
        status = doc.get("status")
        progress = doc.get("progress") if isinstance(doc.get("progress"), dict) else {}
        passed, total = progress.get("passed"), progress.get("total")
        error = status == "error"
        event = {
            "record_no": 1,
            "ts": ts,
            "ts_raw": raw,
            "ts_quality": quality,
            "stream": project or doc.get("loop_name"),
            "position": 1,
            "project": project,
            "event_type": "heartbeat",
            "event_type_raw": "health.json",
            # the loop's id (its folder), as component_health names it: one heartbeat group per loop
            "actor": project or doc.get("loop_name"),
            "name": doc.get("current_test"),
            "outcome": "error" if error else None,
            "severity": "error" if error else "info",
            "message": short(
                f"{doc.get('loop_name')} {status} {doc.get('current_test') or '-'} "
                f"({passed}/{total} passed)"
            ),
            "attrs": doc,
        }
        metrics = [
            {
                "record_no": 1,
                "ts": ts,
                "ts_quality": quality,
                "stream": event["stream"],
                "project": project,
                "name": name,
                "value": as_number(value),
                "unit": "tests",
                "labels": {"status": status},
            }
            for name, value in (("tests_passed", passed), ("tests_total", total))
            if as_number(value) is not None
        ]
        return event, metrics
