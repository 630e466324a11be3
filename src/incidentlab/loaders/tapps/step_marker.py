"""Tapps step markers `workflows/markers/<workflow_id>/step-<step_id>/{DONE,FAILED}.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Quarantine, excerpt
from ..records import isolated, read_object
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
        document, problem = read_object(ctx.path, 1)
        if problem is not None:
            return LoadResult(1, quarantine=[problem])
        doc = document.value
        if not doc.get("step_id"):
            return LoadResult(1, quarantine=[Quarantine(1, "step_id missing", excerpt(document.text))])
        bad: list[Quarantine] = []
        built = isolated(bad, 1, document.text, _marker, ctx, doc)
        if built is None:
            return LoadResult(1, quarantine=bad)
        event, facts = built
        return LoadResult(1, events=[event], facts=facts)


def _marker(ctx: LoadContext, doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The marker's one event and its facts."""
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
    facts = {
        "workflow_id": event["stream"],
        "step_id": doc.get("step_id"),
        "marker": ctx.path.name,
        "timezone_unknown": unknown,
        "missing_artifacts": sorted(set(map(str, expected)) - set(map(str, found)))
        if isinstance(expected, list) and isinstance(found, list)
        else None,
    }
    return event, facts
