"""Tapps step markers `workflows/markers/<workflow_id>/step-<step_id>/{DONE,FAILED}.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Quarantine, excerpt
from .common import SYSTEM, duration_ms, in_tapps, local_ts, raw_text

KINDS = {"DONE.json": ("step.finish", "ok"), "FAILED.json": ("step.fail", "error")}


class StepMarkerLoader:
    name: ClassVar[str] = "tapps.step_marker"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "step_marker"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "Tapps step markers DONE.json / FAILED.json (naive local times)"

    def detect(self, path: Path, head: bytes) -> bool:
        if path.name not in KINDS:
            return False
        return in_tapps(path) or (b'"step_id"' in head and b'"workflow_id"' in head)

    def load(self, ctx: LoadContext) -> LoadResult:
        text = ctx.path.read_bytes().decode("utf-8", "replace")
        try:
            doc: Any = json.loads(text)
        except ValueError as exc:
            return LoadResult(
                1, quarantine=[Quarantine(1, f"malformed JSON: {exc}", excerpt(text))]
            )
        if not isinstance(doc, dict) or not doc.get("step_id"):
            reason = "not a JSON object" if not isinstance(doc, dict) else "step_id missing"
            return LoadResult(1, quarantine=[Quarantine(1, reason, excerpt(text))])
        event_type, outcome = KINDS[ctx.path.name]
        when = doc.get("completed_at") or doc.get("timestamp")
        ts, quality, unknown = local_ts(ctx, when)
        error = doc.get("error")
        event = {
            "record_no": 1,
            "ts": ts,
            "ts_raw": raw_text(when),
            "ts_quality": quality,
            "stream": doc.get("workflow_id") or ctx.path.parent.parent.name,
            "position": 1,
            "correlation_id": doc.get("step_id"),
            "event_type": event_type,
            "event_type_raw": ctx.path.name.removesuffix(".json"),
            "actor": doc.get("agent"),
            "name": doc.get("step_id"),
            "outcome": outcome,
            "severity": "error" if outcome == "error" else "info",
            "duration_ms": duration_ms(doc.get("duration_seconds")),
            "message": raw_text(error) or f"step {doc.get('status') or outcome}",
            "error_code": raw_text(doc.get("error_type")),
            "attrs": doc,
        }
        expected = doc.get("expected_artifacts") or []
        found = doc.get("found_artifacts") or []
        return LoadResult(
            1,
            events=[event],
            facts={
                "workflow_id": event["stream"],
                "step_id": doc.get("step_id"),
                "marker": ctx.path.name,
                "timezone_unknown": unknown,
                "missing_artifacts": sorted(set(map(str, expected)) - set(map(str, found)))
                if isinstance(expected, list) and isinstance(found, list)
                else None,
            },
        )
