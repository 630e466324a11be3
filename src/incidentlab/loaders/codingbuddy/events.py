"""CodingBuddy `.codingbuddy/events.jsonl` (and legacy `.deepseek/`): the shared append-only event stream."""

from __future__ import annotations

import mmap
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from ..base import Check, LoadContext, LoadResult, path_has
from ..reading import escaped, iter_raw_lines
from .checks import CHECKS
from .taxonomy import AT_SQL, projection_sql, workspace_name

RUNTIME_DIRS = (".codingbuddy", ".deepseek")
_COLUMNS = "{'seq_no': 'UBIGINT', 'at': 'VARCHAR', 'session_id': 'VARCHAR', 'kind': 'JSON'}"
# The bytes ENVELOPE_SQL adds around its four values: keys, punctuation, two pairs of quotes.
_ENVELOPE_FIXED = len('{"seq_no":,"at":"","session_id":"","kind":}')
_BAD_REASON = f"""
    CASE WHEN seq_no IS NULL THEN 'seq_no missing or not an unsigned integer'
         WHEN seq_no > 9223372036854775807 THEN 'seq_no beyond the 64-bit signed range of seq'
         WHEN session_id IS NULL THEN 'session_id missing'
         WHEN json_extract_string(kind, '$.type') IS NULL THEN 'kind.type missing'
         WHEN {AT_SQL} IS NULL THEN 'at missing or not an RFC3339 timestamp'
    END"""


# A blank or whitespace-only line (first, middle or last) would shift the vectorized reader's row
# numbers off the file's line numbers. Both patterns are literal-led: as fast as a memchr scan.
_BLANK_LINE = re.compile(rb"\n[ \t\r\f\v]*\n(?=[^\n])|\n[ \t\r\f\v]+\Z")
_BLANK_FIRST = re.compile(rb"[ \t\r\f\v]*(?:\n|\Z)")


def has_blank_lines(path: Path) -> bool:
    """True when a line of the file is empty or only whitespace."""
    if path.stat().st_size == 0:
        return False
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return bool(_BLANK_FIRST.match(data) or _BLANK_LINE.search(data))


class EventsJsonlLoader:
    name: ClassVar[str] = "codingbuddy.events_jsonl"
    system: ClassVar[str] = "codingbuddy"
    source: ClassVar[str] = "events_jsonl"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "CodingBuddy events.jsonl (EventEnvelope per line, sessions interleaved)"

    def detect(self, path: Path, head: bytes) -> bool:
        if path.name != "events.jsonl":
            return False
        if path_has(path, *RUNTIME_DIRS):
            return True
        return b'"seq_no"' in head and b'"session_id"' in head and b'"kind"' in head

    def load(self, ctx: LoadContext) -> LoadResult:
        # The blank-line scan runs beside the vectorized read (DuckDB releases the GIL). A file the
        # fast path cannot take exactly (blank lines, a bad line, a record it would not keep
        # byte for byte) is read again line by line, so line numbers, raw text and attrs are exact.
        with ThreadPoolExecutor(max_workers=1) as scanner:
            blank = scanner.submit(has_blank_lines, ctx.path)
            why_not = self._stage_fast(ctx)
            if blank.result():
                why_not = "blank lines"
        reader = "vectorized"
        if why_not is not None:
            self._stage_robust(ctx)
            reader = f"line by line ({why_not})"
        con = ctx.con
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
                          facts={"reader": reader})

    def _stage_fast(self, ctx: LoadContext) -> str | None:
        """DuckDB's vectorized JSON reader; None when it took the file exactly, else why not."""
        # Kept in file order, rowid + 1 is the line number (blank lines aside): cheaper than
        # row_number(), whose window runs in one thread. The default maximum_object_size keeps
        # the reader's buffers small enough to parse in parallel (256 MB made it ~30% slower);
        # bigger records go down the line-by-line path.
        ctx.con.execute("SET preserve_insertion_order = true")
        try:
            ctx.con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _cb_read AS
                SELECT *, {_BAD_REASON} AS bad_reason
                FROM (SELECT seq_no, "at" AS at_raw, session_id, kind
                      FROM read_json(?, format='newline_delimited', columns={_COLUMNS}))""",
                [str(ctx.path)],
            )
        except Exception:
            return "a line the JSON reader refused"
        # attrs is the envelope spliced from its fields: exact only when it gives back the file's
        # bytes. Other top-level keys, other spacing or escapes, a BOM or CRLF all change the sum.
        # The spliced length is summed from its parts (no string is built): quotes around `at`
        # and `session_id` only, so a value that needed escapes counts short and goes line by line.
        rows, bad, spliced = ctx.con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE bad_reason IS NOT NULL), "
            f"sum(strlen(seq_no::VARCHAR) + strlen(at_raw) + strlen(session_id) + strlen(kind)) "
            f"+ count(*) * {_ENVELOPE_FIXED} FROM _cb_read"
        ).fetchone()
        if bad:
            return "a record with a problem"
        size = ctx.path.stat().st_size
        newlines = rows - (0 if size == 0 or _last_byte(ctx.path) == b"\n" else 1)
        if rows and spliced != size - newlines:
            return "records the fast reader would not keep byte for byte"
        ctx.con.execute(
            """CREATE OR REPLACE TEMP VIEW _cb_src AS
            SELECT rowid + 1 AS rn, seq_no, at_raw, session_id, kind, bad_reason,
                   NULL::VARCHAR AS raw
            FROM _cb_read"""
        )
        return None

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
