"""CodingBuddy `.codingbuddy/events.jsonl` (and legacy `.deepseek/`): the shared append-only event stream."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from ..base import Check, LoadContext, LoadResult, path_has
from ..reading import escaped, iter_raw_lines
from .checks import CHECKS
from .taxonomy import (
    AT_SQL,
    TOOL_ARGUMENTS,
    TOOL_CALL_TYPES,
    TOOL_OUTPUT,
    _sql_literal,
    line_spec,
    projection_sql,
    top_level_text,
    workspace_name,
)

RUNTIME_DIRS = (".codingbuddy", ".deepseek")


def _bad_reason(kind_type: str) -> str:
    """Why a record cannot be an event (NULL when it can), from its four envelope values."""
    return f"""
    CASE WHEN seq_no IS NULL THEN 'seq_no missing or not an unsigned integer'
         WHEN seq_no > 9223372036854775807 THEN 'seq_no beyond the 64-bit signed range of seq'
         WHEN session_id IS NULL THEN 'session_id missing'
         WHEN {kind_type} IS NULL THEN 'kind.type missing'
         WHEN {AT_SQL} IS NULL THEN 'at missing or not an RFC3339 timestamp'
    END"""


_BAD_REASON = _bad_reason("json_extract_string(kind, '$.type')")


def _envelope(spec: str, path: str, kind: str) -> str:
    """The fast path's records: DuckDB's parallel JSON reader gives each record's exact text
    (`raw`, its attrs, already typed JSON) and WITH ORDINALITY its number in file order, the line
    number when no line is blank. One json_transform per record (`spec`) gives the envelope's
    values as the line-by-line path reads them and kind's structure as the column `kind`."""
    return f"""(SELECT rn, json AS raw, t.kind AS {kind},
               try_cast({top_level_text('t.seq_no')} AS UBIGINT) AS seq_no,
               {top_level_text('t."at"')} AS at_raw, {top_level_text('t.session_id')} AS session_id
        FROM (SELECT ordinality AS rn, json, json_transform(json, '{spec}') AS t
              FROM read_json_objects({path}, format='newline_delimited') WITH ORDINALITY))"""


# Only what says whether a record is an event: kind.type, not the payload fields.
_CHECK_SPEC = line_spec('{"type": "VARCHAR"}')


# A blank or whitespace-only line (first, middle or last) would shift the vectorized reader's row
# numbers off the file's line numbers. The patterns are literal-led: as fast as a memchr scan.
_BLANK_MID = re.compile(rb"\n[ \t\r\f\v]*\n(?=[^\n])")
_BLANK_LINE = re.compile(rb"\n[ \t\r\f\v]*\n(?=[^\n])|\n[ \t\r\f\v]+\Z")
_BLANK_FIRST = re.compile(rb"[ \t\r\f\v]*(?:\n|\Z)")
_CHUNK = 1 << 24


def has_blank_lines(path: Path) -> bool:
    """True when a line of the file is empty or only whitespace (read in chunks: a mapped file
    would count every page it touched in the process's RSS)."""
    at_start = True
    rest = b""  # the unsplit tail, after the newline that ends the last piece (its first byte)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            data = rest + chunk
            # Cut after a newline that is not the last byte, so the byte after the piece (what
            # the blank-line pattern looks ahead to) is known: pieces hold whole lines.
            cut = data.rfind(b"\n", 0 if at_start else 1, len(data) - 1) + 1
            if cut == 0:
                rest = data
                continue
            if (at_start and _BLANK_FIRST.match(data, 0, cut)) or _BLANK_MID.search(data, 0, cut + 1):
                return True
            rest, at_start = data[cut - 1:], False
    if len(rest) <= (0 if at_start else 1):
        return False
    # The last piece ends the file: a whitespace-only last line counts too.
    return bool((at_start and _BLANK_FIRST.match(rest)) or _BLANK_LINE.search(rest))


class EventsJsonlLoader:
    name: ClassVar[str] = "codingbuddy.events_jsonl"
    system: ClassVar[str] = "codingbuddy"
    source: ClassVar[str] = "events_jsonl"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    tool_call_types: ClassVar[tuple[str, ...]] = TOOL_CALL_TYPES  # findings: loaders.base
    tool_arguments: ClassVar[str] = TOOL_ARGUMENTS
    tool_output: ClassVar[str] = TOOL_OUTPUT
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "CodingBuddy events.jsonl (EventEnvelope per line, sessions interleaved)"

    def detect(self, path: Path, head: bytes) -> bool:
        if path.name != "events.jsonl":
            return False
        if path_has(path, *RUNTIME_DIRS):
            return True
        return b'"seq_no"' in head and b'"session_id"' in head and b'"kind"' in head

    def load(self, ctx: LoadContext) -> LoadResult:
        # A file the fast path cannot take exactly (blank lines, a bad line, a record it would not
        # keep byte for byte) is read line by line, so line numbers, raw text and attrs are exact
        # either way.
        checked = self._check_fast(ctx)
        con = ctx.con
        if isinstance(checked, tuple):
            records, total = checked
            # The reader's records are the file's lines exactly when their text and one newline
            # each (the last may lack it) are every byte of the file: each way it could part from
            # the lines (a blank line skipped; a BOM, a CR before LF, spaces around a record
            # trimmed) loses bytes, and it refuses a line with two records or a record over two.
            size = ctx.path.stat().st_size
            newlines = records - (0 if size == 0 or _last_byte(ctx.path) == b"\n" else 1)
            if total + newlines == size:
                # One streaming pass at write time: read, project and write, no staging table.
                source = _envelope(line_spec(), _sql_literal(str(ctx.path)), "f")
                events = con.sql(projection_sql(source, workspace_name(ctx.path), transformed=True))
                return LoadResult(records_read=records, events=events,
                                  facts={"reader": "vectorized"})
            checked = "records the fast reader would not keep byte for byte"
        why_not = "blank lines" if has_blank_lines(ctx.path) else checked
        self._stage_robust(ctx)
        records = con.execute("SELECT count(*) FROM _cb_src").fetchone()[0]
        events = con.sql(
            projection_sql(
                "(SELECT * FROM _cb_src WHERE bad_reason IS NULL)", workspace_name(ctx.path)
            )
        )
        quarantine = con.sql(
            "SELECT rn AS record_no, bad_reason AS reason, raw FROM _cb_src WHERE bad_reason IS NOT NULL"
        )
        return LoadResult(records_read=records, events=events, quarantine=quarantine,
                          facts={"reader": f"line by line ({why_not})"})

    def _check_fast(self, ctx: LoadContext) -> tuple[int, int] | str:
        """(records, bytes of their text) when every record of the file is an event, else why not.

        A parallel pass that parses each line once and keeps nothing: the rows are read again
        while they are written (reading is cheap; holding them would cost memory).
        """
        # The default maximum_object_size keeps the reader's buffers small enough to parse in
        # parallel; bigger records go down the line-by-line path.
        sql = f"""SELECT count(*), sum(strlen(raw)),
                         count(*) FILTER (WHERE ({_bad_reason('kind_t."type"')}) IS NOT NULL)
                  FROM {_envelope(_CHECK_SPEC, '?', 'kind_t')}"""
        try:
            records, total, bad = ctx.con.execute(sql, [str(ctx.path)]).fetchone()
        except Exception:
            return "a line the JSON reader refused"
        if bad:
            return "a record with a problem"
        return records, total or 0

    def _stage_robust(self, ctx: LoadContext) -> None:
        """Line by line: every line keeps its physical number and its exact text (any bytes)."""
        ctx.con.execute("DROP VIEW IF EXISTS _cb_src")
        numbers, texts = [], []
        for number, raw in iter_raw_lines(ctx.path):
            numbers.append(number)
            texts.append(escaped(raw))
        ctx.con.register("_cb_lines", pa.table({"rn": pa.array(numbers, pa.int64()),
                                                "line": pa.array(texts, pa.string())}))
        ctx.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _cb_src AS
            WITH parsed AS (
                SELECT rn, line AS raw,
                       CASE WHEN json_valid(line) THEN CAST(line AS JSON) END AS j
                FROM _cb_lines
            ), fields AS (
                SELECT rn, raw, j,
                       try_cast(j->>'seq_no' AS UBIGINT) AS seq_no, j->>'at' AS at_raw,
                       j->>'session_id' AS session_id, j->'kind' AS kind
                FROM parsed
            )
            SELECT rn, seq_no, at_raw, session_id, kind,
                   CASE WHEN j IS NULL THEN 'malformed JSON'
                        WHEN json_type(j) <> 'OBJECT' THEN 'not a JSON object'
                        ELSE {_BAD_REASON} END AS bad_reason,
                   raw
            FROM fields"""
        )
        ctx.con.unregister("_cb_lines")


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1)
