"""curriculum-builder `outputs/reviews/optimization_trace.json`: stop reason, best score."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult
from ..records import number
from .artifact_base import Summary, is_artifact, load_json_artifact
from .common import SYSTEM


def summarize(doc: dict[str, Any]) -> Summary:
    iterations = doc.get("iterations") if isinstance(doc.get("iterations"), list) else []
    best = number(doc.get("best_score"))
    accepted = doc.get("accepted")
    metrics = {"optimization.iterations": (float(len(iterations)), "iterations")}
    if best is not None:
        metrics["optimization.best_score"] = (best, "score")
    return Summary(
        message=f"optimization stopped ({doc.get('stop_reason')}): best score {best}, "
        f"{len(iterations)} iterations, accepted={accepted}",
        severity="warning" if accepted is False else "info",
        outcome="ok" if accepted is True else ("error" if accepted is False else None),
        metrics=metrics,
        facts={"stop_reason": doc.get("stop_reason"), "accepted": accepted, "best_score": best},
    )


class OptimizationTraceLoader:
    name: ClassVar[str] = "curriculum_builder.optimization_trace"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "optimization_trace"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "curriculum-builder outputs/reviews/optimization_trace.json"

    def detect(self, path: Path, head: bytes) -> bool:
        return is_artifact(path, "optimization_trace.json", "reviews", head, b'"stop_reason"')

    def load(self, ctx: LoadContext) -> LoadResult:
        return load_json_artifact(ctx, "optimization_trace", summarize)
