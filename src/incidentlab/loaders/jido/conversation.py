"""A Jido conversation's raw event list (`Types.Event`: type, at, data, meta) exported as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from ..base import Check, LoadContext, LoadResult, Quarantine
from ..reading.text import BOM, decode
from ..records import BadRecord, guarded, raw_excerpt, read_doc
from .checks import CHECKS
from .rows import conversation_fields, make_event

ENVELOPE_KEYS = {"type", "at", "data", "meta"}


def _first_element(head: bytes) -> Any:
    text = decode(head.removeprefix(BOM)).lstrip()
    if not text.startswith("["):
        return None
    body = text[1:].lstrip()
    try:
        value, _ = json.JSONDecoder().raw_decode(body)
    except (ValueError, RecursionError):
        return None
    return value


class ConversationEventsLoader:
    name: ClassVar[str] = "jido.conversation_events"
    system: ClassVar[str] = "jido"
    source: ClassVar[str] = "conversation_events"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "Jido.Code.Server conversation event list (Types.Event) as a JSON array"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        first = _first_element(head)
        return (
            isinstance(first, dict)
            and isinstance(first.get("type"), str)
            and "at" in first
            and bool({"data", "meta"} & first.keys())
            and set(first) <= ENVELOPE_KEYS
        )

    def load(self, ctx: LoadContext) -> LoadResult:
        doc, bad = read_doc(ctx.path)
        if bad:
            return LoadResult(records_read=1, quarantine=[bad])
        if not isinstance(doc, list):
            return LoadResult(
                records_read=1,
                quarantine=[Quarantine(1, "not a JSON array of events", raw_excerpt(doc))],
            )
        flat = [conversation_fields(e) if isinstance(e, dict) else {} for e in doc]
        # The list is one conversation; its id sits in event meta (absent there: the file's name).
        stream = next((f["conversation_id"] for f in flat if f.get("conversation_id")), None)
        stream = str(stream) if stream else ctx.path.stem
        events: list[dict[str, Any]] = []
        quarantine: list[Quarantine] = []
        for index, (event, fields) in enumerate(zip(doc, flat, strict=True), start=1):
            row = guarded(
                quarantine, index, f"event[{index}]", event,
                self._event, ctx, event, fields, index, stream,
            )
            if row is not None:
                events.append(row)
        return LoadResult(
            records_read=len(doc),
            events=events,
            quarantine=quarantine,
            facts={"conversation_id": stream, "events": len(doc)},
        )

    @staticmethod
    def _event(
        ctx: LoadContext, event: Any, fields: dict[str, Any], index: int, stream: str
    ) -> dict[str, Any]:
        if not isinstance(event, dict):
            raise BadRecord("not a JSON object")
        return make_event(
            ctx,
            raw_name=event.get("type"),
            at=event.get("at"),
            fields=fields,
            record_no=index,
            attrs=event,
            stream=stream,
            position=index,
            fallback="unknown",
        )
