"""CodingBuddy `.codingbuddy/events.jsonl` (and legacy `.deepseek/`): the shared append-only event stream."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import ClassVar

from ..base import Check, LoadContext, LoadResult, Rows, path_has
from ..reading import LineBlocks
from .checks import CHECKS
from .taxonomy import (
    AT_SQL,
    TOOL_ARGUMENTS,
    TOOL_CALL_TYPES,
    TOOL_OUTPUT,
    line_spec,
    projection_sql,
    top_level_text,
    workspace_name,
)

RUNTIME_DIRS = (".codingbuddy", ".deepseek")


# Why a record cannot be an event (NULL when it can): `t` is the line through json_transform with
# line_spec() (NULL when the line is not JSON; a JSON object's text starts with `{` after JSON's
# whitespace); its values are read as `->>` reads them.
_BAD_REASON = """
    CASE WHEN t IS NULL THEN CASE WHEN json_valid(line) THEN 'not a JSON object'
                                  ELSE 'malformed JSON' END
         WHEN NOT (starts_with(line, '{')
                   OR starts_with(ltrim(line, ' ' || chr(9) || chr(10) || chr(13)), '{'))
             THEN 'not a JSON object'
         WHEN seq_no IS NULL THEN 'seq_no missing or not an unsigned integer'
         WHEN seq_no > 9223372036854775807 THEN 'seq_no beyond the 64-bit signed range of seq'
         WHEN session_id IS NULL THEN 'session_id missing'
         WHEN f."type" IS NULL THEN 'kind.type missing'
         WHEN parsed_ts IS NULL THEN 'at missing or not an RFC3339 timestamp'
    END"""


def _records(lines: str) -> str:
    """Each line of `lines` (rn, line) parsed once: the envelope's values, kind's FIELDS as `f`,
    the time as `parsed_ts`, the line itself as `raw` (its attrs) and why it is not an event
    (`bad_reason`)."""
    return f"""(SELECT *, {_BAD_REASON} AS bad_reason
        FROM (SELECT *, {AT_SQL} AS parsed_ts
        FROM (SELECT rn, line, line AS raw, t.kind AS f,
                     try_cast({top_level_text('t.seq_no')} AS UBIGINT) AS seq_no,
                     {top_level_text('t."at"')} AS at_raw,
                     {top_level_text('t.session_id')} AS session_id, t
              FROM (SELECT rn, line, try(json_transform(line, '{line_spec()}')) AS t
                    FROM {lines}))))"""


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
        # One streaming pass: read, parse, project and write at insert time, on every core. The
        # bad records are read again only when the events written are fewer than the records.
        # The lines come typed JSON, unchecked: a line is written (as attrs) only when
        # json_transform parsed it, so the writer's cast to JSON need not parse it again.
        con, blocks = ctx.con, LineBlocks(ctx.path)
        name = "_cb_lines_" + uuid.uuid4().hex[:8]
        con.register(name, blocks.reader(as_json=True))
        events = con.sql(projection_sql(f"(SELECT * FROM {_records(name)} WHERE bad_reason IS NULL)",
                                        workspace_name(ctx.path), transformed=True))

        def settle(written: int) -> tuple[int, Rows]:
            records = blocks.lines
            assert records is not None, "the events were not read"
            if written == records:
                return records, []
            con.register(name + "_bad", blocks.reader())
            return records, con.sql(
                f"SELECT rn AS record_no, bad_reason AS reason, raw FROM {_records(name + '_bad')} "
                "WHERE bad_reason IS NOT NULL")

        return LoadResult(records_read=0, events=events, settle=settle,
                          facts={"reader": "vectorized"})
