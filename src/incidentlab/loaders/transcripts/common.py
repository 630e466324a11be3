"""Shared helpers for coding-agent transcript loaders: row builders, JSON reading, detection."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from ...errors import IncidentLabError, NeedsTimezoneError
from ...timeparse import parse_ts
from ..base import JsonLines, LoadContext, LoadResult, Quarantine, excerpt
from ..reading import Document, read_document
from ..records import unmapped

UTC_ZONE = ZoneInfo("UTC")

MESSAGE_LIMIT = 300
# Sources put numbers where text is expected (ids, keys, codes); Arrow needs one type per column.
_TEXT_COLUMNS = {"event_key", "stream", "project", "correlation_id", "event_type_raw", "actor",
                 "name", "outcome", "message", "error_code", "error_category", "ts_raw"}
TOKEN_UNIT = "tokens"


def clip(text: Any, limit: int = MESSAGE_LIMIT) -> str | None:
    """One readable line for `message`; the full text stays in attrs."""
    if text is None:
        return None
    if not isinstance(text, str):
        text = json.dumps(text, ensure_ascii=False, default=str)
    line = " ".join(text.split())
    if not line:
        return None
    return line if len(line) <= limit else line[: limit - 1] + "…"


def as_dict(value: Any) -> dict[str, Any]:
    """An object member as a dict; anything else (a number, list, string) as an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_key(value: Any) -> Any:
    """A value usable as a dict key or set member: lists and objects become their JSON text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json_text(value)


def as_text(value: Any) -> str | None:
    """Text columns (stream, name, ...) as str, the way Collector.event stores them."""
    if value is None or isinstance(value, str):
        return value
    return str(value)


def json_text(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return str(value)


def head_text(head: bytes) -> str:
    return head.decode("utf-8", "replace")


def type_is(head: bytes, *values: str) -> bool:
    """True when a `"type": "<value>"` pair for one of `values` occurs in the head bytes."""
    alternatives = "|".join(re.escape(v) for v in values)
    return re.search(rf'"type"\s*:\s*"(?:{alternatives})"', head_text(head)) is not None


def has_key(head: bytes, *keys: str) -> bool:
    text = head_text(head)
    return all(re.search(rf'"{re.escape(k)}"\s*:', text) for k in keys)


def first_line(head: bytes) -> str:
    return head_text(head).lstrip("\ufeff").split("\n", 1)[0]


def head_lines(head: bytes, limit: int | None = 5) -> list[str]:
    """The first non-blank lines of the head (all when `limit` is None), BOM and CRs dropped."""
    lines = (line.rstrip("\r") for line in head_text(head).lstrip("\ufeff").split("\n"))
    return [line for line in lines if line.strip()][:limit]


@dataclass
class Collector:
    """Accumulates a file's rows; keeps records_read = loaded + quarantined easy to honour."""

    ctx: LoadContext
    events: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[Quarantine] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    records_read: int = 0

    def event(self, record_no: int | None, event_type: str, **fields: Any) -> dict[str, Any]:
        row = {"record_no": record_no, "event_type": event_type, **fields}
        for key in _TEXT_COLUMNS.intersection(row):
            value = row[key]
            if value is not None and not isinstance(value, str):
                row[key] = str(value)
        # Order as found in the source: the line / list index; events of one record share it.
        row.setdefault("position", record_no)
        self.events.append(row)
        return row

    def metric(
        self,
        record_no: int | None,
        name: str,
        value: float | int | None,
        *,
        unit: str = TOKEN_UNIT,
        **fields: Any,
    ) -> None:
        if value is None or isinstance(value, bool):
            return
        try:
            number = float(value)
        except (TypeError, ValueError):
            return
        self.metrics.append(
            {"record_no": record_no, "name": name, "value": number, "unit": unit, **fields}
        )

    def bad(self, record_no: int | None, reason: str, raw: Any = None) -> None:
        text = raw if isinstance(raw, str | bytes) or raw is None else json_text(raw)
        self.quarantine.append(Quarantine(record_no, reason, excerpt(text)))

    @contextmanager
    def record(self, record_no: int | None, raw: Any) -> Iterator[None]:
        """Map one record: a value the mapping did not expect quarantines the record (its rows
        so far withdrawn) instead of failing the file."""
        marks = (len(self.events), len(self.metrics),
                 {name: len(rows) for name, rows in self.tables.items()})
        try:
            yield
        except IncidentLabError:
            raise
        except Exception as exc:  # whatever the values, only this record is lost
            del self.events[marks[0]:]
            del self.metrics[marks[1]:]
            for name, rows in self.tables.items():
                del rows[marks[2].get(name, 0):]
            self.bad(record_no, unmapped(exc), raw)

    def result(self) -> LoadResult:
        return LoadResult(
            records_read=self.records_read,
            events=self.events,
            metrics=self.metrics or None,
            tables=dict(self.tables),
            quarantine=self.quarantine,
            facts=self.facts,
        )


def iter_json_lines(col: Collector) -> Iterator[tuple[int, dict[str, Any], str]]:
    """Stream a JSONL file: yields (line number, object, raw line); bad lines are quarantined."""
    lines = JsonLines(col.ctx.path, col.quarantine)
    try:
        yield from lines
    finally:
        col.records_read += lines.read


def _keyed(col: Collector, records: Iterator[tuple[int, Any, Any]], key: str, what: str,
           *, count: bool) -> Iterator[tuple[int, dict[str, Any], Any]]:
    for number, record, raw in records:
        if count:
            col.records_read += 1
        if not isinstance(record, dict) or not isinstance(record.get(key), str):
            col.bad(number, f"{what} is not an object with a string '{key}'", raw)
            continue
        yield number, record, raw


def keyed_items(col: Collector, items: list[Any], key: str, what: str
                ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(number from 1, item) of a list's items that are objects with a string `key`; every item
    counts as read, the others are quarantined ("<what> is not an object with a string
    '<key>'")."""
    numbered = ((number, item, item) for number, item in enumerate(items, start=1))
    for number, item, _ in _keyed(col, numbered, key, what, count=True):
        yield number, item


def object_items(col: Collector, items: list[Any], what: str, *, start: int = 1
                 ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(number from `start`, item) of a list's items that are objects; every item counts as
    read, the others are quarantined ("<what> is not an object")."""
    for number, item in enumerate(items, start=start):
        col.records_read += 1
        if not isinstance(item, dict):
            col.bad(number, f"{what} is not an object", item)
            continue
        yield number, item


def keyed_lines(col: Collector, key: str, what: str = "record"
                ) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(line number, object, raw line) of the file's JSON lines with a string `key`, the rest
    quarantined as keyed_items does (iter_json_lines counts the lines and quarantines the
    malformed ones)."""
    return _keyed(col, iter_json_lines(col), key, what, count=False)


def json_document(col: Collector) -> Document:
    """Read the file as one JSON document; when it does not parse, that is one quarantined record."""
    doc = read_document(col.ctx.path)
    if doc.problem is not None:
        col.records_read += 1
        col.quarantine.append(doc.problem)
    return doc


def ts_fields(ctx: LoadContext, raw: Any) -> dict[str, Any]:
    """ts / ts_raw / ts_quality for a zoned or epoch timestamp (zone-less values count as UTC)."""
    if raw is None or raw == "":
        return {"ts": None, "ts_raw": None, "ts_quality": "missing"}
    ts, quality = ctx.parse_ts(raw)
    return {"ts": ts, "ts_raw": str(raw), "ts_quality": quality}


def local_ts_fields(col: Collector, raw: Any) -> dict[str, Any]:
    """Timestamps the tool wrote in local wall-clock time without a zone.

    With --tz they become assumed_local; without it the file is refused with NeedsTimezoneError,
    the rule every loader of naive local times follows (text logs, Tapps logs): never guessed.
    """
    if raw is None or raw == "":
        return {"ts": None, "ts_raw": None, "ts_quality": "missing"}
    ts, quality = col.ctx.parse_ts(raw, naive="local")
    if ts is None and col.ctx.tz is None and isinstance(raw, str) and is_naive_time(raw):
        raise NeedsTimezoneError(str(col.ctx.path), raw)
    return {"ts": ts, "ts_raw": str(raw), "ts_quality": quality}


def is_naive_time(raw: str) -> bool:
    """True when `raw` is a readable time that only lacks its zone."""
    return parse_ts(raw, naive="local", tz=UTC_ZONE)[1] == "assumed_local"


def derived_ts(source: dict[str, Any], note: str) -> dict[str, Any]:
    """Copy a time from another event, marked 'derived' and saying where it came from."""
    if source.get("ts") is None:
        return {"ts": None, "ts_raw": None, "ts_quality": "missing"}
    return {"ts": source["ts"], "ts_raw": f"{note}: {source['ts_raw']}", "ts_quality": "derived"}
