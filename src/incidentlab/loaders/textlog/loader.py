"""Plain-text logs: timestamp-prefixed records (multi-line kept together) with Drain3 templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from ...errors import LoaderError, NeedsTimezoneError
from ...timeparse import parse_ts
from ..base import LoadContext, LoadResult, Quarantine, excerpt, read_head
from ..records import unmapped
from .grammar import TRACEBACK, Grammar, Parsed, Stamp, infer_grammar, mtime_utc, with_year
from .templates import TEMPLATE_TABLE, mine, template_id, template_rows

SAMPLE_LINES = 2000
# Binary formats whose pages may hold log text: never text logs, whatever their lines say.
BINARY_MAGIC = (b"SQLite format 3\x00", b"\x1f\x8b", b"PK\x03\x04", b"PAR1", b"\x7fELF", b"%PDF")
NOT_TEXT_LOGS = {".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".md", ".sqlite", ".db", ".toml",
                 ".yaml", ".yml", ".py", ".html", ".xml", ".parquet", ".gz", ".zip", ".traj"}
DOCUMENTS = {".md": "Markdown", ".html": "HTML"}  # text that is never a log: why it stays out


@dataclass
class _Record:
    line: int
    stamp: Stamp | None
    lines: list[str] = field(default_factory=list)
    line_end: int = 0


def _lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, text) with CR/LF stripped and bad UTF-8 replaced; blanks kept."""
    with path.open("rb") as handle:
        return [
            (n, raw.decode("utf-8", "replace").rstrip("\r\n"))
            for n, raw in enumerate(handle, start=1)
        ]


def _records(lines: list[tuple[int, str]], grammar: Grammar) -> list[_Record]:
    records: list[_Record] = []
    for number, text in lines:
        stamp = grammar.match(text.lstrip("\ufeff")) if text.strip() else None
        if stamp is not None or not records:
            if stamp is None and not text.strip():
                continue  # leading blank lines belong to nothing
            records.append(_Record(number, stamp))
        current = records[-1]
        current.lines.append(text)
        if text.strip():
            current.line_end = number
    for record in records:
        while record.lines and not record.lines[-1].strip():
            record.lines.pop()  # trailing blank lines are separators, not content
    return records


@lru_cache(maxsize=1 << 16)
def _parse(iso: str, naive: str, tz: ZoneInfo | None) -> tuple[datetime | None, str]:
    """parse_ts, memoized: log lines share their second far more often than not."""
    return parse_ts(iso, naive=naive, tz=tz)


def _utc_file(stamps: list[Stamp]) -> bool:
    """Zoned stamps exist and all say UTC: naive ones in the same file are taken as UTC too."""
    zones = [s.iso for s in stamps if s.has_zone]
    return bool(zones) and all(z.endswith(("Z", "+00:00", "+0000", "-00:00")) for z in zones)


def _unstamped(path: Path, lines: list[tuple[int, str]]) -> LoadResult:
    """No line has a timestamp (a log cut or damaged at its start): the text is one record."""
    first = next((n for n, text in lines if text.strip()), None)
    facts = {"grammar": None, "lines": len(lines)}
    if first is None:
        return LoadResult(records_read=0, events=[], facts=facts)
    problem = Quarantine(first, "no line starts with a recognizable timestamp (is it a text log?)",
                         excerpt(path.read_bytes()))
    return LoadResult(records_read=1, events=[], quarantine=[problem], facts=facts)


def _key(stamp: Stamp) -> datetime | None:
    """A year-less stamp's month/day/time in the placeholder year (for ordering), or None."""
    try:
        return datetime.fromisoformat(stamp.iso[:19])
    except ValueError:
        return None


def _years(records: list[_Record], reference: datetime, year: int | None,
           tz: ZoneInfo | None = None) -> dict[int, int]:
    """The year of each year-less record (by index), from the evidence around it.

    With an explicit year, the first record is in it and each later one that goes back in the
    calendar by more than a day starts the next year. Without one, the last record is in the
    year of the file's mtime unless that would be after the mtime; walking back, a record later
    in the calendar than the one after it by more than a day is from the year before.
    """
    keyed = [(i, k) for i, r in enumerate(records) if r.stamp and (k := _key(r.stamp))]
    if not keyed:
        return {}
    day = timedelta(days=1)
    years: dict[int, int] = {}
    if year is not None:
        current, previous = year, None
        for index, key in keyed:
            if previous is not None and key < previous - day:
                current += 1
            years[index], previous = current, key
        return years
    last = keyed[-1][1]
    moment = (reference.astimezone(tz) if tz else reference).replace(tzinfo=None)
    try:
        in_2000 = moment.replace(year=2000)
    except ValueError:  # never: 2000 is a leap year
        in_2000 = moment
    current = moment.year if last <= in_2000 else moment.year - 1
    following = None
    for index, key in reversed(keyed):
        if following is not None and key > following + day:
            current -= 1
        years[index], following = current, key
    return years


class TextLogLoader:
    name: ClassVar[str] = "generic.textlog"
    system: ClassVar[str] = "generic"
    source: ClassVar[str] = "textlog"
    version: ClassVar[str] = "2"
    description: ClassVar[str] = (
        "Plain-text logs of any line grammar with a timestamp (inferred per file: timestamp "
        "format and position, level, component, pid, thread); multi-line records; Drain3 "
        "templates of the message content into textlog_templates"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        return self._verdict(path, head) == ""

    def declines(self, path: Path, head: bytes) -> str | None:
        """Why a text file is not a log here (None when it is not text, or is one)."""
        return self._verdict(path, head) or None

    @staticmethod
    def _verdict(path: Path, head: bytes) -> str | None:
        """"" for a text log, a reason for text that is not one, None for what is not text."""
        if path.suffix.lower() in DOCUMENTS:
            return f"a {DOCUMENTS[path.suffix.lower()]} document, not a log"
        if path.suffix.lower() in NOT_TEXT_LOGS or head.startswith(BINARY_MAGIC):
            return None
        text = head.decode("utf-8", "replace")
        stripped = text.lstrip("\ufeff \t\r\n")
        if stripped.startswith("{") or stripped.startswith(("[{", '["', "[]")):
            return None
        lines = [line for line in text.splitlines() if line.strip()]
        if len(head) >= 4096 and len(lines) > 1:
            lines = lines[:-1]  # the last line of a cut head may be partial
        # NUL runs (a crash's zero-filled block) spoil only their own lines; in binary data most
        # lines hold a NUL, so those must stay the minority.
        clean = [line.lstrip("\ufeff") for line in lines if "\x00" not in line]
        if len(clean) < len(lines) - len(clean) or not clean:
            return None
        lines = clean[:50]
        grammar = infer_grammar(lines)
        read = f"{len(lines)} line{'s' if len(lines) != 1 else ''}"
        if grammar is None:
            return f"text with no time this tool reads in its first {read}"
        hits = sum(1 for line in lines if grammar.match(line))
        if hits >= 0.5 * len(lines):
            return ""
        # long multi-line records (config dumps, tracebacks): the file must start with a header
        if grammar.match(lines[0]) and hits >= 2:
            return ""
        return f"text with a time in only {hits} of its first {read}"

    def load(self, ctx: LoadContext) -> LoadResult:
        if read_head(ctx.path, 16).startswith(BINARY_MAGIC):
            raise LoaderError(str(ctx.path), "a binary file (database, archive...), not a text log",
                              hint="ingest it with another loader (--loader)")
        lines = _lines(ctx.path)
        sample = [t.lstrip("\ufeff") for _, t in lines if t.strip()][:SAMPLE_LINES]
        grammar = infer_grammar(sample)
        if grammar is None:
            return _unstamped(ctx.path, lines)
        records = _records(lines, grammar)
        stamps = [r.stamp for r in records if r.stamp is not None]
        naive = next((s for s in stamps if not s.has_zone), None)
        utc_file = _utc_file(stamps)
        if naive is not None and ctx.tz is None and not utc_file:
            raise NeedsTimezoneError(str(ctx.path), naive.raw)
        reference = mtime_utc(ctx.path.stat().st_mtime)
        given = getattr(ctx, "year", None)
        years = _years(records, reference, given, ctx.tz) if grammar.year_missing else {}

        quarantine: list[Quarantine] = []
        kept: list[tuple[int, _Record, datetime | None, str, Parsed | None]] = []
        moved_back = 0
        for position, record in enumerate(records, start=1):
            ts, quality = self._time(record.stamp, ctx, utc_file, years.get(position - 1))
            if (ts is not None and record.stamp is not None and record.stamp.year_missing
                    and ts > reference):
                # a year-less time is never after the file was written: the year before
                ts, quality = self._time(record.stamp, ctx, utc_file, years[position - 1] - 1)
                moved_back += 1
            if record.stamp is not None and ts is None:
                quarantine.append(Quarantine(
                    record.line, f"timestamp {record.stamp.raw!r} is not a valid date",
                    excerpt("\n".join(record.lines)),
                ))
                continue
            try:
                first = record.lines[0].lstrip("\ufeff")
                parsed = grammar.split(first, record.stamp) if record.stamp else None
            except Exception as exc:  # whatever the text, only this record is lost
                quarantine.append(Quarantine(record.line, unmapped(exc),
                                             excerpt("\n".join(record.lines))))
                continue
            kept.append((position, record, ts, quality, parsed))

        # mined in time order (file order among equal or missing times), as new_templates() does
        order = sorted(range(len(kept)), key=lambda i: (
            (False, kept[i][2], i) if kept[i][2] is not None else (True, reference, i)))
        contents = [self._content(kept[i][1], kept[i][4]) for i in order]
        mined = mine(contents)
        assigned: list[tuple[str, str]] = [("", "")] * len(kept)
        for i, (_, text) in zip(order, mined, strict=True):
            assigned[i] = (template_id(text), text)
        events = [
            self._event(ctx, position, record, ts, quality, parsed, tid, text)
            for (position, record, ts, quality, parsed), (tid, text)
            in zip(kept, assigned, strict=True)
        ]
        templates = template_rows(assigned, [k[2] for k in kept])
        facts: dict[str, Any] = {
            "grammar": grammar.name,
            "header": grammar.describe(),
            "header_share": round(grammar.share, 3),
            "lines": len(lines),
            "multiline_records": sum(1 for r in records if len(r.lines) > 1),
            "templates": len(templates),
        }
        if grammar.year_missing and given is not None:
            facts["year_given"] = given
        elif grammar.year_missing:
            facts["year_from_mtime"] = reference.isoformat()
            if moved_back:
                facts["year_moved_back"] = moved_back
        if naive is not None and ctx.tz is None:
            facts["naive_assumed_utc"] = "zoned timestamps in this file are all UTC"
        return LoadResult(
            records_read=len(records), events=events, quarantine=quarantine,
            tables={TEMPLATE_TABLE: templates}, facts=facts,
        )

    @staticmethod
    def _content(record: _Record, parsed: Parsed | None) -> str:
        return parsed.content if parsed is not None else record.lines[0].lstrip("\ufeff").strip()

    @staticmethod
    def _time(
        stamp: Stamp | None, ctx: LoadContext, utc_file: bool, year: int | None
    ) -> tuple[datetime | None, str]:
        if stamp is None:
            return None, "missing"
        iso = stamp.iso
        if stamp.year_missing:
            if year is None:
                return None, "missing"
            iso = with_year(iso, year)
        if stamp.has_zone:
            return _parse(iso, "utc", None)
        if ctx.tz is not None:
            ts, quality = _parse(iso, "local", ctx.tz)
        else:
            ts, quality = _parse(iso, "utc", None) if utc_file else (None, "missing")
        if ts is not None and stamp.year_missing:
            quality = "derived"
        return ts, quality

    def _event(
        self, ctx: LoadContext, position: int, record: _Record, ts: datetime | None, quality: str,
        parsed: Parsed | None, tid: str, template: str,
    ) -> dict[str, Any]:
        content = self._content(record, parsed)
        body = "\n".join([content, *record.lines[1:]])
        traceback = any(TRACEBACK.match(line) for line in record.lines[1:])
        level = parsed.level if parsed else None
        severity = (parsed.severity if parsed else None) or "info"
        if traceback and severity not in ("error", "critical"):
            severity = "error"
        is_error = severity in ("error", "critical")
        fields = parsed.fields if parsed else {}
        return {
            "record_no": record.line,
            "ts": ts,
            "ts_raw": record.stamp.raw if record.stamp else None,
            "ts_quality": quality,
            "stream": ctx.path.name,
            "position": position,
            "event_type": "error" if is_error else "log",
            "event_type_raw": tid,
            "actor": fields.get("component"),
            "name": template,
            "severity": severity,
            "message": body,
            "attrs": {
                "line": record.line,
                "line_end": record.line_end or record.line,
                "text": "\n".join(record.lines),
                "level": level,
                **fields,
                "template_id": tid,
                "template": template,
                "traceback": traceback,
            },
        }
