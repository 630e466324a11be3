"""Shared loading of a run's small JSON artifacts (one document -> one event, facts, metrics)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..base import LoadContext, LoadResult, Quarantine
from ..records import isolated, read_object
from .common import derived_event, run_id_for


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
    document, problem = read_object(ctx.path, 1)
    facts: dict[str, Any] = {"run_id": run_id_for(ctx.path), "artifact": artifact}
    if problem is not None:
        facts["parse_error"] = problem.reason
        return LoadResult(records_read=1, quarantine=[problem], facts=facts)
    bad: list[Quarantine] = []
    built = isolated(bad, 1, document.text, _rows, ctx, artifact, summarize, document.value)
    if built is None:
        return LoadResult(records_read=1, quarantine=bad, facts=facts)
    event, metrics, summary = built
    return LoadResult(
        records_read=1, events=[event], metrics=metrics, facts={**facts, **summary.facts}
    )


def _rows(
    ctx: LoadContext, artifact: str, summarize: Callable[[dict[str, Any]], Summary], doc: dict
) -> tuple[dict[str, Any], list[dict[str, Any]], Summary]:
    """The artifact's one event, its metrics, and its summary."""
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
    return event, metrics, summary


def is_artifact(path: Path, name: str, folder: str, head: bytes, *markers: bytes) -> bool:
    if path.name != name:
        return False
    return path.parent.name == folder or all(m in head for m in markers)
