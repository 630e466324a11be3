"""curriculum-builder `runs/<run_id>/logs/events.jsonl`: the appended copy of run.json history."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from ..base import Check, JsonLines, LoadContext, LoadResult
from .checks import CHECKS
from .common import SYSTEM, run_dir_of, run_id_for
from .transitions import transition_rows


class RunEventsJsonlLoader:
    name: ClassVar[str] = "curriculum_builder.events_jsonl"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "events_jsonl"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "curriculum-builder logs/events.jsonl: RunEvents, line number as seq (mirror of run.json)"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        if path.name != "events.jsonl" or path.parent.name != "logs":
            return False
        return b'"at_utc"' in head or run_dir_of(path) is not None

    def load(self, ctx: LoadContext) -> LoadResult:
        run_id = run_id_for(ctx.path)
        reader = JsonLines(ctx.path)
        items = list(reader)
        events, table, rejected, problems = transition_rows(ctx, items, run_id, with_seq=True)
        bad = sorted(reader.quarantine + rejected, key=lambda q: q.record_no or 0)
        return LoadResult(
            records_read=reader.read,
            events=events,
            quarantine=bad,
            facts={
                "run_id": run_id,
                "lines": reader.read,
                "stages": [row["stage"] for row in table],
                "shape_problems": problems,
            },
        )
