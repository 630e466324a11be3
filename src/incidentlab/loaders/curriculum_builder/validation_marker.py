"""curriculum-builder `logs/validation.ok`: the pass marker, its presence and its mtime."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from ..base import LoadContext, LoadResult
from .common import SYSTEM, derived_event, mtime_of, run_dir_of, run_id_for

# validation_is_current(): the marker must be at least as new as these (relative to the run folder).
DEPENDENCIES = (
    "inputs/topic_spec.json",
    "outputs/curriculum/curriculum.json",
    "outputs/reviews/validation_report.md",
)


class ValidationMarkerLoader:
    name: ClassVar[str] = "curriculum_builder.validation_marker"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "validation_marker"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "curriculum-builder logs/validation.ok pass marker (mtime as time)"

    def detect(self, path: Path, head: bytes) -> bool:
        return path.name == "validation.ok" and len(head) < 64

    def load(self, ctx: LoadContext) -> LoadResult:
        content = ctx.path.read_bytes().decode("utf-8", "replace")
        marker_mtime = mtime_of(ctx.path)
        run_dir = run_dir_of(ctx.path) or ctx.path.parent.parent
        newer: list[str] = []
        missing: list[str] = []
        for relative in DEPENDENCIES:
            dependency = run_dir / relative
            if not dependency.is_file():
                missing.append(relative)
            elif mtime_of(dependency) > marker_mtime:
                newer.append(relative)
        current = not newer and not missing
        content_ok = content == "ok\n"
        notes = []
        if not content_ok:
            notes.append(f"unexpected content {content[:40]!r}")
        if newer:
            notes.append(f"stale: older than {', '.join(newer)}")
        event = derived_event(
            ctx.path,
            record_no=1,
            position=1,
            event_type="validation.check",
            event_type_raw="validation.ok",
            name="validation.ok",
            outcome="ok",
            severity="info" if content_ok and not newer else "warning",
            message="validation pass marker present" + (f" ({'; '.join(notes)})" if notes else ""),
            attrs={"content": content, "mtime": marker_mtime.isoformat()},
        )
        return LoadResult(
            records_read=1,
            events=[event],
            facts={
                "run_id": run_id_for(ctx.path),
                "validation_ok_present": True,
                "validation_ok_mtime": marker_mtime.isoformat(),
                "content_ok": content_ok,
                "marker_current": current,
                "dependencies_newer": newer,
                "dependencies_missing": missing,
            },
        )
