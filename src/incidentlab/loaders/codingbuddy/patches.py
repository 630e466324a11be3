"""CodingBuddy `patches/<patch_id>.json` (and the `.diff` beside it): staged patches and apply conflicts."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, path_has, typed_table
from .common import as_list, as_text, read_state
from .events import RUNTIME_DIRS
from .taxonomy import workspace_name

_INT64 = (-(2**63), 2**63 - 1)
# typed the same in every file, so one odd patch never clashes with the table's column types
_SCHEMA = {
    "patch_id": "str", "created_at": "ts", "base_sha256": "str", "applied": "bool",
    "apply_attempts": "int", "conflicts": "json", "target_files": "json",
    "last_base_sha256": "str", "last_base_sha_match": "bool", "last_error": "str",
    "base_drift": "bool",
}


def _count(value: Any) -> int:
    """apply_attempts as a count: 0 unless the file holds an integer a BIGINT column keeps."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value if _INT64[0] <= value <= _INT64[1] else 0


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _in_patches_dir(path: Path) -> bool:
    return path.parent.name == "patches" and path_has(path, *RUNTIME_DIRS)


class PatchLoader:
    name: ClassVar[str] = "codingbuddy.patch"
    system: ClassVar[str] = "codingbuddy"
    source: ClassVar[str] = "patch_json"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "CodingBuddy patches/<id>.json (PatchSet: base sha, conflicts, attempts)"

    def detect(self, path: Path, head: bytes) -> bool:
        return path.suffix == ".json" and _in_patches_dir(path)

    def load(self, ctx: LoadContext) -> LoadResult:
        patch, bad = read_state(ctx.path, "patch_id", "PatchSet")
        if patch is None:
            return LoadResult(records_read=1, quarantine=[bad] if bad else [])
        project = workspace_name(ctx.path)
        created, quality = ctx.parse_ts(patch.get("created_at"))
        conflicts = [as_text(c) or "" for c in as_list(patch.get("conflicts"))]
        targets = [as_text(t) or "" for t in as_list(patch.get("target_files"))]
        patch_id = str(patch["patch_id"])
        applied = patch.get("applied")
        common = {"record_no": 1, "stream": patch_id, "project": project,
                  "correlation_id": patch_id, "name": ", ".join(targets), "attrs": patch}
        events: list[dict[str, Any]] = [{
            **common, "event_key": "staged", "ts": created, "ts_raw": patch.get("created_at"),
            "ts_quality": quality, "position": 1, "event_type": "patch.staged",
            "event_type_raw": "PatchSet.created_at",
            "message": f"patch {patch_id} staged on base {str(patch.get('base_sha256'))[:12]}",
        }]
        attempts = _count(patch.get("apply_attempts"))
        if attempts or applied:
            # The file keeps no time for apply attempts; its mtime is the last rewrite.
            mtime = datetime.fromtimestamp(ctx.path.stat().st_mtime, UTC)
            failed = not applied
            events.append({
                **common, "event_key": "applied", "ts": mtime, "ts_raw": None,
                "ts_quality": "derived", "position": 2, "event_type": "patch.applied",
                "event_type_raw": "PatchSet.applied",
                "outcome": "error" if failed else "ok",
                "severity": "warning" if failed else "info",
                "error_code": "patch_conflict" if failed and conflicts else None,
                "message": (f"apply failed after {attempts} attempt(s): {conflicts[0]}"
                            if failed and conflicts else f"applied={applied}"),
            })
        row = {
            "patch_id": patch_id, "created_at": created,
            "base_sha256": as_text(patch.get("base_sha256")), "applied": _flag(applied),
            "apply_attempts": attempts, "conflicts": conflicts,
            "target_files": patch.get("target_files"),
            "last_base_sha256": as_text(patch.get("last_base_sha256")),
            "last_base_sha_match": _flag(patch.get("last_base_sha_match")),
            "last_error": as_text(patch.get("last_error")),
            "base_drift": any(c.startswith("base-sha mismatch") for c in conflicts),
        }
        return LoadResult(records_read=1, events=events,
                          tables={"codingbuddy_patches": typed_table([row], _SCHEMA)})


class PatchDiffLoader:
    name: ClassVar[str] = "codingbuddy.patch_diff"
    system: ClassVar[str] = "codingbuddy"
    source: ClassVar[str] = "patch_diff"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "CodingBuddy patches/<id>.diff (recorded as a fact of the patch)"

    def detect(self, path: Path, head: bytes) -> bool:
        return path.suffix == ".diff" and _in_patches_dir(path)

    def load(self, ctx: LoadContext) -> LoadResult:
        data = ctx.path.read_bytes()
        files = [line[6:] for line in data.decode("utf-8", "replace").splitlines()
                 if line.startswith("+++ b/")]
        return LoadResult(records_read=0, facts={
            "patch_id": ctx.path.stem, "sha256": hashlib.sha256(data).hexdigest(),
            "lines": data.count(b"\n"), "files": files,
        })
