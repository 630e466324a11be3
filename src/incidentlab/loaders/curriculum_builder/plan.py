"""curriculum-builder `outputs/plan/plan.json`: the weekly plan's size and budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult
from ..records import number
from .artifact_base import Summary, is_artifact, load_json_artifact
from .common import SYSTEM


def summarize(doc: dict[str, Any]) -> Summary:
    weeks = doc.get("weeks") if isinstance(doc.get("weeks"), list) else []
    total = number(doc.get("total_estimated_minutes"))
    budget = number(doc.get("weekly_budget_minutes"))
    duration = number(doc.get("duration_weeks"))
    metrics = {
        name: (value, unit)
        for name, value, unit in (
            ("plan.total_estimated_minutes", total, "min"),
            ("plan.weekly_budget_minutes", budget, "min"),
            ("plan.duration_weeks", duration, "weeks"),
        )
        if value is not None
    }
    over = total is not None and budget and duration and total > budget * duration
    return Summary(
        message=f"plan generated: {len(weeks)} weeks, {total} min estimated"
        + (" (over budget)" if over else ""),
        severity="warning" if over else "info",
        metrics=metrics,
        facts={"plan_weeks": len(weeks), "plan_over_budget": bool(over), "topic": doc.get("topic")},
    )


class PlanLoader:
    name: ClassVar[str] = "curriculum_builder.plan"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "plan_json"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "curriculum-builder outputs/plan/plan.json (weeks, budget)"

    def detect(self, path: Path, head: bytes) -> bool:
        return is_artifact(path, "plan.json", "plan", head, b'"weekly_budget_minutes"', b'"weeks"')

    def load(self, ctx: LoadContext) -> LoadResult:
        return load_json_artifact(ctx, "plan", summarize)
