"""Line grammar of plain-text logs: which timestamp prefix starts a record, and its ISO form."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
)}
_MON = "(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_CLOCK = r"(?P<clock>\d\d:\d\d:\d\d)(?:[.,](?P<frac>\d{1,9}))?"
_ISO_BODY = (
    r"(?P<date>\d{4}-\d\d-\d\d)[T ]" + _CLOCK + r"(?:\s?(?P<zone>Z|[+-]\d\d:?\d\d))?"
)
_LEVEL = re.compile(
    r"^(?P<pid>\s*\d+(?=\s))?[\s\[\(<|:-]*"
    r"(?P<level>TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRIT|CRITICAL|FATAL|SEVERE|EMERG|ALERT|PANIC|trace|debug|info|notice|warn|warning|error|crit|critical|fatal|"
    r"emerg|alert)\b[\]\)>:|]?"
)
SEVERITY = {
    "trace": "debug", "debug": "debug", "info": "info", "notice": "info", "warn": "warning",
    "warning": "warning", "error": "error", "err": "error", "severe": "error", "crit": "critical",
    "critical": "critical", "fatal": "critical", "emerg": "critical", "alert": "critical",
    "panic": "critical",
}
TRACEBACK = re.compile(
    r"^(Traceback \(most recent call last\)|\s+at [\w$.<>]+\(|Caused by: |\s+File \".*\", line \d+)"
)


@dataclass(frozen=True)
class Stamp:
    """A parsed prefix: raw text, an ISO string for timeparse, whether the year is missing."""

    raw: str
    iso: str
    end: int
    has_zone: bool
    year_missing: bool = False


def _frac(match: re.Match[str]) -> str:
    frac = match.groupdict().get("frac")
    return f".{frac}" if frac else ""


def _iso(m: re.Match[str]) -> tuple[str, bool]:
    zone = m["zone"] or ""
    return f"{m['date']}T{m['clock']}{_frac(m)}{zone}", bool(zone)


def _syslog(m: re.Match[str]) -> tuple[str, bool]:
    # year filled in later from the file's mtime; 2000 is a leap year so Feb 29 parses
    return f"2000-{MONTHS[m['mon']]:02d}-{int(m['day']):02d}T{m['clock']}{_frac(m)}", False


def _apache(m: re.Match[str]) -> tuple[str, bool]:
    return f"{m['year']}-{MONTHS[m['mon']]:02d}-{int(m['day']):02d}T{m['clock']}{_frac(m)}", False


def _yymmdd(m: re.Match[str]) -> tuple[str, bool]:
    return f"20{m['yy']}-{m['mm']}-{m['dd']}T{m['clock']}{_frac(m)}", False


def _compact(m: re.Match[str]) -> tuple[str, bool]:
    return f"20{m['yy']}-{m['mm']}-{m['dd']}T{m['H']}:{m['M']}:{m['S']}", False


def _log4j(m: re.Match[str]) -> tuple[str, bool]:
    return f"{m['year']}-{MONTHS[m['mon']]:02d}-{m['dd']}T{m['clock']}{_frac(m)}", False


def _slashed(m: re.Match[str]) -> tuple[str, bool]:
    return f"{m['y']}-{m['m']}-{m['d']}T{m['clock']}{_frac(m)}", False


def _clf(m: re.Match[str]) -> tuple[str, bool]:
    z = m["zone"]
    return f"{m['year']}-{MONTHS[m['mon']]:02d}-{m['dd']}T{m['clock']}{z[:3]}:{z[3:]}", True


@dataclass(frozen=True)
class Grammar:
    name: str
    pattern: re.Pattern[str]
    to_iso: Callable[[re.Match[str]], tuple[str, bool]]
    year_missing: bool = False

    def match(self, line: str) -> Stamp | None:
        m = self.pattern.match(line)
        if not m:
            return None
        iso, zoned = self.to_iso(m)
        return Stamp(m.group("ts"), iso, m.end(), zoned, self.year_missing)


# Order matters only for detection ties: the most specific forms first.
GRAMMARS: tuple[Grammar, ...] = (
    Grammar("iso8601", re.compile(r"^\[?(?P<ts>" + _ISO_BODY + r")\]?"), _iso),
    Grammar("apache", re.compile(
        r"^\[(?P<ts>" + _DAY + " " + _MON + r" +(?P<day>\d{1,2}) " + _CLOCK
        + r" (?P<year>\d{4}))\]"), _apache),
    Grammar("syslog", re.compile(
        r"^(?P<ts>" + _MON + r" +(?P<day>\d{1,2}) " + _CLOCK + r")(?=\s)"), _syslog, True),
    Grammar("log4j_yymmdd", re.compile(
        r"^(?P<ts>(?P<yy>\d\d)/(?P<mm>\d\d)/(?P<dd>\d\d) " + _CLOCK + ")"), _yymmdd),
    Grammar("compact", re.compile(
        r"^(?P<ts>(?P<yy>\d\d)(?P<mm>[01]\d)(?P<dd>[0-3]\d) (?P<H>[0-2]\d)(?P<M>[0-5]\d)"
        r"(?P<S>[0-6]\d))(?=\s)"), _compact),
    Grammar("log4j_date", re.compile(
        r"^(?P<ts>(?P<dd>\d\d) " + _MON + r" (?P<year>\d{4}) " + _CLOCK + ")"), _log4j),
    Grammar("slashed", re.compile(
        r"^\[?(?P<ts>(?P<y>\d{4})/(?P<m>\d\d)/(?P<d>\d\d)[ T]" + _CLOCK + r")\]?"), _slashed),
    Grammar("clf", re.compile(
        r"^\S+ \S+ \S+ \[(?P<ts>(?P<dd>\d\d)/" + _MON + r"/(?P<year>\d{4}):" + _CLOCK
        + r" (?P<zone>[+-]\d{4}))\]"), _clf),
    # a source-file tag before an ISO time (OpenStack: `nova-api.log.1.2017-05-16_13:53:08 2017-…`)
    Grammar("tagged_iso8601", re.compile(r"^\S+ \[?(?P<ts>" + _ISO_BODY + r")\]?"), _iso),
)


def choose_grammar(lines: list[str]) -> tuple[Grammar | None, float]:
    """The grammar matching most sample lines, and the share of lines it matches."""
    if not lines:
        return None, 0.0
    best, best_hits = None, 0
    for grammar in GRAMMARS:
        hits = sum(1 for line in lines if grammar.pattern.match(line))
        if hits > best_hits:
            best, best_hits = grammar, hits
    return best, best_hits / len(lines)


def split_level(rest: str) -> tuple[str | None, str]:
    """(severity or None, text after the level token) for the text following a timestamp."""
    m = _LEVEL.match(rest)
    if not m:
        return None, rest.strip()
    return SEVERITY.get(m["level"].lower()), rest[m.end():].lstrip(" :-|]")


# syslog after the time: `host program[pid]: message` (RFC 3164 style)
SYSLOG_TAG = re.compile(r"^\s*(?P<host>[\w.-]+) (?P<program>[\w./()@-]+?)(?:\[(?P<pid>\d+)\])?: ")


def split_syslog(rest: str) -> tuple[dict[str, str], str]:
    """(host/program/pid found, message) for the text after a syslog timestamp."""
    m = SYSLOG_TAG.match(rest)
    if not m:
        return {}, rest
    return {k: v for k, v in m.groupdict().items() if v}, rest[m.end():]


def split_header(grammar: Grammar, rest: str) -> tuple[str | None, str, dict[str, str]]:
    """(severity, message to mine, header fields) for the text after the timestamp."""
    fields: dict[str, str] = {}
    if grammar.name == "syslog":
        fields, rest = split_syslog(rest)
    level, content = split_level(rest)
    return level, content or rest.strip(), fields


def year_for(month: int, reference: datetime) -> int:
    """A year-less month belongs to the reference (mtime) year unless that puts it in the future."""
    return reference.year - 1 if month > reference.month else reference.year


def with_year(iso: str, reference: datetime) -> str:
    month = int(iso[5:7])
    return f"{year_for(month, reference):04d}{iso[4:]}"


def mtime_utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
