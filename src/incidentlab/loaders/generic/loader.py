"""Generic structured logs (JSON lines, CSV); a mapping file or common names give the fields."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ...errors import LoaderError, NeedsTimezoneError
from ..base import JsonLines, LoadContext, LoadResult, Quarantine, excerpt, path_has
from ..reading import decode, parse_json
from ..reading.text import BOM
from ..records import unmapped
from .fields import Mapping_, http_fields, load_mapping, lookup, resolve
from .values import NaiveTime, http_severity, plausible, read_time, severity

SAMPLE = 200
JSON_SUFFIXES = {".jsonl", ".ndjson", ".json", ".log", ".txt", ""}
CSV_SUFFIXES = {".csv", ".tsv"}
# folders of systems with their own loaders: never claim their files here
OWNED_DIRS = (".claude", ".codex", ".gemini", ".codingbuddy", ".deepseek", ".tapps-agents",
              "workflow-state", ".beads", ".openhands")


def _owned_shape(record: dict[str, Any]) -> bool:
    """Records of specific systems that merely have a time field (transcripts, event streams)."""
    keys = {k for k in record if isinstance(k, str)}
    return (
        {"seq_no", "session_id", "kind"} <= keys  # CodingBuddy events.jsonl
        or ("sessionId" in keys and ({"parentUuid", "uuid"} & keys))  # Claude Code
        or ("payload" in keys and keys <= {"timestamp", "type", "payload"})  # Codex rollout
        or {"workflow_id", "event_type", "seq"} <= keys  # Tapps workflow events
        or {"entry_type", "execution_id"} <= keys  # coding-loops unified transcript
        or any(k.startswith(("resourceSpans", "resourceLogs", "resourceMetrics")) for k in keys)
    )


# A log parser's per-line output (logpai/logparser, Loghub's `*_structured.csv` ground truth):
# each row is a line of a log that was parsed, keyed by its line number. The log is the
# evidence; loading its parse too would count every line twice.
PARSED_LOG_COLUMNS = {"LineId", "Content", "EventId", "EventTemplate"}


def _parsed_log_shape(record: dict[str, Any]) -> bool:
    return PARSED_LOG_COLUMNS.issubset(record)


def _mostly(sample: list[dict[str, Any]], shape: Any) -> bool:
    """More than half of the sampled records have `shape`."""
    return sum(1 for r in sample if shape(r)) > len(sample) / 2


def _time_field(sample: list[dict[str, Any]], mapping: Mapping_) -> str | None:
    return resolve(mapping, sample, plausible).fields["time"]


def _repr(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _looks_like_log(sample: list[dict[str, Any]], mapping: Mapping_, need_text: bool) -> bool:
    if not sample or _mostly(sample, lambda r: _owned_shape(r) or _parsed_log_shape(r)):
        return False
    resolved = resolve(mapping, sample, plausible)
    if resolved.fields["time"] is None:
        return False
    if not need_text or mapping.given:
        return True
    return bool(resolved.fields["message"] or resolved.fields["severity"] or http_fields(sample))


def _complete_lines(head: bytes) -> list[str]:
    text = decode(head.removeprefix(BOM))
    lines = text.splitlines()
    if len(head) >= 4096 and not text.endswith("\n"):
        lines = lines[:-1]
    return [line for line in lines if line.strip()]


def _head_objects(head: bytes, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
    """(the JSON objects among the head's first `limit` complete lines, how many lines looked)."""
    lines = _complete_lines(head)[:limit]
    sample = []
    for line in lines:
        value, problem = parse_json(line)
        if problem is None and isinstance(value, dict):
            sample.append(value)
    return sample, len(lines)


def _csv_rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str] | Quarantine]]:
    """(first line number, cells) per non-blank row; a row the csv module rejects comes as a
    Quarantine of its lines, and reading goes on after it."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    physical: list[str] | None = None
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            physical = physical or io.StringIO(text, newline="").readlines()
            number, start = start, reader.line_num + 1
            raw = "".join(physical[number - 1:start - 1])
            yield number, Quarantine(number, f"unreadable CSV row: {exc}", excerpt(raw))
            continue
        number, start = start, reader.line_num + 1
        if any(cell.strip() for cell in row):
            yield number, row


class _Base:
    system: ClassVar[str] = "generic"
    version: ClassVar[str] = "1"

    def _rows(
        self, ctx: LoadContext, records: list[tuple[int, int, dict[str, Any], str]],
        quarantine: list[Quarantine], facts: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """Events of (position, record number, record, raw) rows; bad ones join `quarantine`."""
        mapping = load_mapping(ctx.path)
        sample = [r for position, _, r, _ in records if position <= SAMPLE * 2][:SAMPLE]
        resolved = resolve(mapping, sample, plausible)
        http = http_fields(sample)
        f = resolved.fields
        facts |= {"fields": {k: v for k, v in f.items() if v}, "mapping": mapping.source}
        if http:
            facts["http_fields"] = http
        events = []
        for position, number, record, raw in records:
            try:
                ts, quality = read_time(
                    lookup(record, f["time"]) if f["time"] else None,
                    resolved.time_format, resolved.naive, ctx.tz,
                )
                time_raw = lookup(record, f["time"]) if f["time"] else None
                if ts is None and time_raw not in (None, ""):
                    quarantine.append(Quarantine(
                        number, f"{f['time']} {_repr(time_raw)} is not a timestamp",
                        excerpt(raw)))
                    continue
                events.append(self._event(ctx, number, position, record, f, http, ts, quality))
            except NaiveTime as exc:
                raise NeedsTimezoneError(str(ctx.path), exc.raw) from exc
            except Exception as exc:  # whatever the values, only this record is lost
                quarantine.append(Quarantine(number, unmapped(exc), excerpt(raw)))
        return events

    @staticmethod
    def _event(
        ctx: LoadContext, number: int, position: int, record: dict[str, Any],
        f: dict[str, str | None], http: dict[str, str], ts: Any, quality: str,
    ) -> dict[str, Any]:
        def value(role: str) -> Any:
            return lookup(record, f[role]) if f.get(role) else None

        message = value("message")
        level_raw = value("severity")
        level = severity(level_raw)
        if http:
            status = lookup(record, http["status"])
            level = level or http_severity(status)
            if message is None:
                where = "".join(
                    str(lookup(record, http[k]) or "") for k in ("host", "target") if k in http
                )
                parts = (lookup(record, http["method"]), where, status)
                message = " ".join(str(p) for p in parts if p not in (None, ""))
        if message is not None and not isinstance(message, str):
            message = json.dumps(message, default=str, ensure_ascii=False)
        seq = value("sequence")
        try:
            seq = int(seq) if seq not in (None, "") else None
        except (TypeError, ValueError):
            seq = None
        level = level or "info"
        stream = value("stream")
        corr = value("correlation_id")
        name = value("name")
        time_raw = value("time")
        return {
            "record_no": number,
            "ts": ts,
            "ts_raw": None if time_raw is None else str(time_raw),
            "ts_quality": quality,
            "stream": str(stream) if stream not in (None, "") else ctx.path.name,
            "seq": seq,
            "position": position,
            "correlation_id": None if corr in (None, "") else str(corr),
            "event_type": "error" if level in ("error", "critical") else "log",
            "event_type_raw": None if level_raw in (None, "") else str(level_raw),
            "name": None if name in (None, "") else str(name),
            "severity": level,
            "message": message,
            "attrs": record,
        }


class JsonlLogLoader(_Base):
    name: ClassVar[str] = "generic.jsonl"
    source: ClassVar[str] = "jsonl"
    description: ClassVar[str] = (
        "Structured JSON-lines logs (ECS, journald export, Cloudflare, pino, ...): time field "
        "from incidentlab-mapping.toml / $INCIDENTLAB_MAPPING or common names"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        try:
            return self._detect(path, head)
        except Exception:
            return False

    def _detect(self, path: Path, head: bytes) -> bool:
        if path.suffix.lower() not in JSON_SUFFIXES or path_has(path, *OWNED_DIRS):
            return False
        # Most lines must be JSON objects; a malformed one (even the first) does not decide.
        sample, looked = _head_objects(head)
        if not sample or 2 * len(sample) < looked:
            return False
        try:
            mapping = load_mapping(path)
        except LoaderError:
            return False
        return _looks_like_log(sample, mapping, need_text=True)

    def load(self, ctx: LoadContext) -> LoadResult:
        quarantine: list[Quarantine] = []
        lines = JsonLines(ctx.path, quarantine)
        # position counts every non-blank line, the quarantined ones too
        records = [(lines.read, number, obj, raw) for number, obj, raw in lines]
        facts: dict[str, Any] = {}
        events = self._rows(ctx, records, quarantine, facts)
        return LoadResult(records_read=lines.read, events=events, quarantine=quarantine,
                          facts=facts)


class CsvLogLoader(_Base):
    name: ClassVar[str] = "generic.csv"
    source: ClassVar[str] = "csv"
    description: ClassVar[str] = (
        "Logs as CSV/TSV with a header row: time column from the mapping file or common names"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        try:
            return self._detect(path, head)
        except Exception:
            return False

    def _detect(self, path: Path, head: bytes) -> bool:
        read = self._sample(path, head)
        return read is not None and _looks_like_log(*read, need_text=False)

    def declines(self, path: Path, head: bytes) -> str | None:
        """Why a CSV/TSV table is not a log here (None when it is not one of those)."""
        try:
            return self._declines(path, head)
        except Exception:
            return None

    def _declines(self, path: Path, head: bytes) -> str | None:
        read = self._sample(path, head)
        if read is None or not read[0]:
            return None
        sample, mapping = read
        if _mostly(sample, _parsed_log_shape):
            return ("a log parser's per-line output (LineId, EventId, EventTemplate): the log "
                    "it parsed is the evidence")
        if _time_field(sample, mapping) is None:
            return "a table with no column of times (name one in a --mapping file)"
        return None

    def _sample(self, path: Path, head: bytes) -> tuple[list[dict[str, Any]], Mapping_] | None:
        """The head's first rows as dicts, and the field mapping; None when not a CSV of ours."""
        if path.suffix.lower() not in CSV_SUFFIXES or path_has(path, *OWNED_DIRS):
            return None
        try:
            mapping = load_mapping(path)
            lines = _complete_lines(head)[:51]
            reader = csv.DictReader(io.StringIO("\n".join(lines)),
                                    delimiter=self._delimiter(path, "\n".join(lines), mapping))
            sample = [{k: v for k, v in row.items() if k is not None} for row in reader]
        except (LoaderError, csv.Error):
            return None
        return sample, mapping

    def load(self, ctx: LoadContext) -> LoadResult:
        mapping = load_mapping(ctx.path)
        text = decode(ctx.path.read_bytes().removeprefix(BOM))
        delimiter = self._delimiter(ctx.path, text[:65536], mapping)
        quarantine: list[Quarantine] = []
        records: list[tuple[int, int, dict[str, Any], str]] = []
        header: list[str] | None = None
        read = 0
        for number, row in _csv_rows(text, delimiter):
            if header is None and isinstance(row, list):
                header = row
                continue
            read += 1
            if isinstance(row, Quarantine):
                quarantine.append(row)
                continue
            raw = ",".join(row)
            if header is None or len(row) != len(header):
                quarantine.append(Quarantine(
                    number, f"row has {len(row)} fields, the header has {len(header or [])}",
                    excerpt(raw)))
                continue
            records.append((read, number, dict(zip(header, row, strict=True)), raw))
        facts: dict[str, Any] = {"columns": header}
        events = self._rows(ctx, records, quarantine, facts)
        return LoadResult(records_read=read, events=events, quarantine=quarantine, facts=facts)

    @staticmethod
    def _delimiter(path: Path, text: str, mapping: Mapping_) -> str:
        if mapping.delimiter:
            return mapping.delimiter
        if path.suffix.lower() == ".tsv":
            return "\t"
        first = text.split("\n", 1)[0]
        return max((",", ";", "\t", "|"), key=first.count)
