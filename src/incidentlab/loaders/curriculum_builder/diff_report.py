"""curriculum-builder `outputs/reviews/diff_report.json`: what changed between versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult
from ..records import number
from .artifact_base import Summary, is_artifact, load_json_artifact
from .common import SYSTEM


def _count(doc: dict[str, Any], key: str) -> int:
    value = doc.get(key)
    return len(value) if isinstance(value, list) else 0


def summarize(doc: dict[str, Any]) -> Summary:
    added, removed, changed = (
        _count(doc, k) for k in ("added_nodes", "removed_nodes", "changed_nodes")
    )
    delta = number(doc.get("time_delta_minutes"))
    critical = doc.get("critical_path_changed") is True
    metrics = {
        "diff.added_nodes": (added, "nodes"),
        "diff.removed_nodes": (removed, "nodes"),
        "diff.changed_nodes": (changed, "nodes"),
    }
    if delta is not None:
        metrics["diff.time_delta_minutes"] = (delta, "min")
    return Summary(
        message=f"diff generated: +{added} -{removed} ~{changed} nodes, time delta {delta} min"
        + (", critical path changed" if critical else ""),
        metrics=metrics,
        facts={"critical_path_changed": critical, "removed_nodes": doc.get("removed_nodes")},
    )


class DiffReportLoader:
    name: ClassVar[str] = "curriculum_builder.diff_report"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "diff_report"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "curriculum-builder outputs/reviews/diff_report.json"

    def detect(self, path: Path, head: bytes) -> bool:
        return is_artifact(path, "diff_report.json", "reviews", head, b'"added_nodes"')

    def load(self, ctx: LoadContext) -> LoadResult:
        return load_json_artifact(ctx, "diff_report", summarize)
