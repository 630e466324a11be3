"""CodingBuddy `store.sqlite`: mirror copies of the events, usage/cost ledgers, sessions, runs, cassettes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from ..base import Check, LoadContext, LoadResult, Quarantine, Usage, path_has
from ..reading import parse_json
from ..reading.sqlite import integrity, is_sqlite, read_table, sqlite_snapshot, table_names
from ..records import BadRecord, guarded, raw_excerpt
from ..records import number as as_number
from .checks import CHECKS
from .events import RUNTIME_DIRS
from .taxonomy import TOOL_ARGUMENTS, TOOL_CALL_TYPES, TOOL_OUTPUT, projection_sql, workspace_name

# Tables copied as domain tables (codingbuddy_<name>) because they add facts the events lack.
DOMAIN_TABLES = (
    "sessions",
    "runs",
    "plans",
    "replay_cassettes",
    "approvals_ledger",
    "verification_runs",
    "context_compactions",
    "hook_executions",
    "autopilot_runs",
    "subagent_runs",
    "checkpoints",
    "task_queue",
    "session_locks",
    "permission_mode_log",
)
# (table, time column, [(column, metric name, unit)])
METRIC_TABLES = (
    (
        "usage_ledger",
        "recorded_at",
        [
            ("input_tokens", "input_tokens", "tokens"),
            ("output_tokens", "output_tokens", "tokens"),
            ("cache_hit_tokens", "cache_hit_tokens", "tokens"),
            ("cache_miss_tokens", "cache_miss_tokens", "tokens"),
        ],
    ),
    ("cost_ledger", "recorded_at", [("estimated_cost_usd", "cost_usd", "usd")]),
    ("provider_metrics", "recorded_at", [("latency_ms", "provider_latency_ms", "ms")]),
)


_INT64 = (-(2**63), 2**63 - 1)
# DuckDB's JSON reader refuses lone surrogate escapes that Python's repairs
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _decode_json_text(value: Any) -> Any:
    """Columns such as sessions.status hold JSON text ("\\"Idle\\""); show the decoded value."""
    if isinstance(value, str) and value[:1] in ('"', "{", "["):
        decoded, problem = parse_json(value)
        if problem:
            return value
        return decoded if isinstance(decoded, str) else json.dumps(decoded, ensure_ascii=False)
    return value


class StoreSqliteLoader:
    name: ClassVar[str] = "codingbuddy.store_sqlite"
    system: ClassVar[str] = "codingbuddy"
    source: ClassVar[str] = "store_sqlite"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    tool_call_types: ClassVar[tuple[str, ...]] = TOOL_CALL_TYPES  # findings: loaders.base
    tool_arguments: ClassVar[str] = TOOL_ARGUMENTS
    tool_output: ClassVar[str] = TOOL_OUTPUT
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "CodingBuddy store.sqlite projection DB (events as mirror copies, ledgers)"
    # One usage_ledger / cost_ledger row per provider call. DeepSeek-style counts: the cache hit
    # (and miss) tokens are parts of input_tokens. The cost is CodingBuddy's own estimate.
    usage: ClassVar[tuple[Usage, ...]] = (
        Usage("input_tokens", "input_tokens"),
        Usage("output_tokens", "output_tokens"),
        Usage("cache_hit_tokens", "cache_read_tokens", within="input_tokens"),
        Usage("cost_usd", "cost_usd", note="cost estimated by CodingBuddy (estimated_cost_usd)"),
    )

    def detect(self, path: Path, head: bytes) -> bool:
        return path.name == "store.sqlite" and path_has(path, *RUNTIME_DIRS) and is_sqlite(head)

    def load(self, ctx: LoadContext) -> LoadResult:
        project = workspace_name(ctx.path)
        unreadable: list[str] = []
        with sqlite_snapshot(ctx.path) as db:
            present = table_names(db)
            checked = integrity(db)
            tables = {}
            for table in present:
                read = read_table(db, table)
                tables[table] = read.rows
                unreadable += read.problems
        result = LoadResult(records_read=0)
        result.facts["tables"] = {t: len(r) for t, r in sorted(tables.items())}
        result.facts["sqlite_integrity"] = checked
        result.facts["sqlite_unreadable"] = sorted(unreadable)
        result.facts["schema_migrations"] = [
            r.get("version") for r in tables.get("schema_migrations", [])
        ]
        events = tables.get("events", [])
        result.records_read += len(events)
        quarantine: list[Quarantine] = []
        if events:
            result.events = self._mirror_events(ctx, events, project, quarantine)
        metrics: list[dict[str, Any]] = []
        for table, time_column, columns in METRIC_TABLES:
            for row in tables.get(table, []):
                result.records_read += 1
                metrics += guarded(
                    quarantine, row["_rowid"], "", row,
                    self._metric_rows, ctx, table, time_column, columns, row, project,
                ) or []
        result.metrics = metrics
        for table in DOMAIN_TABLES:
            rows = tables.get(table)
            if rows:
                result.records_read += len(rows)
                result.tables[f"codingbuddy_{table}"] = [
                    {k.lstrip("_"): _decode_json_text(v) for k, v in row.items()} for row in rows
                ]
        read = {"events", "schema_migrations", *DOMAIN_TABLES, *(t for t, _, _ in METRIC_TABLES)}
        result.facts["tables_not_read"] = sorted(present - read)
        result.quarantine = quarantine
        result.records_loaded = result.records_read - len(quarantine)
        return result

    @staticmethod
    def _metric_rows(
        ctx: LoadContext, table: str, time_column: str, columns: list[tuple[str, str, str]],
        row: dict[str, Any], project: str | None,
    ) -> list[dict[str, Any]]:
        ts, quality = ctx.parse_ts(row.get(time_column))
        values = [(name, unit, row.get(col)) for col, name, unit in columns]
        if ts is None or all(v is None for _, _, v in values):
            raise BadRecord(f"{table}: no usable {time_column} or value")
        odd = [col for (col, _, _), (_, _, v) in zip(columns, values, strict=True)
               if v is not None and as_number(v) is None]
        if odd:
            raise BadRecord(f"{table}: {', '.join(odd)} is not a number")
        labels = {k: row.get(k) for k in ("unit", "model", "provider", "cache_key")
                  if row.get(k) is not None}
        labels["table"] = table
        return [
            {
                "record_no": row["_rowid"], "ts": ts, "ts_quality": quality,
                "stream": row.get("session_id"), "project": project, "name": name,
                "value": as_number(value), "unit": unit, "labels": labels,
            }
            for name, unit, value in values
            if value is not None
        ]

    def _mirror_events(
        self, ctx: LoadContext, rows: list[dict[str, Any]], project: str | None,
        quarantine: list[Quarantine],
    ) -> Any:
        good = [
            staged
            for row in rows
            if (staged := guarded(quarantine, row["_rowid"], "", row, _mirror_row, ctx, row))
            is not None
        ]
        table = pa.Table.from_pylist(good, schema=pa.schema([
            ("rn", pa.int64()), ("seq_no", pa.int64()), ("at_raw", pa.string()),
            ("session_id", pa.string()), ("kind", pa.string()),
        ]))
        ctx.con.register("_cbs_rows", table)
        ctx.con.execute(
            "CREATE OR REPLACE TEMP TABLE _cbs_src AS SELECT rn, seq_no, at_raw, session_id, "
            "try_cast(kind AS JSON) AS kind, NULL::VARCHAR AS raw FROM _cbs_rows"
        )
        ctx.con.unregister("_cbs_rows")
        # JSON that Python reads but DuckDB does not: quarantined here rather than failing the file
        refused = [r[0] for r in ctx.con.execute("SELECT rn FROM _cbs_src WHERE kind IS NULL")
                   .fetchall()]
        if refused:
            by_rowid = {row["_rowid"]: row for row in rows}
            for rowid in refused:
                quarantine.append(Quarantine(rowid, "payload is JSON that DuckDB does not read",
                                             raw_excerpt(by_rowid.get(rowid))))
            ctx.con.execute("DELETE FROM _cbs_src WHERE kind IS NULL")
        return ctx.con.sql(
            "SELECT *, true AS is_mirror FROM ("
            + projection_sql("_cbs_src", project) + ")"
        )


def _mirror_row(ctx: LoadContext, row: dict[str, Any]) -> dict[str, Any]:
    """The columns projection_sql reads, from one events row; BadRecord says why not."""
    payload = row.get("payload")
    kind, problem = parse_json(payload) if isinstance(payload, str) else (None, "not text")
    if problem:
        raise BadRecord("payload is not valid JSON")
    if not isinstance(kind, dict) or "type" not in kind:
        raise BadRecord("payload is not a {type, payload} object")
    session, seq = row.get("session_id"), row.get("seq_no")
    if session is None or seq is None:
        raise BadRecord("session_id or seq_no missing")
    if isinstance(seq, bool) or not isinstance(seq, int) or not _INT64[0] <= seq <= _INT64[1]:
        raise BadRecord("seq_no is not a 64-bit integer")
    at = row.get("at")
    if not isinstance(at, str) or ctx.parse_ts(at)[0] is None:
        raise BadRecord("at is not an RFC3339 timestamp")
    if _SURROGATE_ESCAPE.search(payload):
        payload = json.dumps(kind, ensure_ascii=False)  # repaired: U+FFFD for the lone surrogate
    return {"rn": row["_rowid"], "seq_no": seq, "at_raw": at,
            "session_id": session if isinstance(session, str) else str(session), "kind": payload}
