"""beads issue tracker export (`.beads/issues.jsonl`) as work-item events, one stream per issue."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, path_has
from .common import Collector, as_list, as_text, clip, has_key, iter_json_lines, ts_fields


def _parent(rec: dict) -> str | None:
    for dep in as_list(rec.get("dependencies")):
        if isinstance(dep, dict) and dep.get("type") == "parent-child":
            return dep.get("depends_on_id")
    return None


class BeadsIssuesLoader:
    name: ClassVar[str] = "beads.issues_jsonl"
    system: ClassVar[str] = "beads"
    source: ClassVar[str] = "issues_jsonl"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "beads issues.jsonl export (created / updated / closed work items)"

    def detect(self, path: Path, head: bytes) -> bool:
        if path.suffix != ".jsonl":
            return False
        if not (path.name in ("issues.jsonl", "beads.jsonl") or path_has(path, ".beads")):
            return False
        return has_key(head, "id", "title", "status", "created_at") and has_key(head, "issue_type")

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        col.tables["beads_issues"] = []
        for number, rec, raw in iter_json_lines(col):
            issue_id = rec.get("id")
            created = ts_fields(ctx, rec.get("created_at"))
            if not isinstance(issue_id, str) or not issue_id:
                col.bad(number, "issue has no string 'id'", raw)
                continue
            if created["ts"] is None:
                col.bad(number, "created_at missing or not a timestamp", raw)
                continue
            with col.record(number, raw):
                self._issue(col, number, rec, issue_id, created)
        if not col.tables["beads_issues"]:
            del col.tables["beads_issues"]
        return col.result()

    @staticmethod
    def _issue(col: Collector, number: int, rec: dict, issue_id: str,
               created: dict[str, Any]) -> None:
        ctx = col.ctx
        parent = _parent(rec)
        base = {"stream": issue_id, "project": issue_id.rsplit("-", 1)[0],
                "correlation_id": parent, "name": rec.get("title")}
        col.event(number, "workitem.created", **base, **created, event_key="created",
                  event_type_raw="created_at", actor=rec.get("created_by"),
                  message=clip(f"{rec.get('issue_type')} P{rec.get('priority')}: "
                               f"{rec.get('title')}"), attrs=rec)
        slim = {"id": issue_id, "status": rec.get("status")}
        done = [when for when in (rec.get("closed_at"), rec.get("deleted_at")) if when is not None]
        updated = rec.get("updated_at")
        if updated and updated != rec.get("created_at") and updated not in done:
            col.event(number, "workitem.updated", **base, **ts_fields(ctx, updated),
                      event_key="updated", event_type_raw="updated_at",
                      message=clip(f"status {rec.get('status')}"), attrs=slim)
        if rec.get("closed_at"):
            col.event(number, "workitem.closed", **base, **ts_fields(ctx, rec["closed_at"]),
                      event_key="closed", event_type_raw="closed_at", outcome="ok",
                      message=clip(rec.get("close_reason")),
                      attrs={**slim, "close_reason": rec.get("close_reason")})
        if rec.get("deleted_at"):
            col.event(number, "workitem.closed", **base, **ts_fields(ctx, rec["deleted_at"]),
                      event_key="deleted", event_type_raw="deleted_at", outcome="skipped",
                      actor=rec.get("deleted_by"), error_code="deleted",
                      message=clip(rec.get("delete_reason") or "deleted"),
                      attrs={**slim, "delete_reason": rec.get("delete_reason")})
        # Text columns stay text whatever a damaged record holds, so the table keeps its types.
        col.tables["beads_issues"].append({
            "id": issue_id, "title": as_text(rec.get("title")), "status": as_text(rec.get("status")),
            "priority": str(rec.get("priority")), "issue_type": as_text(rec.get("issue_type")),
            "owner": as_text(rec.get("owner")), "parent": as_text(parent),
            "created_at": created["ts"], "updated_at": ts_fields(ctx, updated)["ts"],
            "closed_at": ts_fields(ctx, rec.get("closed_at"))["ts"],
            "close_reason": as_text(rec.get("close_reason")), "record_no": number,
        })
