"""Shared loading of a run's small JSON artifacts (one document -> one event, facts, metrics)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..base import LoadContext, LoadResult, Quarantine, excerpt
from .common import derived_event, read_json_doc, run_id_for


@dataclass
class Summary:
    """What one artifact says: a message, how bad it is, numbers worth charting, facts."""

    message: str
    severity: str = "info"
    outcome: str | None = None
    metrics: dict[str, tuple[float, str]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


def load_json_artifact(
    ctx: LoadContext, artifact: str, summarize: Callable[[dict[str, Any]], Summary]
) -> LoadResult:
    """One record: the document. Unparseable or non-object documents are quarantined."""
    doc, text, error = read_json_doc(ctx.path)
    facts: dict[str, Any] = {"run_id": run_id_for(ctx.path), "artifact": artifact}
    if error or not isinstance(doc, dict):
        reason = error or "not a JSON object"
        facts["parse_error"] = reason
        return LoadResult(
            records_read=1, quarantine=[Quarantine(1, reason, excerpt(text))], facts=facts
        )
    summary = summarize(doc)
    event = derived_event(
        ctx.path,
        record_no=1,
        position=1,
        event_type="artifact.created",
        event_type_raw=artifact,
        name=artifact,
        outcome=summary.outcome,
        severity=summary.severity,
        message=summary.message,
        attrs=doc,
    )
    metrics = [
        {
            "record_no": 1,
            "ts": event["ts"],
            "ts_quality": "derived",
            "stream": event["stream"],
            "name": name,
            "value": float(value),
            "unit": unit,
            "labels": {"artifact": artifact},
        }
        for name, (value, unit) in summary.metrics.items()
    ]
    return LoadResult(
        records_read=1, events=[event], metrics=metrics, facts={**facts, **summary.facts}
    )


def number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def is_artifact(path: Path, name: str, folder: str, head: bytes, *markers: bytes) -> bool:
    if path.name != name:
        return False
    return path.parent.name == folder or all(m in head for m in markers)
