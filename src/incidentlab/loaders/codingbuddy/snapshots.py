"""CodingBuddy `snapshots/<uuid>.json`: per-step before/after file hashes of one tool call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from ..base import LoadContext, LoadResult, Quarantine, excerpt, path_has
from .taxonomy import workspace_name


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
        text = ctx.path.read_bytes()
        try:
            snap = json.loads(text)
            if not isinstance(snap, dict) or "tool_name" not in snap:
                raise ValueError("no tool_name")
        except ValueError as exc:
            reason = f"not a step snapshot JSON object ({exc})"
            return LoadResult(records_read=1, quarantine=[Quarantine(1, reason, excerpt(text))])
        ts, quality = ctx.parse_ts(snap.get("timestamp"))
        before = {f.get("path"): f.get("content_hash") for f in snap.get("before") or []}
        after = {f.get("path"): f.get("content_hash") for f in snap.get("after") or []}
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
