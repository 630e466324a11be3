"""CodingBuddy `.codingbuddy/events.jsonl` (and legacy `.deepseek/`): the shared append-only event stream."""

from __future__ import annotations

import mmap
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

from ..base import LoadContext, LoadResult, path_has
from .taxonomy import AT_SQL, projection_sql, workspace_name

RUNTIME_DIRS = (".codingbuddy", ".deepseek")
_COLUMNS = "{'seq_no': 'UBIGINT', 'at': 'VARCHAR', 'session_id': 'VARCHAR', 'kind': 'JSON'}"
_BAD_REASON = f"""
    CASE WHEN seq_no IS NULL THEN 'seq_no missing or not an unsigned integer'
         WHEN seq_no > 9223372036854775807 THEN 'seq_no beyond the 64-bit signed range of seq'
         WHEN session_id IS NULL THEN 'session_id missing'
         WHEN json_extract_string(kind, '$.type') IS NULL THEN 'kind.type missing'
         WHEN {AT_SQL} IS NULL THEN 'at missing or not an RFC3339 timestamp'
    END"""


_BLANK_LINE = re.compile(rb"\n\r?\n")


def has_blank_lines(path: Path) -> bool:
    """Blank lines would shift the vectorized reader's row numbers off the file's line numbers."""
    if path.stat().st_size == 0:
        return False
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:1] in (b"\n", b"\r"):
            return True
        # one regex pass over the mapped file (a literal-led pattern: as fast as a memchr scan)
        match = _BLANK_LINE.search(data)
        return match is not None and match.end() < len(data)


class EventsJsonlLoader:
    name: ClassVar[str] = "codingbuddy.events_jsonl"
    system: ClassVar[str] = "codingbuddy"
    source: ClassVar[str] = "events_jsonl"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "CodingBuddy events.jsonl (EventEnvelope per line, sessions interleaved)"

    def detect(self, path: Path, head: bytes) -> bool:
        if path.name != "events.jsonl":
            return False
        if path_has(path, *RUNTIME_DIRS):
            return True
        return b'"seq_no"' in head and b'"session_id"' in head and b'"kind"' in head

    def load(self, ctx: LoadContext) -> LoadResult:
        # The blank-line scan runs beside the vectorized read (DuckDB releases the GIL); a file
        # with blank lines (rare) is then read again line by line to keep its line numbers.
        with ThreadPoolExecutor(max_workers=1) as scanner:
            blank = scanner.submit(has_blank_lines, ctx.path)
            staged = self._stage_fast(ctx)
            reader = "vectorized"
            if blank.result() or not staged:
                self._stage_robust(ctx)
                why = "blank lines" if staged else "a line the JSON reader refused"
                reader = f"line by line ({why})"
        con = ctx.con
        records = con.execute("SELECT count(*) FROM _cb_src").fetchone()[0]
        events = con.sql(
            projection_sql(
                "(SELECT * FROM _cb_src WHERE bad_reason IS NULL)", workspace_name(ctx.path)
            )
        )
        quarantine = con.sql(
            "SELECT rn AS record_no, bad_reason AS reason, left(raw, 500) AS raw "
            "FROM _cb_src WHERE bad_reason IS NOT NULL"
        )
        return LoadResult(records_read=records, events=events, quarantine=quarantine,
                          facts={"reader": reader})

    def _stage_fast(self, ctx: LoadContext) -> bool:
        """DuckDB's vectorized JSON reader; False when it refuses a line (not JSON, or > ~32 MB)."""
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
            return False
        ctx.con.execute(
            """CREATE OR REPLACE TEMP VIEW _cb_src AS
            SELECT rowid + 1 AS rn, seq_no, at_raw, session_id, kind, bad_reason,
                   CASE WHEN bad_reason IS NOT NULL THEN json_object(
                       'seq_no', seq_no, 'at', at_raw, 'session_id', session_id, 'kind', kind
                   )::VARCHAR END AS raw
            FROM _cb_read"""
        )
        return True

    def _stage_robust(self, ctx: LoadContext) -> None:
        """Line by line in SQL: every line keeps its number, bad ones get a reason."""
        ctx.con.execute("DROP VIEW IF EXISTS _cb_src")
        ctx.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _cb_src AS
            WITH lines AS (
                SELECT row_number() OVER () AS rn, line
                FROM read_csv(?, columns={{'line': 'VARCHAR'}}, delim='\\x1f', quote='', escape='',
                              header=false, auto_detect=false, strict_mode=false,
                              max_line_size=268435456)
            ), parsed AS (
                SELECT rn, line AS raw,
                       CASE WHEN json_valid(line) THEN CAST(line AS JSON) END AS j
                FROM lines WHERE trim(coalesce(line, '')) <> ''
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
            FROM fields""",
            [str(ctx.path)],
        )
