"""Shared reading of the advanced manager's small pointer files (`<id>.meta.json`, `last.json`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..base import LoadContext, LoadResult, Quarantine, excerpt
from ..records import isolated, read_object
from .common import local_ts, raw_text


def load_pointer(ctx: LoadContext, kind: str, required: tuple[str, ...]) -> LoadResult:
    """One record: a `log` event at `saved_at` (naive local) and the pointer as facts."""
    document, problem = read_object(ctx.path, 1)
    if problem is not None:
        return LoadResult(1, quarantine=[problem])
    doc = document.value
    if missing := [k for k in required if k not in doc]:
        return LoadResult(1, quarantine=[Quarantine(1, f"missing {missing}", excerpt(document.text))])
    bad: list[Quarantine] = []
    built = isolated(bad, 1, document.text, _pointer, ctx, kind, doc)
    if built is None:
        return LoadResult(1, quarantine=bad)
    event, facts = built
    return LoadResult(1, events=[event], facts=facts)


def _pointer(ctx: LoadContext, kind: str, doc: dict[str, Any]) -> tuple[dict, dict]:
    ts, quality, unknown = local_ts(ctx, doc.get("saved_at"))
    state_file = doc.get("state_file")
    target = _resolve(ctx.path, state_file)
    event = {
        "record_no": 1,
        "ts": ts,
        "ts_raw": raw_text(doc.get("saved_at")),
        "ts_quality": quality,
        "stream": doc.get("workflow_id"),
        "position": 1,
        "event_type": "log",
        "event_type_raw": kind,
        "name": Path(str(state_file)).name if state_file else None,
        "message": f"{kind}: state saved to {state_file}"
        + (f" (step {doc['current_step']})" if doc.get("current_step") else ""),
        "attrs": doc,
    }
    facts = {
        "workflow_id": doc.get("workflow_id"),
        "state_file": state_file,
        "state_file_exists": _is_file(target) if target else None,
        "saved_at": doc.get("saved_at"),
        "timezone_unknown": unknown,
        "version": doc.get("version"),
    }
    if "checksum" in doc:
        facts["checksum"] = doc.get("checksum")
    return event, facts


def _is_file(path: Path) -> bool | None:
    """Whether the pointed-to file exists here; None when the name cannot be a path (too long)."""
    try:
        return path.is_file()
    except OSError:
        return None


def _resolve(pointer: Path, state_file: object) -> Path | None:
    if not isinstance(state_file, str) or not state_file:
        return None
    candidate = Path(state_file)
    if candidate.is_absolute():
        return candidate
    # meta.json stores a bare file name; last.json an absolute path from the writing machine.
    return pointer.parent / candidate.name
