"""curriculum-builder `runs/<run_id>/run.json`: stage history, current stage, validity."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import Check, LoadContext, LoadResult, Quarantine, excerpt, typed_table
from ..records import dumped, isolated, read_object
from .checks import CHECKS
from .common import STAGES, SYSTEM, run_id_for
from .transitions import transition_rows

HISTORY_SCHEMA = {
    "run_id": "str",
    "position": "int",
    "record_no": "int",
    "at_utc": "str",
    "ts": "ts",
    "stage": "str",
    "previous_stage": "str",
    "message": "str",
    "metadata": "json",
    "auto_sync": "bool",
    "forward": "bool",
    "legal": "bool",
    "known_stage": "bool",
}
TOOL_REJECTS = "invalid run metadata (the tool says: delete and re-initialize this run)"
NOT_OBJECT = "not a JSON object (the tool rejects it: Expected JSON object)"


def metadata_problem(doc: dict[str, Any]) -> str | None:
    """The first reason RunMeta.from_dict would raise, as the tool checks it."""
    run_id = doc.get("run_id")
    if not isinstance(run_id, str) or not run_id.strip():
        return "run_id must be a non-empty string"
    created = doc.get("created_at_utc")
    if not isinstance(created, str) or not created.strip():
        return "created_at_utc must be a non-empty string"
    if doc.get("stage") not in STAGES:
        return f"stage must be one of {list(STAGES)} (found {doc.get('stage')!r})"
    history = doc.get("history")
    if not isinstance(history, list) or any(not isinstance(item, dict) for item in history):
        return "history must be a list of objects"
    return None


class RunJsonLoader:
    name: ClassVar[str] = "curriculum_builder.run_json"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "run_json"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "curriculum-builder run.json: history -> stage.transition, current stage, metadata validity"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        if path.name != "run.json":
            return False
        # below runs/ (or runs/archives/, workflows/runs/) even when unreadable; elsewhere by content
        return "runs" in path.parts[:-2] or b'"created_at_utc"' in head or b'"stage_transition"' in head

    def load(self, ctx: LoadContext) -> LoadResult:
        document, unreadable = read_object(ctx.path, 0)
        run_id = run_id_for(ctx.path)
        if unreadable is not None:
            if document.problem is None:  # JSON, but not an object
                unreadable = Quarantine(0, NOT_OBJECT, unreadable.raw)
            return LoadResult(
                records_read=1,
                quarantine=[unreadable],
                facts={
                    "run_id": run_id,
                    "run_metadata_valid": False,
                    "run_metadata_error": unreadable.reason,
                },
            )
        doc = document.value
        if isinstance(doc.get("run_id"), str) and doc["run_id"].strip():
            run_id = doc["run_id"]
        history = doc.get("history") if isinstance(doc.get("history"), list) else []
        items = [(i, item, dumped(item)) for i, item in enumerate(history, start=1)]
        events, table, bad, shape_problems = transition_rows(ctx, items, run_id, with_seq=False)
        problem = metadata_problem(doc) or (
            f"history {shape_problems[0]}" if shape_problems else None
        )
        if not history and problem is None:
            problem = "history is empty (the tool always writes at least one event)"
        header = {k: v for k, v in doc.items() if k != "history"}
        last_stage = table[-1]["stage"] if table else None
        facts: dict[str, Any] = {
            "run_id": run_id,
            "run_metadata_valid": problem is None,
            "run_metadata_error": problem,
            "history_problems": shape_problems,
            "current_stage": doc.get("stage"),
            "created_at_utc": doc.get("created_at_utc"),
            "history_events": len(history),
            "last_history_stage": last_stage,
            "stage_matches_history": doc.get("stage") == last_stage,
            "illegal_transitions": sum(1 for row in table if not row["legal"]),
            "extra_keys": sorted(
                k for k in header if k not in {"run_id", "created_at_utc", "stage"}
            ),
        }
        if problem:
            bad.insert(0, Quarantine(0, f"{TOOL_REJECTS}: {problem}", excerpt(dumped(header))))
        else:
            header_bad: list[Quarantine] = []
            start = isolated(header_bad, 0, dumped(header), _run_start, ctx, doc, run_id, header)
            bad[:0] = header_bad
            events[:0] = [start] if start else []
        return LoadResult(
            records_read=1 + len(history),
            events=events,
            tables={"curriculum_builder_stage_history": typed_table(table, HISTORY_SCHEMA)},
            quarantine=bad,
            facts=facts,
        )


def _run_start(
    ctx: LoadContext, doc: dict[str, Any], run_id: str, header: dict[str, Any]
) -> dict[str, Any]:
    ts, quality = ctx.parse_ts(doc.get("created_at_utc"))
    return {
        "record_no": 0,
        "ts": ts,
        "ts_raw": doc.get("created_at_utc"),
        "ts_quality": quality,
        "stream": run_id,
        "position": 0,
        "event_type": "run.start",
        "event_type_raw": "run.json",
        "name": run_id,
        "message": f"run {run_id} created; current stage {doc.get('stage')}",
        "attrs": header,
    }
