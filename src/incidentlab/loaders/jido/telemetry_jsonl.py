"""JSON Lines written by a `:telemetry` handler (docs/jido-telemetry-export.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from ..base import LoadContext, LoadResult
from .rows import describe

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

_MACROS = """
CREATE OR REPLACE TEMP MACRO il_jido_name(v) AS CASE json_type(v)
    WHEN 'VARCHAR' THEN nullif(trim(v->>'$'), '')
    WHEN 'ARRAY' THEN nullif(trim(array_to_string(
        list_transform(try_cast(v AS VARCHAR[]), lambda x: ltrim(x, ':')), '.')), '')
    END;
CREATE OR REPLACE TEMP MACRO il_jido_number(v) AS CASE
    WHEN json_type(v) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(v->>'$' AS DOUBLE) END;
"""
_FIELD_SQL = ", ".join(f"md->'{k}' AS f_{k}" for k in FIELDS)
_KEY_SQL = "md5(json_array(name_raw, " + ", ".join(f"f_{k}" for k in FIELDS) + ")::VARCHAR)"
_STAGE = f"""
CREATE OR REPLACE TEMP TABLE _jido_tel AS
WITH parsed AS (
    SELECT rn, line AS raw, CASE WHEN json_valid(line) THEN CAST(line AS JSON) END AS j
    FROM _jido_lines
), parts AS (
    SELECT rn, raw, j, coalesce(json_type(j) = 'OBJECT', false) AS is_obj,
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
    SELECT *, at_j->>'$' AS ts_raw,
           CASE json_type(at_j) WHEN 'VARCHAR' THEN il_ts_utc(at_j->>'$')
               WHEN 'BIGINT' THEN il_epoch(CAST(at_j->>'$' AS DOUBLE))
               WHEN 'UBIGINT' THEN il_epoch(CAST(at_j->>'$' AS DOUBLE))
               WHEN 'DOUBLE' THEN il_epoch(CAST(at_j->>'$' AS DOUBLE)) END AS ts,
           {_FIELD_SQL}
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


def _first_line(head: bytes) -> Any:
    for line in head.split(b"\n"):
        if line.strip():
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def _numbered_lines(path: Path) -> pa.Table:
    """(rn, line) for non-blank lines; rn is the 1-based line number in the file."""
    numbers: list[int] = []
    texts: list[str] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if text.strip():
                numbers.append(number)
                texts.append(text)
    return pa.table({"rn": pa.array(numbers, pa.int64()), "line": pa.array(texts, pa.string())})


class TelemetryJsonlLoader:
    name: ClassVar[str] = "jido.telemetry_jsonl"
    system: ClassVar[str] = "jido"
    source: ClassVar[str] = "telemetry_jsonl"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "Jido.Code.Server :telemetry events as JSON Lines (docs/jido-telemetry-export.md)"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        first = _first_line(head)
        return isinstance(first, dict) and all(k in first for k in REQUIRED)

    def load(self, ctx: LoadContext) -> LoadResult:
        con = ctx.con
        lines = _numbered_lines(ctx.path)
        con.execute(_MACROS)
        con.register("_jido_lines", lines)
        try:
            con.execute(_STAGE)
        finally:
            con.unregister("_jido_lines")
        self._map(ctx)
        quarantine = con.sql(
            "SELECT rn AS record_no, 'line ' || rn || ': ' || bad_reason AS reason, "
            "left(raw, 500) AS raw FROM _jido_tel WHERE bad_reason IS NOT NULL"
        )
        return LoadResult(
            records_read=lines.num_rows, events=con.sql(_EVENTS), quarantine=quarantine
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
                k: json.loads(v) for k, v in zip(FIELDS, values, strict=True) if v is not None
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
