"""RunEvent objects (run.json history, logs/events.jsonl lines) as stage.transition rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..base import LoadContext, Quarantine, excerpt
from ..records import dumped, isolated
from .common import AUTO_SYNC_PREFIX, RUN_EVENT_KEYS, stage_index


def shape_problem(item: object) -> str | None:
    """Why the tool would reject this RunEvent (exactly the five keys, metadata an object)."""
    if not isinstance(item, dict):
        return "not a JSON object"
    extra = sorted(set(item) - RUN_EVENT_KEYS)
    missing = sorted(RUN_EVENT_KEYS - set(item))
    if missing or extra:
        parts = [
            f"missing keys {missing}" if missing else "",
            f"extra keys {extra}" if extra else "",
        ]
        return "; ".join(p for p in parts if p)
    if not isinstance(item["metadata"], dict):
        return "metadata is not an object"
    return None


def transition_rows(
    ctx: LoadContext, items: Iterable[tuple[int, object, str]], run_id: str, *, with_seq: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Quarantine], list[str]]:
    """(events, stage-history table rows, quarantine, shape problems) for numbered RunEvents.

    An item is loadable when it is an object with a string `stage`; items the tool would reject for
    their shape but that still say which stage was entered are loaded and their problem reported.
    """
    events: list[dict[str, Any]] = []
    table: list[dict[str, Any]] = []
    bad: list[Quarantine] = []
    problems: list[str] = []
    previous: str | None = None
    for record_no, item, raw in items:
        problem = shape_problem(item)
        if not isinstance(item, dict) or not isinstance(item.get("stage"), str):
            bad.append(
                Quarantine(record_no, problem or "stage missing or not a string", excerpt(raw))
            )
            continue
        built = isolated(bad, record_no, raw, _transition, ctx, record_no, item, run_id, previous)
        if built is None:
            continue
        event, row = built
        event["seq"] = record_no if with_seq else None
        events.append(event)
        table.append(row)
        if problem:
            problems.append(f"record {record_no}: {problem}")
        previous = row["stage"]
    return events, table, bad, problems


def _transition(
    ctx: LoadContext, record_no: int, item: dict[str, Any], run_id: str, previous: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One RunEvent's stage.transition event and its stage-history row."""
    position = record_no  # list index in run.json, line number in events.jsonl
    stage = item["stage"]
    message = item.get("message") if isinstance(item.get("message"), str) else None
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    auto_sync = bool(message and message.startswith(AUTO_SYNC_PREFIX))
    now_i, prev_i = stage_index(stage), stage_index(previous)
    forward = previous is None or (now_i is not None and prev_i is not None and now_i > prev_i)
    legal = forward or (auto_sync and metadata.get("previous_stage") == previous)
    at_utc = item.get("at_utc")
    ts, quality = ctx.parse_ts(at_utc)
    event = {
        "record_no": record_no,
        "ts": ts,
        "ts_raw": at_utc if isinstance(at_utc, str) else None,
        "ts_quality": quality,
        "stream": run_id,
        "position": position,
        "event_type": "stage.transition",
        "event_type_raw": item.get("event_type"),
        "name": stage,
        "outcome": None,
        "severity": "info" if legal and now_i is not None else "warning",
        "message": message,
        "attrs": item,
    }
    row = {
        "run_id": run_id,
        "position": position,
        "record_no": record_no,
        # the history table declares text; a number written here is kept as its JSON text
        "at_utc": at_utc if at_utc is None or isinstance(at_utc, str) else dumped(at_utc),
        "ts": ts,
        "stage": stage,
        "previous_stage": previous,
        "message": message,
        "metadata": metadata,
        "auto_sync": auto_sync,
        "forward": forward,
        "legal": legal,
        "known_stage": now_i is not None,
    }
    return event, row
