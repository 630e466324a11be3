"""Line grammar of plain-text logs, inferred from the file itself.

A file's grammar says where each record's timestamp is (which whitespace-separated token it starts
at, and its format), which header fields follow it (level, pid/tid, thread, logger/component,
separators) and where the message content starts. It is learned from a sample of the file's
lines: the timestamp is the format and token position most lines agree on; the header columns are
the token columns most lines agree on (a level word or letter in one column, a `component:` or
`program[pid]:` token, `-` / `|` separators, `[thread]` groups, numbers, padded columns). No
per-format configuration: the same rules for every file.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
)}
_MON = "(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DOW = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_HMS = r"(?P<H>\d\d):(?P<m>\d\d):(?P<S>\d\d)"
_FRAC = r"(?:[.,](?P<f>\d{1,9}))?"
_ZONE = r"(?:\s?(?P<z>Z|[+-]\d\d:?\d\d)(?![\w:]))?"
# epoch seconds 1990..2100, optionally with a fraction, or epoch milliseconds
EPOCH_RANGE = (631152000, 4102444800)

SEVERITY = {
    "trace": "debug", "debug": "debug", "fine": "debug", "finer": "debug", "finest": "debug",
    "verbose": "debug", "info": "info", "information": "info", "notice": "info",
    "warn": "warning", "warning": "warning", "error": "error", "err": "error", "severe": "error",
    "crit": "critical", "critical": "critical", "fatal": "critical", "emerg": "critical",
    "alert": "critical", "panic": "critical",
}
# single-letter levels (Android logcat, glog): only as a whole column of such letters
LETTERS = {"V": "debug", "D": "debug", "I": "info", "W": "warning", "E": "error",
           "F": "critical", "A": "critical"}
TRACEBACK = re.compile(
    r"^(Traceback \(most recent call last\)|\s+at [\w$.<>]+\(|Caused by: |\s+File \".*\", line \d+)"
)


@dataclass(frozen=True)
class Stamp:
    """A record's timestamp: raw text, an ISO string for timeparse, whether the year is missing.

    A year-less stamp's ISO text has the placeholder year 2000 (a leap year, so Feb 29 parses);
    the loader puts the year it infers in its place.
    """

    raw: str
    iso: str
    end: int
    has_zone: bool
    year_missing: bool = False


def _frac(m: re.Match[str]) -> str:
    frac = m.groupdict().get("f")
    return f".{frac}" if frac else ""


def _two(value: str) -> str:
    return value.zfill(2)


def _dated(m: re.Match[str]) -> tuple[str, bool]:
    g = m.groupdict()
    year = g["Y"] if g.get("Y") else f"20{g['y']}"
    month = f"{MONTHS[g['mon']]:02d}" if g.get("mon") else g["M"]
    zone = g.get("z") or ""
    if len(zone) == 5 and zone[0] in "+-":
        zone = f"{zone[:3]}:{zone[3:]}"
    iso = (f"{year}-{month}-{_two(g['d'])}T{_two(g['H'])}:{_two(g['m'])}:{_two(g['S'])}"
           f"{_frac(m)}{zone}")
    return iso, bool(zone)


def _millis(m: re.Match[str]) -> tuple[str, bool]:
    """`yyyyMMdd-H:m:s:SSS`: the last field counts milliseconds (`:5` is 5 ms, not .5 s)."""
    g = m.groupdict()
    ms = f".{int(g['f']):03d}" if g.get("f") else ""
    return f"{g['Y']}-{g['M']}-{g['d']}T{_two(g['H'])}:{_two(g['m'])}:{_two(g['S'])}{ms}", False


def _yearless(m: re.Match[str]) -> tuple[str, bool]:
    g = m.groupdict()
    month = f"{MONTHS[g['mon']]:02d}" if g.get("mon") else g["M"]
    return f"2000-{month}-{_two(g['d'])}T{g['H']}:{g['m']}:{g['S']}{_frac(m)}", False


def _epoch(m: re.Match[str]) -> tuple[str, bool]:
    text = m["E"]
    value = int(text) / 1000 if len(text) == 13 and "." not in text else float(text)
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=value)
    return moment.isoformat(), True


@dataclass(frozen=True)
class TimeFormat:
    name: str
    pattern: re.Pattern[str]
    to_iso: Callable[[re.Match[str]], tuple[str, bool]]
    year_missing: bool = False

    def at(self, line: str, pos: int) -> Stamp | None:
        """The stamp starting at `pos` (or inside a `[...]` opening there), ending at a boundary."""
        bracketed = line.startswith("[", pos)
        m = self.pattern.match(line, pos + 1 if bracketed else pos)
        if not m:
            return None
        end = m.end()
        if bracketed:
            if not line.startswith("]", end):
                return None
            end += 1
        elif end < len(line) and not (line[end].isspace() or line[end] in ",|;]"):
            return None
        if self.name == "epoch":
            number = float(m["E"]) / (1000 if len(m["E"]) == 13 else 1)
            if not EPOCH_RANGE[0] <= number < EPOCH_RANGE[1]:
                return None
        iso, zoned = self.to_iso(m)
        return Stamp(m.group(0), iso, end, zoned, self.year_missing)


def _fmt(name: str, regex: str, to_iso: Callable[[re.Match[str]], tuple[str, bool]],
         year_missing: bool = False) -> TimeFormat:
    return TimeFormat(name, re.compile(regex), to_iso, year_missing)


# The most specific forms first: at one token position the first format that matches wins.
FORMATS: tuple[TimeFormat, ...] = (
    _fmt("iso8601", r"(?P<Y>\d{4})-(?P<M>\d\d)-(?P<d>\d\d)[T ]" + _HMS + _FRAC + _ZONE, _dated),
    _fmt("ymd_slashed", r"(?P<Y>\d{4})(?P<sep>[/.])(?P<M>\d\d)(?P=sep)(?P<d>\d\d)[T ]" + _HMS
         + _FRAC + _ZONE, _dated),
    # IBM DB2 / BlueGene `2005-06-03-15.42.50.675872`
    _fmt("ymd_dotted_time", r"(?P<Y>\d{4})-(?P<M>\d\d)-(?P<d>\d\d)-(?P<H>\d\d)\.(?P<m>\d\d)\."
         r"(?P<S>\d\d)(?:\.(?P<f>\d{1,9}))?", _dated),
    # `yyyyMMdd-H:m:s:SSS` (HealthApp and other mobile logs)
    _fmt("ymd_millis", r"(?P<Y>\d{4})(?P<M>[01]\d)(?P<d>[0-3]\d)-(?P<H>\d{1,2}):(?P<m>\d{1,2}):"
         r"(?P<S>\d{1,2})(?::(?P<f>\d{1,3}))?", _millis),
    # ctime / Apache error log `Sun Dec 04 04:47:44 2005`
    _fmt("ctime", _DOW + " " + _MON + r" +(?P<d>\d{1,2}) " + _HMS + _FRAC + r" (?P<Y>\d{4})",
         _dated),
    _fmt("log4j_date", r"(?P<d>\d\d) " + _MON + r" (?P<Y>\d{4}) " + _HMS + _FRAC, _dated),
    _fmt("clf", r"(?P<d>\d\d)/" + _MON + r"/(?P<Y>\d{4}):" + _HMS + r" (?P<z>[+-]\d{4})", _dated),
    _fmt("yy_slashed", r"(?P<y>\d\d)/(?P<M>\d\d)/(?P<d>\d\d) " + _HMS + _FRAC, _dated),
    # HDFS `081109 203615`
    _fmt("compact", r"(?P<y>\d\d)(?P<M>[01]\d)(?P<d>[0-3]\d) (?P<H>[0-2]\d)(?P<m>[0-5]\d)"
         r"(?P<S>[0-6]\d)", _dated),
    # year-less: syslog `Dec 10 06:55:46`, logcat `03-17 16:13:38.811`, `10.30 16:49:06`
    _fmt("syslog", _MON + r" +(?P<d>\d{1,2}) " + _HMS + _FRAC, _yearless, True),
    _fmt("month_day", r"(?P<M>[01]\d)(?P<sep>[-.])(?P<d>[0-3]\d) " + _HMS + _FRAC, _yearless,
         True),
    _fmt("epoch", r"(?P<E>\d{10}(?:\.\d{1,9})?|\d{13})", _epoch),
)
FORMAT_BY_NAME = {f.name: f for f in FORMATS}
MAX_TS_TOKEN = 8  # the timestamp starts within the first tokens of a line
_WORD = re.compile(r"\S+")


def token_starts(line: str, limit: int) -> list[int]:
    """Offsets of the first `limit` whitespace-separated tokens (none if the line is indented)."""
    if not line or line[0].isspace():
        return []
    starts = []
    for m in _WORD.finditer(line):
        starts.append(m.start())
        if len(starts) >= limit:
            break
    return starts


def find_stamp(line: str) -> tuple[int, TimeFormat, Stamp] | None:
    """The leftmost token that starts a timestamp of a known format: (token index, format, stamp)."""
    for index, pos in enumerate(token_starts(line, MAX_TS_TOKEN)):
        for fmt in FORMATS:
            stamp = fmt.at(line, pos)
            if stamp is not None:
                return index, fmt, stamp
    return None


# ---- header columns after the timestamp ------------------------------------------------------

LEVEL, LETTER, INT, SEP, BRACKET, COLON, DOTTED, PADDED = (1 << i for i in range(8))
_TOKEN = re.compile(r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]|\||[^\s|]+")
_SEPS = {"-", "|", ":", "--", ">", "::", ",", "-->", "=>"}
_DOTTED = re.compile(r"[A-Za-z_$][\w$-]*(?:\.[A-Za-z_$][\w$-]*)+")
_INT = re.compile(r"-?\d+")
_PROGRAM = re.compile(r"(?P<name>.*?)(?:\[(?P<pid>\d+)\])?:$")
HEADER_COLUMNS = 12
SHARE = 0.9  # a column is a header column when this share of the lines agrees


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    text: str
    kinds: int


def _kinds(text: str, padded: bool) -> int:
    kinds = PADDED if padded else 0
    bare = text.strip("[]()<>:,")
    if bare.lower() in SEVERITY:
        kinds |= LEVEL
    if text in LETTERS:
        kinds |= LETTER
    if text in _SEPS:
        return kinds | SEP
    if _INT.fullmatch(text):
        kinds |= INT
    if text.startswith("[") and text.endswith("]"):
        kinds |= BRACKET
    elif text.endswith(":") and len(text) > 1 and not text.endswith("::"):
        kinds |= COLON
    elif _DOTTED.fullmatch(text):
        kinds |= DOTTED
    return kinds


def tokens(text: str, limit: int = HEADER_COLUMNS + 3) -> list[Token]:
    out: list[Token] = []
    for m in _TOKEN.finditer(text):
        end = m.end()
        padded = text.startswith("  ", end) or text.startswith("\t", end)
        out.append(Token(m.start(), end, m.group(0), _kinds(m.group(0), padded)))
        if len(out) >= limit:
            break
    return out


def _first(toks: Sequence[Token], kind: int, start: int, slack: int) -> int | None:
    for index in range(start, min(start + slack + 1, len(toks))):
        if toks[index].kinds & kind:
            return index
    return None


@dataclass(frozen=True)
class Header:
    """What follows the timestamp: header columns, then the content."""

    level_col: int | None = None
    letters: bool = False  # the level column holds single letters (V/D/I/W/E/F)
    colon_col: int | None = None  # the `component:` token is within [colon_col, colon_col + 2]
    colon_at: int = 0  # where most lines have it
    sep_col: int | None = None  # the last separator is within [sep_col, sep_col + 1]
    sep_at: int = 0
    extension: tuple[int, ...] = ()  # kinds of the columns after those anchors

    def end(self, toks: Sequence[Token]) -> int:
        """Index of the last header token of one line (-1: the content starts at once)."""
        cursor = -1
        if self.level_col is not None:
            cursor = self.level_col
        if self.colon_col is not None:
            found = _first(toks, COLON, self.colon_col, 2)
            cursor = max(cursor, self.colon_at if found is None else found)
        if self.sep_col is not None:
            found = _first(toks, SEP, self.sep_col, 1)
            cursor = max(cursor, self.sep_at if found is None else found)
        for kind in self.extension:
            nxt = cursor + 1
            if nxt < len(toks) and toks[nxt].kinds & kind:
                cursor = nxt
            else:
                break
        return min(cursor, len(toks) - 1)

    def describe(self) -> list[str]:
        names = []
        if self.level_col is not None:
            names.append(f"level@{self.level_col}")
        if self.colon_col is not None:
            names.append(f"component:@{self.colon_at}")
        if self.sep_col is not None:
            names.append(f"separator@{self.sep_at}")
        kind_names = {LEVEL: "level", INT: "number", SEP: "separator", BRACKET: "[group]",
                      DOTTED: "logger", PADDED: "padded field", LEVEL | LETTER: "level"}
        names += [kind_names.get(k, "field") for k in self.extension]
        return names


def infer_header(posts: Sequence[str]) -> Header:
    """The header columns most of these post-timestamp texts share."""
    rows = [tokens(text) for text in posts]
    n = len(rows)
    if not n:
        return Header()

    def share(kind: int, col: int) -> float:
        return sum(1 for t in rows if len(t) > col and t[col].kinds & kind) / n

    def slack(kind: int, col: int, width: int) -> tuple[float, int]:
        found = [_first(t, kind, col, width) for t in rows]
        hits = [f for f in found if f is not None]
        mode = Counter(hits).most_common(1)[0][0] if hits else col
        return len(hits) / n, mode

    level_col, letters = None, False
    for col in range(HEADER_COLUMNS - 2):
        if share(LEVEL, col) >= SHARE:
            level_col = col
            break
        if share(LETTER, col) >= SHARE:
            level_col, letters = col, True
            break
    colon_col, colon_at = None, 0
    for col in range(HEADER_COLUMNS - 2):
        got, mode = slack(COLON, col, 2)
        if got >= SHARE:
            colon_col, colon_at = col, mode
            break
    sep_col, sep_at = None, 0
    for col in range(6):
        got, mode = slack(SEP, col, 1)
        if got >= SHARE:
            sep_col, sep_at = col, mode
    anchor = max(c for c in (-1, level_col, colon_at if colon_col is not None else None,
                             sep_at if sep_col is not None else None) if c is not None)
    extension: list[int] = []
    col = anchor + 1
    previous_is_level = anchor == level_col and level_col is not None
    while col < HEADER_COLUMNS:
        kind = next((k for k in (SEP, BRACKET, INT, PADDED, LEVEL) if share(k, col) >= SHARE), None)
        if kind is None and previous_is_level and share(DOTTED, col) >= SHARE:
            kind = DOTTED
        if kind is None:
            break
        extension.append(kind)
        previous_is_level = kind == LEVEL
        col += 1
    return Header(level_col, letters, colon_col, colon_at, sep_col, sep_at, tuple(extension))


@dataclass(frozen=True)
class Parsed:
    """One record's first line, split: stamp, header fields, content (what templates mine)."""

    stamp: Stamp
    level: str | None
    severity: str | None
    content: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Grammar:
    """A file's line grammar: the timestamp's format and token, then the header columns."""

    fmt: TimeFormat
    ts_token: int
    header: Header
    share: float = 1.0

    @property
    def name(self) -> str:
        return self.fmt.name

    @property
    def year_missing(self) -> bool:
        return self.fmt.year_missing

    def match(self, line: str) -> Stamp | None:
        """The stamp if this line starts a record (its timestamp at the file's token)."""
        starts = token_starts(line, self.ts_token + 1)
        if len(starts) > self.ts_token:
            stamp = self.fmt.at(line, starts[self.ts_token])
            if stamp is not None:
                return stamp
        return None

    def parse(self, line: str) -> Parsed | None:
        stamp = self.match(line)
        if stamp is None:
            return None
        return self.split(line, stamp)

    def split(self, line: str, stamp: Stamp) -> Parsed:
        post = line[stamp.end:]
        toks = tokens(post)
        end = self.header.end(toks)
        content = post[toks[end + 1].start:] if end + 1 < len(toks) else ""
        if end + 1 >= len(toks) and len(toks) > HEADER_COLUMNS:
            content = post[toks[-1].start:]
        content = content.rstrip() or post.strip()
        fields: dict[str, str] = {}
        prefix = line[:self._prefix_end(line)].strip()
        if prefix:
            fields["prefix"] = prefix
        level = severity = None
        head = toks[:end + 1]
        h = self.header
        if h.level_col is not None and h.level_col < len(head):
            word = head[h.level_col].text.strip("[]()<>:,")
            level = word
            severity = (LETTERS.get(word) if h.letters else SEVERITY.get(word.lower()))
        ints = [t.text for t in head if t.kinds & INT and not t.kinds & LEVEL]
        for index, token in enumerate(head):
            if token.kinds & COLON and "component" not in fields:
                m = _PROGRAM.match(token.text)
                name, pid = (m["name"], m["pid"]) if m else (token.text[:-1], None)
                if name and not token.kinds & LEVEL:
                    fields["component"] = name
                if pid:
                    fields["pid"] = pid
                if index == 1 and not head[0].kinds & (INT | LEVEL | SEP | BRACKET):
                    fields["host"] = head[0].text
            elif token.kinds & BRACKET and not token.kinds & LEVEL and "thread" not in fields:
                fields["thread"] = token.text[1:-1]
        if "component" not in fields:
            named = self._component(head, h.level_col)
            if named:
                fields["component"] = named
        if ints and "pid" not in fields:
            fields["pid"] = ints[0]
            if len(ints) > 1:
                fields["tid"] = ints[1]
        return Parsed(stamp, level, severity, content, fields)

    @staticmethod
    def _component(head: Sequence[Token], level_col: int | None) -> str | None:
        """A logger (dotted), a padded column, the word before the level, or the first word."""
        for kind in (DOTTED, PADDED):
            for token in head:
                if token.kinds & kind and not token.kinds & (LEVEL | INT | SEP):
                    return token.text.rstrip(",")
        plain = [i for i, t in enumerate(head) if not t.kinds & (LEVEL | INT | SEP | BRACKET)]
        before = [i for i in plain if level_col is not None and i < level_col]
        if before:
            return head[before[-1]].text
        return head[plain[0]].text.rstrip(",") if plain else None

    def _prefix_end(self, line: str) -> int:
        starts = token_starts(line, self.ts_token + 1)
        return starts[self.ts_token] if len(starts) > self.ts_token else 0

    def describe(self) -> str:
        parts = ["<fields>"] * bool(self.ts_token) + [f"<{self.fmt.name}>"]
        parts += [f"<{name}>" for name in self.header.describe()]
        return " ".join([*parts, "<content>"])


def infer_grammar(lines: Sequence[str]) -> Grammar | None:
    """The grammar most sample lines share, or None when no line has a timestamp."""
    votes: Counter[tuple[int, str]] = Counter()
    for line in lines:
        found = find_stamp(line)
        if found is not None:
            votes[(found[0], found[1].name)] += 1
    if not votes:
        return None
    (token, name), hits = votes.most_common(1)[0]
    grammar = Grammar(FORMAT_BY_NAME[name], token, Header(), hits / len(lines))
    posts = []
    for line in lines[:1000]:
        stamp = grammar.match(line)
        if stamp is not None:
            posts.append(line[stamp.end:])
    return Grammar(grammar.fmt, token, infer_header(posts), hits / len(lines))


def choose_grammar(lines: list[str]) -> tuple[Grammar | None, float]:
    """The inferred grammar and the share of sample lines that start a record with it."""
    grammar = infer_grammar(lines)
    return grammar, (grammar.share if grammar else 0.0)


# ---- years for year-less timestamps -----------------------------------------------------------


def with_year(iso: str, year: int) -> str:
    return f"{year:04d}{iso[4:]}"


def mtime_utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
