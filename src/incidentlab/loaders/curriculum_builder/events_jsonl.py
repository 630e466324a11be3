"""curriculum-builder `runs/<run_id>/logs/events.jsonl`: the appended copy of run.json history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from ..base import LoadContext, LoadResult, Quarantine, excerpt, iter_lines
from .common import SYSTEM, run_dir_of, run_id_for
from .transitions import transition_rows


class RunEventsJsonlLoader:
    name: ClassVar[str] = "curriculum_builder.events_jsonl"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "events_jsonl"
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
        items: list[tuple[int, object, str]] = []
        bad: list[Quarantine] = []
        for number, line in iter_lines(ctx.path):
            try:
                items.append((number, json.loads(line), line))
            except ValueError as exc:
                bad.append(Quarantine(number, f"malformed JSON: {exc}", excerpt(line)))
        lines = len(items) + len(bad)
        events, table, rejected, problems = transition_rows(ctx, items, run_id, with_seq=True)
        bad = sorted(bad + rejected, key=lambda q: q.record_no or 0)
        return LoadResult(
            records_read=lines,
            events=events,
            quarantine=bad,
            facts={
                "run_id": run_id,
                "lines": lines,
                "stages": [row["stage"] for row in table],
                "shape_problems": problems,
            },
        )
