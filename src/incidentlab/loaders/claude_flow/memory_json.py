"""claude-flow swarm memory JSON (`.claude-flow/memory.json`, `swarm-memory.json`, `memory/**/*.json`).

Agents of a swarm store their reports as JSON: either one object keyed by memory key
(`<swarm>/<agent>/<topic>`, each value one report) or, under `memory/`, one report per file.
A report says which agent, its mission or task, a status and often a time; each becomes a
`knowledge.recorded` event (record k: the k-th key of a keyed file; 1 for a one-report file).
The time is the report's own `timestamp` (or `analysis_timestamp`), else that of the first of
its results objects that has one (`investigation_results.timestamp`); without one it is not
determined. The swarm id's epoch digits name the swarm; they are not read as a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult
from ..reading.head import object_head
from ..transcripts.common import (
    Collector,
    clip,
    has_key,
    json_document,
    json_text,
    object_items,
    ts_fields,
)

FOLDERS = (".claude-flow", "claude-flow")
DOCUMENT_NAMES = ("memory.json", "swarm-memory.json")
# Keys a report has at its top level (a keyed file's top level has memory keys instead).
REPORT_KEYS = ("agent", "mission", "task", "status", "timestamp", "analysis_timestamp")
TIME_KEYS = ("timestamp", "analysis_timestamp")
_DONE = ("completed", "complete", "success", "succeeded", "done", "implemented")
_FAILED = ("failed", "failure", "error", "aborted")


def _outcome(status: Any) -> str | None:
    text = status.strip().lower() if isinstance(status, str) else ""
    if text.startswith(_DONE):
        return "ok"
    if text.startswith(_FAILED):
        return "error"
    return None


class MemoryJsonLoader:
    name: ClassVar[str] = "claude_flow.memory_json"
    system: ClassVar[str] = "claude_flow"
    source: ClassVar[str] = "memory_json"
    version: ClassVar[str] = "1"
    positions: ClassVar[str] = "grouped"  # reports keyed by memory key: no order among them
    description: ClassVar[str] = ("claude-flow swarm memory JSON (agent reports: mission, status, "
                                  "time)")

    def detect(self, path: Path, head: bytes) -> bool:
        parts = path.parts
        under = any(folder in parts for folder in FOLDERS)
        in_memory = path.name in DOCUMENT_NAMES or "memory" in parts[:-1]
        return (under and in_memory and path.suffix.lower() == ".json" and object_head(head)
                and any(has_key(head, key) for key in ("agent", "mission", "status")))

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        doc = json_document(col)
        if not doc.ok:
            return col.result()
        top = doc.value
        keyed = (isinstance(top, dict) and bool(top)
                 and not any(key in top for key in REPORT_KEYS)
                 and all(isinstance(v, dict) for v in top.values()))
        keys = list(top) if keyed else [_file_key(ctx.path)]
        reports = list(top.values()) if keyed else [top]
        for number, report in object_items(col, reports, "memory report"):
            with col.record(number, report):
                self._report(col, number, keys[number - 1], report)
        return col.result()

    @staticmethod
    def _report(col: Collector, number: int, key: str, report: dict[str, Any]) -> None:
        holders = [report, *(v for v in report.values() if isinstance(v, dict))]
        when = next((h[k] for h in holders for k in TIME_KEYS if h.get(k) not in (None, "")), None)
        status = report.get("status", report.get("completion_status"))
        what = report.get("mission") or report.get("task") or report.get("summary")
        # `<swarm>/<agent>/<topic>`: the swarm (or task) is the stream; otherwise the file is
        stream = key.split("/", 1)[0] if "/" in key else col.ctx.path.stem
        col.event(number, "knowledge.recorded", stream=stream, name=key,
                  actor=report.get("agent"), event_type_raw="memory report",
                  outcome=_outcome(status), message=clip(
                      " - ".join(p if isinstance(p, str) else json_text(p)
                                 for p in (report.get("agent"), what, status) if p)),
                  **ts_fields(col.ctx, when), attrs=report)


def _file_key(path: Path) -> str:
    """A one-report file's memory key: its path under `memory/` (`<task>/<agent>/<topic>`), or
    its name."""
    parts = path.with_suffix("").parts
    if "memory" not in parts[:-1]:
        return path.stem
    below = len(parts) - 1 - parts[:-1][::-1].index("memory")
    return "/".join(parts[below:])
