"""CodingBuddy `patches/<patch_id>.json` (and the `.diff` beside it): staged patches and apply conflicts."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Quarantine, excerpt, path_has
from .events import RUNTIME_DIRS
from .taxonomy import workspace_name


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
        text = ctx.path.read_bytes()
        try:
            patch = json.loads(text)
            if not isinstance(patch, dict) or "patch_id" not in patch:
                raise ValueError("no patch_id")
        except ValueError as exc:
            reason = f"not a PatchSet JSON object ({exc})"
            return LoadResult(records_read=1, quarantine=[Quarantine(1, reason, excerpt(text))])
        project = workspace_name(ctx.path)
        created, quality = ctx.parse_ts(patch.get("created_at"))
        conflicts = patch.get("conflicts") or []
        patch_id = str(patch["patch_id"])
        common = {"record_no": 1, "stream": patch_id, "project": project,
                  "correlation_id": patch_id, "name": ", ".join(patch.get("target_files") or []),
                  "attrs": patch}
        events: list[dict[str, Any]] = [{
            **common, "event_key": "staged", "ts": created, "ts_raw": patch.get("created_at"),
            "ts_quality": quality, "position": 1, "event_type": "patch.staged",
            "event_type_raw": "PatchSet.created_at",
            "message": f"patch {patch_id} staged on base {str(patch.get('base_sha256'))[:12]}",
        }]
        attempts = int(patch.get("apply_attempts") or 0)
        if attempts or patch.get("applied"):
            # The file keeps no time for apply attempts; its mtime is the last rewrite.
            mtime = datetime.fromtimestamp(ctx.path.stat().st_mtime, UTC)
            failed = not patch.get("applied")
            events.append({
                **common, "event_key": "applied", "ts": mtime, "ts_raw": None,
                "ts_quality": "derived", "position": 2, "event_type": "patch.applied",
                "event_type_raw": "PatchSet.applied",
                "outcome": "error" if failed else "ok",
                "severity": "warning" if failed else "info",
                "error_code": "patch_conflict" if failed and conflicts else None,
                "message": (f"apply failed after {attempts} attempt(s): {conflicts[0]}"
                            if failed and conflicts else f"applied={patch.get('applied')}"),
            })
        row = {
            "patch_id": patch_id, "created_at": created, "base_sha256": patch.get("base_sha256"),
            "applied": patch.get("applied"), "apply_attempts": attempts,
            "conflicts": json.dumps(conflicts), "target_files": json.dumps(patch.get("target_files")),
            "last_base_sha256": patch.get("last_base_sha256"),
            "last_base_sha_match": patch.get("last_base_sha_match"),
            "last_error": patch.get("last_error"),
            "base_drift": any(str(c).startswith("base-sha mismatch") for c in conflicts),
        }
        return LoadResult(records_read=1, events=events,
                          tables={"codingbuddy_patches": [row]})


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
