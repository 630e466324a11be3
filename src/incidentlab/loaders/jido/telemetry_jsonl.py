"""JSON Lines written by a `:telemetry` handler (docs/jido-telemetry-export.md)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from ...timeparse import _ISO as ISO_TIME
from ..base import Check, JsonLines, LoadContext, LoadResult, Quarantine
from ..reading import decode, escaped, iter_raw_lines, parse_json
from ..reading.jsonvalue import MAX_DEPTH
from ..reading.text import RAW_LIMIT
from ..records import guarded, head_has
from ..records import number as as_number
from .checks import CHECKS
from .rows import as_dict, describe, make_event

REQUIRED = ("event", "measurements", "metadata")
# Payload keys that decide event_type, outcome, severity, error_code, name and message.
FIELDS = (
    "tool",
    "tool_name",
    "model",
    "reason",
    "error",
    "reason_code",
    "status",
    "error_count",
    "content",
)

_MACROS = f"""
CREATE OR REPLACE TEMP MACRO il_jido_name(v) AS CASE json_type(v)
    WHEN 'VARCHAR' THEN nullif(trim(v->>'$'), '')
    WHEN 'ARRAY' THEN nullif(trim(array_to_string(
        list_transform(try_cast(v AS VARCHAR[]), lambda x: ltrim(x, ':')), '.')), '')
    END;
CREATE OR REPLACE TEMP MACRO il_jido_number(v) AS CASE
    WHEN json_type(v) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(v->>'$' AS DOUBLE) END;
-- the times parse_ts accepts: ISO text (not DuckDB's 'epoch' or 'infinity') or an epoch number,
-- within the years a Python datetime holds
CREATE OR REPLACE TEMP MACRO il_jido_ts(v) AS (
    SELECT CASE WHEN t >= TIMESTAMPTZ '0001-01-01 00:00:00+00'
                 AND t < TIMESTAMPTZ '9999-12-31 23:59:59.999999+00' THEN t END
    FROM (SELECT CASE json_type(v)
        WHEN 'VARCHAR' THEN CASE WHEN regexp_full_match(trim(v->>'$'), '{ISO_TIME.pattern}', 'i')
                                 THEN il_ts_utc(v->>'$') END
        WHEN 'BIGINT' THEN il_epoch(CAST(v->>'$' AS DOUBLE))
        WHEN 'UBIGINT' THEN il_epoch(CAST(v->>'$' AS DOUBLE))
        WHEN 'DOUBLE' THEN il_epoch(CAST(v->>'$' AS DOUBLE)) END AS t));
"""
_FIELD_SQL = ", ".join(f"md->'{k}' AS f_{k}" for k in FIELDS)
_KEY_SQL = "md5(json_array(name_raw, " + ", ".join(f"f_{k}" for k in FIELDS) + ")::VARCHAR)"
_STAGE = f"""
CREATE OR REPLACE TEMP TABLE _jido_tel AS
WITH parsed AS (
    SELECT rn, line, coalesce(raw, line) AS raw,
           CASE WHEN json_valid(line) THEN CAST(line AS JSON) END AS j
    FROM _jido_lines
), parts AS (
    SELECT rn, line, raw, j, coalesce(json_type(j) = 'OBJECT', false) AS is_obj,
           CASE WHEN json_type(j->'metadata') = 'OBJECT' THEN j->'metadata' ELSE '{{}}'::JSON END
               AS md,
           CASE WHEN json_type(j->'measurements') = 'OBJECT' THEN j->'measurements'
                ELSE '{{}}'::JSON END AS ms
    FROM parsed
), named AS (
    SELECT *, coalesce(il_jido_name(j->'event'), il_jido_name(md->'event_name')) AS name_raw,
           CASE WHEN coalesce(j->>'emitted_at', '') = '' THEN md->'emitted_at'
                ELSE j->'emitted_at' END AS at_j
    FROM parts
), timed AS (
    SELECT *, at_j->>'$' AS ts_raw, il_jido_ts(at_j) AS ts, {_FIELD_SQL}
    FROM named
)
SELECT *,
       CASE WHEN json_type(at_j) = 'VARCHAR' THEN il_ts_quality(ts_raw, ts, 'assumed_utc')
            WHEN ts IS NULL THEN 'missing' ELSE 'exact' END AS ts_quality,
       {_KEY_SQL} AS key,
       CASE WHEN j IS NULL THEN 'malformed JSON'
            WHEN NOT is_obj THEN 'not a JSON object'
            WHEN name_raw IS NULL THEN 'event name missing'
            WHEN ts IS NULL AND coalesce(ts_raw, '') = '' THEN 'timestamp missing'
            WHEN ts IS NULL THEN 'timestamp not parseable: ' ||
                 CASE json_type(at_j) WHEN 'VARCHAR' THEN '''' || ts_raw || '''' ELSE ts_raw END
       END AS bad_reason
FROM timed
"""
_EVENTS = """
SELECT t.rn AS record_no, t.ts, t.ts_raw, t.ts_quality,
       nullif(md->>'conversation_id', '') AS stream, t.rn AS position,
       -- ToolRunner's tool.completed / tool.failed carry no project_id: take the project of
       -- the same conversation, so per-project rules (failure ratio, timeouts) count them
       coalesce(nullif(md->>'project_id', ''),
                max(nullif(md->>'project_id', '')) OVER (PARTITION BY md->>'conversation_id'))
           AS project,
       nullif(md->>'correlation_id', '') AS correlation_id,
       m.event_type, t.name_raw AS event_type_raw, m.actor, m.name, m.outcome, m.severity,
       coalesce(il_jido_number(ms->'duration_ms'), il_jido_number(md->'duration_ms'))
           AS duration_ms,
       m.message, m.error_code, m.error_category,
       -- conversation events re-emitted as telemetry carry event_source (incoming|emitted)
       coalesce(md->>'event_source', '') NOT IN ('', 'false', '0') AS is_mirror,
       t.j AS attrs
FROM _jido_tel t JOIN _jido_map m USING (key)
WHERE t.bad_reason IS NULL
"""
_MAP_SCHEMA = pa.schema(
    [("key", pa.string())]
    + [
        (c, pa.string())
        for c in (
            "event_type",
            "actor",
            "name",
            "outcome",
            "severity",
            "message",
            "error_code",
            "error_category",
        )
    ]
)


# DuckDB and Python disagree on a few lines (lone surrogate escapes, nesting beyond MAX_DEPTH):
# lines DuckDB cannot parse, and lines with many brackets, get the Python reader's verdict too.
_SUSPECTS = """
SELECT rn, line, j IS NOT NULL FROM _jido_tel
WHERE j IS NULL OR rn IN (SELECT unnest(?::BIGINT[]))
"""
_QUARANTINE = f"""
SELECT rn AS record_no, 'line ' || rn || ': ' || bad_reason AS reason,
       CASE WHEN length(raw) <= {RAW_LIMIT} THEN raw
            ELSE left(raw, {RAW_LIMIT}) || '… [' || length(raw) || ' characters in all]' END AS raw
FROM _jido_tel WHERE bad_reason IS NOT NULL
"""


def _numbered_lines(path: Path) -> tuple[pa.Table, list[int]]:
    """(rn, line, raw) for non-blank lines, and the numbers of lines that may nest too deep.

    rn is the physical line number, line the decoded text, raw the exact bytes (invalid UTF-8 as
    \\xNN escapes) when they differ from line, else NULL.
    """
    numbers: list[int] = []
    texts: list[str] = []
    raws: list[str | None] = []
    heavy: list[int] = []
    for number, data in iter_raw_lines(path):
        text = decode(data)
        numbers.append(number)
        texts.append(text)
        raws.append(escaped(data) if "\ufffd" in text else None)
        if data.count(b"[") + data.count(b"{") > MAX_DEPTH:
            heavy.append(number)
    table = pa.table(
        {
            "rn": pa.array(numbers, pa.int64()),
            "line": pa.array(texts, pa.string()),
            "raw": pa.array(raws, pa.string()),
        }
    )
    return table, heavy


class TelemetryJsonlLoader:
    name: ClassVar[str] = "jido.telemetry_jsonl"
    system: ClassVar[str] = "jido"
    source: ClassVar[str] = "telemetry_jsonl"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "Jido.Code.Server :telemetry events as JSON Lines (docs/jido-telemetry-export.md)"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        return head_has(head, REQUIRED)

    def load(self, ctx: LoadContext) -> LoadResult:
        """The vectorized path; the Python one for a file DuckDB refuses or reads differently."""
        lines, heavy = _numbered_lines(ctx.path)
        try:
            if self._stage(ctx, lines, heavy):
                return self._sql_result(ctx, lines.num_rows)
        except duckdb.Error:
            pass
        return self._python_load(ctx)

    def _stage(self, ctx: LoadContext, lines: pa.Table, heavy: list[int]) -> bool:
        """Stage and classify in SQL; False when some line needs the Python reader's verdict."""
        con = ctx.con
        con.execute(_MACROS)
        con.register("_jido_lines", lines)
        try:
            con.execute(_STAGE)
        finally:
            con.unregister("_jido_lines")
        for _, line, duck_ok in con.execute(_SUSPECTS, [heavy]).fetchall():
            if (parse_json(line)[1] is None) != duck_ok:
                return False
        self._map(ctx)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _jido_events AS {_EVENTS}")
        return True

    @staticmethod
    def _sql_result(ctx: LoadContext, records: int) -> LoadResult:
        return LoadResult(
            records_read=records,
            events=ctx.con.sql("SELECT * FROM _jido_events"),
            quarantine=ctx.con.sql(_QUARANTINE),
        )

    def _map(self, ctx: LoadContext) -> None:
        """Classify each distinct (name, payload fields) combination once, with the same Python
        rules as the other Jido loaders, and keep the result as temp table `_jido_map`."""
        columns = ", ".join(f"f_{k}" for k in FIELDS)
        combos = ctx.con.execute(
            f"SELECT DISTINCT key, name_raw, {columns} FROM _jido_tel WHERE bad_reason IS NULL"
        ).fetchall()
        rows = []
        for key, raw, *values in combos:
            fields = {
                k: parse_json(v)[0] for k, v in zip(FIELDS, values, strict=True) if v is not None
            }
            rows.append({"key": key, **describe(raw, fields)})
        table = pa.Table.from_pylist(rows, schema=_MAP_SCHEMA)
        ctx.con.register("_jido_map_arrow", table)
        try:
            ctx.con.execute(
                "CREATE OR REPLACE TEMP TABLE _jido_map AS SELECT * FROM _jido_map_arrow"
            )
        finally:
            ctx.con.unregister("_jido_map_arrow")

    def _python_load(self, ctx: LoadContext) -> LoadResult:
        """Line by line with the shared JSON Lines reader: the same rows as the SQL path."""
        quarantine: list[Quarantine] = []
        reader = JsonLines(ctx.path, quarantine)
        events: list[dict[str, Any]] = []
        for number, record, raw in reader:
            row = guarded(
                quarantine, number, f"line {number}", raw, _python_event, ctx, number, record
            )
            if row is not None:
                events.append(row)
        _fill_projects(events)
        return LoadResult(
            records_read=reader.read,
            events=events,
            quarantine=sorted(quarantine, key=lambda q: q.record_no or 0),
            facts={"reader": "line by line (a line DuckDB reads differently)"},
        )


def _python_event(ctx: LoadContext, number: int, record: dict[str, Any]) -> dict[str, Any]:
    meta, measured = as_dict(record.get("metadata")), as_dict(record.get("measurements"))
    at = record.get("emitted_at")
    if at is None or at == "":
        at = meta.get("emitted_at")
    source = meta.get("event_source")
    event = make_event(
        ctx,
        raw_name=record.get("event") or meta.get("event_name"),
        at=at,
        fields=meta,
        record_no=number,
        attrs=record,
        position=number,
        is_mirror=source is not None and _text(source) not in ("", "false", "0"),
        duration_ms=as_number(measured.get("duration_ms")),
    )
    event["_group"] = _text(meta.get("conversation_id"))
    return event


def _text(value: Any) -> str | None:
    """What DuckDB's ->> gives for a JSON value: strings as they are, the rest as JSON text."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _fill_projects(events: list[dict[str, Any]]) -> None:
    """ToolRunner events carry no project_id: they take their conversation's (as in SQL)."""
    projects: dict[Any, str] = defaultdict(str)
    for event in events:
        if isinstance(event["project"], str):
            projects[event["_group"]] = max(projects[event["_group"]], event["project"])
    for event in events:
        group = event.pop("_group")
        if not event["project"]:
            event["project"] = projects.get(group) or None
