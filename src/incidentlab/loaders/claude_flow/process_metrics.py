"""claude-flow `.claude-flow/process-metrics.json`: the processes a swarm spawned, with their ends.

`lastExecutions` (and the same list under `metrics`) holds one record per spawned process: a
`process.start` at its `startTime` (epoch milliseconds) and, when the process reported one, a
`process.end` at its `endTime` with its exit code. A start without an end is left open, so
replay integrity reports the processes that never reported completing (checks.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import Check, LoadContext, LoadResult
from ..reading.head import object_head
from ..transcripts.common import (
    Collector,
    as_dict,
    as_list,
    clip,
    has_key,
    json_document,
    object_items,
    ts_fields,
)
from .checks import CHECKS

COUNTERS = ("totalSpawns", "successfulSpawns", "failedSpawns", "averageDuration")


class ProcessMetricsLoader:
    name: ClassVar[str] = "claude_flow.process_metrics"
    system: ClassVar[str] = "claude_flow"
    source: ClassVar[str] = "process_metrics"
    version: ClassVar[str] = "1"
    positions: ClassVar[str] = "grouped"  # each list numbered from 1, newest first
    checks: ClassVar[tuple[Check, ...]] = CHECKS
    description: ClassVar[str] = ("claude-flow process-metrics.json (spawned processes, their "
                                  "ends and exit codes)")

    def detect(self, path: Path, head: bytes) -> bool:
        return (path.suffix.lower() == ".json" and object_head(head)
                and has_key(head, "totalSpawns", "lastExecutions"))

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        doc = json_document(col)
        if not doc.ok:
            return col.result()
        top = as_dict(doc.value)
        lists = (("spawns", top), ("metrics", as_dict(top.get("metrics"))))
        for label, holder in lists:
            if "lastExecutions" not in holder:
                continue
            col.facts[label] = {k: holder.get(k) for k in COUNTERS if k in holder}
            stream = ctx.path.stem if label == "spawns" else f"{ctx.path.stem}/{label}"
            runs = as_list(holder.get("lastExecutions"))
            for number, run in object_items(col, runs, f"{label} execution"):
                with col.record(number, run):
                    self._run(col, number, run, label, stream)
        col.facts["snapshot_at"] = top.get("timestamp")
        return col.result()

    @staticmethod
    def _run(col: Collector, number: int, run: dict[str, Any], label: str, stream: str) -> None:
        args = [str(a) for a in as_list(run.get("args"))]
        base = {"stream": stream, "name": run.get("command"), "correlation_id": run.get("id"),
                "actor": None if run.get("pid") is None else f"pid {run.get('pid')}"}
        ended = run.get("endTime") is not None
        # A start the file records no end for is a warning of its own: the process never
        # reported finishing (or had not yet when the file was written).
        col.event(number, "process.start", **base, event_key=f"{label}:start", position=number,
                  event_type_raw="startTime", **ts_fields(col.ctx, run.get("startTime")),
                  severity="info" if ended else "warning",
                  error_code=None if ended else "no_end_recorded",
                  message=clip(" ".join([str(run.get("command")), *args])), attrs=run)
        if not ended:
            return
        success = run.get("success")
        outcome = "ok" if success is True else "error" if success is False else None
        duration = run.get("duration")
        col.event(number, "process.end", **base, event_key=f"{label}:end", position=number,
                  event_type_raw="endTime", **ts_fields(col.ctx, run.get("endTime")),
                  outcome=outcome, severity="warning" if outcome == "error" else "info",
                  duration_ms=float(duration) if isinstance(duration, int | float)
                  and not isinstance(duration, bool) else None,
                  error_code=None if run.get("exitCode") in (None, 0) else f"exit {run.get('exitCode')}",
                  message=clip(f"exit {run.get('exitCode')}"), attrs={"id": run.get("id")})
