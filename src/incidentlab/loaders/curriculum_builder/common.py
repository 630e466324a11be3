"""Shared pieces of the curriculum-builder loaders: run folder lookup, stage order, mtime time."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SYSTEM = "curriculum_builder"
STAGES = ("initialized", "spec_ready", "generated", "validated", "planned", "iterated")
RUN_EVENT_KEYS = frozenset({"at_utc", "event_type", "stage", "message", "metadata"})
RUN_ID = re.compile(r"\b\d{8}-\d{6}(?:-[a-z0-9][a-z0-9-]*)?\b")
AUTO_SYNC_PREFIX = "auto-sync from artifacts"


def run_dir_of(path: Path) -> Path | None:
    """The run folder holding `path` (the nearest ancestor with a run.json), if any."""
    for folder in list(path.parents)[:4]:
        if (folder / "run.json").is_file():
            return folder
    return None


def run_id_for(path: Path) -> str:
    """run_id = the run folder's name; falls back to the nearest folder that looks like one."""
    folder = run_dir_of(path)
    if folder is not None:
        return folder.name
    for parent in path.parents:
        if RUN_ID.fullmatch(parent.name):
            return parent.name
    return path.parent.name


def mtime_of(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def mtime_or_none(path: Path) -> str | None:
    try:
        return mtime_of(path).isoformat()
    except OSError:
        return None


def stage_index(stage: object) -> int | None:
    return STAGES.index(stage) if isinstance(stage, str) and stage in STAGES else None


def derived_event(path: Path, **columns: Any) -> dict[str, Any]:
    """An event timed by the file's mtime (the artifact has no time of its own)."""
    return {"ts": mtime_of(path), "ts_quality": "derived", "stream": run_id_for(path), **columns}
