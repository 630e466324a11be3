"""Statuspage incident JSON (`/api/v2/incidents/<id>.json`, `incidents.json`): one stream per incident.

GitHub, OpenAI, Anthropic and most providers publish their status pages through Atlassian
Statuspage. Each incident is a `provider.incident` event at its start and one `provider.status`
event per update (investigating, identified, monitoring, resolved, postmortem), so a provider's
outage sits in the timeline beside the agent failures it may explain. Updates are listed
newest-first in the source; their positions keep that order (numbered per incident).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult
from ..reading.head import object_head
from ..transcripts.common import (
    Collector,
    as_dict,
    as_list,
    clip,
    has_key,
    json_document,
    keyed_items,
    ts_fields,
)

# An incident's impact as the severity of what it says while it lasts.
IMPACT_SEVERITY = {"critical": "critical", "major": "error", "minor": "warning", "none": "info",
                   "maintenance": "info"}
CLOSED = ("resolved", "postmortem", "completed")
# An update that names its components says how each one is: the worst is the update's severity.
COMPONENT_SEVERITY = {"operational": 0, "under_maintenance": 0, "degraded_performance": 1,
                      "partial_outage": 1, "major_outage": 2}
LEVELS = ("info", "warning", "error")


def _text(*parts: Any) -> str:
    return ": ".join(str(p) for p in parts if p not in (None, ""))


class IncidentsJsonLoader:
    name: ClassVar[str] = "statuspage.incidents_json"
    system: ClassVar[str] = "statuspage"
    source: ClassVar[str] = "incidents_json"
    version: ClassVar[str] = "1"
    positions: ClassVar[str] = "grouped"  # updates numbered per incident, newest first
    description: ClassVar[str] = ("Statuspage incidents JSON (GitHub, OpenAI, Anthropic status "
                                  "pages): incident starts and updates")

    def detect(self, path: Path, head: bytes) -> bool:
        return (path.suffix.lower() == ".json" and object_head(head)
                and has_key(head, "page", "incident_updates")
                and (has_key(head, "incident") or has_key(head, "incidents")))

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        doc = json_document(col)
        if not doc.ok:
            return col.result()
        value = as_dict(doc.value)
        page = as_dict(value.get("page")).get("name")
        incidents = ([value["incident"]] if "incident" in value
                     else value.get("incidents") if isinstance(value.get("incidents"), list)
                     else None)
        if incidents is None:
            col.records_read += 1
            col.bad(None, "no 'incident' object or 'incidents' list", doc.text)
            return col.result()
        for number, incident in keyed_items(col, incidents, "id", "incident"):
            with col.record(number, incident):
                self._incident(col, number, incident, page)
        col.facts["incidents"] = col.records_read - len(col.quarantine)
        return col.result()

    @staticmethod
    def _incident(col: Collector, number: int, incident: dict[str, Any], page: Any) -> None:
        ctx = col.ctx
        impact = incident.get("impact")
        severity = IMPACT_SEVERITY.get(impact, "warning") if isinstance(impact, str) else "warning"
        updates = as_list(incident.get("incident_updates"))
        base = {"stream": incident["id"], "correlation_id": incident["id"],
                "name": incident.get("name"), "actor": page}
        header = {k: v for k, v in incident.items() if k != "incident_updates"}
        col.event(number, "provider.incident", **base, event_key="incident", position=0,
                  event_type_raw=f"impact {impact}", severity=severity,
                  **ts_fields(ctx, incident.get("started_at") or incident.get("created_at")),
                  message=clip(_text(page, f"{incident.get('name')} (impact {impact}, "
                                                 f"{len(updates)} updates)")), attrs=header)
        for index, given in enumerate(updates, start=1):
            update = as_dict(given)
            status = update.get("status")
            closed = isinstance(status, str) and status in CLOSED
            named = [as_dict(c) for c in as_list(update.get("affected_components"))]
            components = ", ".join(f"{c.get('name')}: {c.get('new_status')}" for c in named)
            states = [COMPONENT_SEVERITY.get(c.get("new_status"), 1) if isinstance(
                c.get("new_status"), str) else 1 for c in named]
            level = "info" if closed else LEVELS[max(states)] if states else severity
            said = " ".join(p for p in (_text(status, update.get("body")),
                                        f"[{components}]" if components else "") if p)
            col.event(number, "provider.status", **base, event_key=f"u{index}", position=index,
                      event_type_raw=status, outcome="ok" if closed else None, severity=level,
                      **ts_fields(ctx, update.get("display_at") or update.get("created_at")),
                      message=clip(said), attrs=given if update else {"update": given})
