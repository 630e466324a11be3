"""CodingBuddy `snapshots/<uuid>.json`: per-step before/after file hashes of one tool call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, path_has
from .common import as_list, read_state
from .taxonomy import workspace_name


def _hashes(files: Any) -> dict[str, Any]:
    """path -> content hash of the listed files (entries that are not file objects are skipped)."""
    found = {}
    for item in as_list(files):
        if isinstance(item, dict) and item.get("path") is not None:
            path = item["path"]
            key = path if isinstance(path, str) else json.dumps(path, default=str)
            found[key] = item.get("content_hash")
    return found


class SnapshotLoader:
    name: ClassVar[str] = "codingbuddy.snapshot"
    system: ClassVar[str] = "codingbuddy"
    source: ClassVar[str] = "snapshot_json"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "CodingBuddy snapshots/<uuid>.json (files before/after a tool call)"

    def detect(self, path: Path, head: bytes) -> bool:
        return (path.suffix == ".json" and path.parent.name == "snapshots"
                and path_has(path, ".codingbuddy", ".deepseek"))

    def load(self, ctx: LoadContext) -> LoadResult:
        snap, bad = read_state(ctx.path, "tool_name", "step snapshot")
        if snap is None:
            return LoadResult(records_read=1, quarantine=[bad] if bad else [])
        ts, quality = ctx.parse_ts(snap.get("timestamp"))
        before, after = _hashes(snap.get("before")), _hashes(snap.get("after"))
        changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
        event = {
            "record_no": 1, "ts": ts, "ts_raw": snap.get("timestamp"), "ts_quality": quality,
            "stream": snap.get("id") or ctx.path.stem, "position": 1,
            "project": workspace_name(ctx.path), "correlation_id": snap.get("tool_call_id"),
            "event_type": "snapshot", "event_type_raw": "StepSnapshot",
            "name": snap.get("tool_name"),
            "message": f"{snap.get('tool_name')}: {len(changed)} file(s) changed "
                       f"{', '.join(changed[:5])}".rstrip(),
            "attrs": snap,
        }
        return LoadResult(records_read=1, events=[event])
