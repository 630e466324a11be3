"""CodingBuddy `store.sqlite`: mirror copies of the events, usage/cost ledgers, sessions, runs, cassettes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from ..base import LoadContext, LoadResult, Quarantine, path_has
from ..reading.sqlite import fetch_rows, is_sqlite, sqlite_snapshot, table_names
from .events import RUNTIME_DIRS
from .taxonomy import projection_sql, workspace_name

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


def _decode_json_text(value: Any) -> Any:
    """Columns such as sessions.status hold JSON text ("\\"Idle\\""); show the decoded value."""
    if isinstance(value, str) and value[:1] in ('"', "{", "["):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, str) else json.dumps(decoded)
    return value


class StoreSqliteLoader:
    name: ClassVar[str] = "codingbuddy.store_sqlite"
    system: ClassVar[str] = "codingbuddy"
    source: ClassVar[str] = "store_sqlite"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "CodingBuddy store.sqlite projection DB (events as mirror copies, ledgers)"

    def detect(self, path: Path, head: bytes) -> bool:
        return path.name == "store.sqlite" and path_has(path, *RUNTIME_DIRS) and is_sqlite(head)

    def load(self, ctx: LoadContext) -> LoadResult:
        project = workspace_name(ctx.path)
        with sqlite_snapshot(ctx.path) as db:
            present = table_names(db)
            tables = {t: fetch_rows(db, t) for t in present}
        result = LoadResult(records_read=0)
        result.facts["tables"] = {t: len(r) for t, r in sorted(tables.items())}
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
                ts, quality = ctx.parse_ts(row.get(time_column))
                values = [(name, unit, row.get(col)) for col, name, unit in columns]
                if ts is None or all(v is None for _, _, v in values):
                    quarantine.append(
                        Quarantine(row["_rowid"], f"{table}: no usable {time_column} or value",
                                   json.dumps(row, default=str)[:500])
                    )
                    continue
                labels = {k: row.get(k) for k in ("unit", "model", "provider", "cache_key")
                          if row.get(k) is not None}
                labels["table"] = table
                for name, unit, value in values:
                    if value is not None:
                        metrics.append({
                            "record_no": row["_rowid"], "ts": ts, "ts_quality": quality,
                            "stream": row.get("session_id"), "project": project, "name": name,
                            "value": float(value), "unit": unit, "labels": labels,
                        })
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

    def _mirror_events(
        self, ctx: LoadContext, rows: list[dict[str, Any]], project: str | None,
        quarantine: list[Quarantine],
    ) -> Any:
        good = []
        for row in rows:
            reason = None
            try:
                kind = json.loads(row.get("payload") or "")
                if not isinstance(kind, dict) or "type" not in kind:
                    reason = "payload is not a {type, payload} object"
            except ValueError:
                reason = "payload is not valid JSON"
            if reason is None and (row.get("session_id") is None or row.get("seq_no") is None):
                reason = "session_id or seq_no missing"
            if reason is None and ctx.parse_ts(row.get("at"))[0] is None:
                reason = "at is not an RFC3339 timestamp"
            if reason:
                quarantine.append(Quarantine(row["_rowid"], reason, json.dumps(row, default=str)[:500]))
                continue
            good.append({
                "rn": row["_rowid"], "seq_no": row["seq_no"], "at_raw": row["at"],
                "session_id": row["session_id"], "kind": row["payload"],
            })
        table = pa.Table.from_pylist(good, schema=pa.schema([
            ("rn", pa.int64()), ("seq_no", pa.int64()), ("at_raw", pa.string()),
            ("session_id", pa.string()), ("kind", pa.string()),
        ]))
        ctx.con.register("_cbs_rows", table)
        ctx.con.execute(
            "CREATE OR REPLACE TEMP TABLE _cbs_src AS SELECT rn, seq_no, at_raw, session_id, "
            "CAST(kind AS JSON) AS kind, NULL::VARCHAR AS raw FROM _cbs_rows"
        )
        ctx.con.unregister("_cbs_rows")
        return ctx.con.sql(
            "SELECT *, true AS is_mirror FROM ("
            + projection_sql("_cbs_src", project) + ")"
        )
