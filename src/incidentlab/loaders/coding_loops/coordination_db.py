"""coding-loops `coordination.db` (SQLite, WAL): bus events, heartbeats, tests, locks, decisions."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult, Quarantine, Usage
from ..reading.sqlite import integrity, is_sqlite, read_table, sqlite_snapshot, table_names
from ..records import BadRecord, guarded
from .common import file_mtime, json_cell, short, typed_table
from .taxonomy import NAME_KEYS, SEVERITIES, classify, summary

SCHEMA_MARKERS = (b"component_health", b"file_locks", b"wait_graph", b"passing_tests")
# State tables: kept whole as coding_loops_<table> (wait_graph also yields lock.wait events).
DOMAIN_TABLES = {"tests", "loops", "wait_graph"}
_VALID_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass
class _Out:
    events: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, Any] = field(default_factory=dict)
    quarantine: list[Quarantine] = field(default_factory=list)


def _attrs(row: dict[str, Any]) -> dict[str, Any]:
    """The whole row (JSON text columns decoded), with its rowid."""
    record = {
        k: json_cell(v) if isinstance(v, str) and v[:1] in "{[" else v
        for k, v in row.items()
        if k != "_rowid"
    }
    return {"rowid": row.get("_rowid"), **record}


def _loop(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith("loop-") else None


class _Rows:
    """Builds event rows for one table; `record_no` is the SQLite rowid."""

    def __init__(
        self, ctx: LoadContext, table: str, test_loops: dict[str, str], passed_events: set[str]
    ) -> None:
        self.ctx, self.table, self.test_loops = ctx, table, test_loops
        self.passed_events = passed_events

    def event(
        self,
        row: dict[str, Any],
        column: str,
        *,
        key: str | None = None,
        required: bool = True,
        **fields: Any,
    ) -> dict[str, Any]:
        raw = row.get(column)
        ts, quality = self.ctx.parse_ts(raw, naive="utc")
        if ts is None and required:
            problem = "missing" if raw in (None, "") else f"not parseable: {raw!r}"
            raise BadRecord(f"{self.table}.{column} {problem}")
        return {
            "record_no": row["_rowid"],
            "event_key": self.table + (f":{key}" if key else ""),
            "ts": ts,
            "ts_raw": None if raw is None else str(raw),
            "ts_quality": quality,
            "position": row["_rowid"],
            "attrs": _attrs(row),
            **fields,
        }


def _events(rows: _Rows, row: dict[str, Any]) -> list[dict[str, Any]]:
    payload = json_cell(row.get("payload"))
    payload = payload if isinstance(payload, dict) else {}
    raw = str(row.get("event_type") or "")
    if not raw:
        raise BadRecord("events.event_type missing")
    event_type, outcome, severity, code = classify(raw, payload)
    source = row.get("source")
    correlation = row.get("correlation_id")
    if event_type.startswith("decision.") and not correlation:
        correlation = payload.get("decision_id")
    name = next((payload[k] for k in NAME_KEYS if payload.get(k)), None)
    return [
        rows.event(
            row,
            "timestamp",
            stream=source,
            project=_loop(payload.get("loop_id")) or _loop(source),
            correlation_id=correlation,
            event_type=event_type,
            event_type_raw=raw,
            actor=source,
            name=None if name is None else str(name),
            outcome=outcome,
            severity=severity,
            message=short(summary(raw, payload)),
            error_code=code,
            error_category=payload.get("error_category") if raw == "test_failed" else None,
        )
    ]


_HEALTH = {"healthy": ("ok", "info"), "degraded": (None, "warning"), "dead": ("error", "error")}


def _heartbeats(rows: _Rows, row: dict[str, Any]) -> list[dict[str, Any]]:
    component, status = row.get("component"), row.get("status")
    outcome, severity = _HEALTH.get(str(status), (None, "info"))
    return [
        rows.event(
            row,
            "last_heartbeat",
            stream=component,
            project=_loop(component),
            event_type="heartbeat",
            event_type_raw="component_health",
            actor=component,
            name=component,
            outcome=outcome,
            severity=severity,
            message=f"{component} {status}",
        )
    ]


def _passing(rows: _Rows, row: dict[str, Any]) -> list[dict[str, Any]]:
    loop = rows.test_loops.get(str(row.get("test_id")))
    return [
        rows.event(
            row,
            "passed_at",
            stream=loop,
            project=_loop(loop),
            actor=loop,
            event_type="test.pass",
            event_type_raw="passing_tests",
            name=row.get("test_id"),
            outcome="ok",
            correlation_id=row.get("test_id"),
            message=f"{row.get('test_id')} passed at {row.get('commit_hash')}",
            # the same pass is usually also a `test_passed` event: show it once, count it once
            is_mirror=str(row.get("test_id")) in rows.passed_events,
        )
    ]


def _decisions(rows: _Rows, row: dict[str, Any]) -> list[dict[str, Any]]:
    common = {
        "stream": "decisions",
        "name": row.get("decision_type"),
        "correlation_id": row.get("id"),
        "event_type_raw": "decisions",
    }
    found = [
        rows.event(
            row,
            "requested_at",
            key="requested",
            event_type="decision.request",
            actor=row.get("requested_by"),
            message=short(row.get("summary")),
            **common,
        )
    ]
    if row.get("decided_at"):
        outcome = "timeout" if row.get("status") == "expired" else "ok"
        found.append(
            rows.event(
                row,
                "decided_at",
                key="decided",
                event_type="decision.resolved",
                actor=row.get("decided_by"),
                outcome=outcome,
                message=short(
                    f"{row.get('status')}: {row.get('choice')} {row.get('comment') or ''}"
                ),
                **common,
            )
        )
    return found


def _alerts(rows: _Rows, row: dict[str, Any]) -> list[dict[str, Any]]:
    severity = str(row.get("severity") or "").lower()
    return [
        rows.event(
            row,
            "created_at",
            stream=row.get("source"),
            project=_loop(row.get("source")),
            event_type="alert",
            event_type_raw=f"alert:{row.get('alert_type')}",
            actor=row.get("source"),
            name=row.get("alert_type"),
            severity=severity if severity in SEVERITIES else "warning",
            error_code=row.get("alert_type"),
            correlation_id=row.get("id"),
            message=short(row.get("message")),
        )
    ]


def _locks(rows: _Rows, row: dict[str, Any]) -> list[dict[str, Any]]:
    holder = row.get("locked_by")
    return [
        rows.event(
            row,
            "locked_at",
            stream=holder,
            project=_loop(holder),
            event_type="lock.acquire",
            event_type_raw="file_locks",
            actor=holder,
            name=row.get("file_path"),
            correlation_id=row.get("test_id"),
            message=short(f"{holder} holds {row.get('file_path')}: {row.get('lock_reason') or ''}"),
        )
    ]


def _waits(rows: _Rows, row: dict[str, Any]) -> list[dict[str, Any]]:
    waiter = row.get("waiter")
    return [
        rows.event(
            row,
            "waiting_since",
            required=False,
            stream=waiter,
            project=_loop(waiter),
            event_type="lock.wait",
            event_type_raw="wait_graph",
            actor=waiter,
            name=row.get("resource"),
            severity="warning",
            message=f"{waiter} waits for {row.get('holder')} on {row.get('resource')}",
        )
    ]


def _checkpoints(rows: _Rows, row: dict[str, Any]) -> list[dict[str, Any]]:
    loop = row.get("loop_id")
    common = {
        "stream": loop,
        "project": _loop(loop),
        "actor": loop,
        "name": row.get("test_id"),
        "correlation_id": row.get("id"),
        "event_type_raw": "checkpoints",
    }
    found = [
        rows.event(
            row,
            "created_at",
            key="created",
            event_type="checkpoint.created",
            message=f"{row.get('checkpoint_type')} {row.get('git_ref')}",
            **common,
        )
    ]
    if row.get("deleted_at"):
        found.append(
            rows.event(
                row,
                "deleted_at",
                key="deleted",
                event_type="checkpoint.deleted",
                message=f"deleted {row.get('git_ref')}",
                **common,
            )
        )
    return found


_TX_END = {"committed": ("ok", "info"), "rolled_back": ("error", "warning")}


def _transactions(rows: _Rows, row: dict[str, Any]) -> list[dict[str, Any]]:
    loop = row.get("loop_id")
    common = {
        "stream": loop,
        "project": _loop(loop),
        "actor": loop,
        "name": row.get("operation"),
        "correlation_id": row.get("id"),
        "event_type_raw": "transaction_log",
    }
    found = [
        rows.event(
            row,
            "started_at",
            key="started",
            event_type="transaction.start",
            message=f"{row.get('operation')} started",
            **common,
        )
    ]
    if row.get("completed_at"):
        outcome, severity = _TX_END.get(str(row.get("status")), (None, "info"))
        found.append(
            rows.event(
                row,
                "completed_at",
                key="completed",
                event_type="transaction.end",
                outcome=outcome,
                severity=severity,
                message=f"{row.get('operation')} {row.get('status')}",
                **common,
            )
        )
    return found


Handler = Callable[[_Rows, dict[str, Any]], list[dict[str, Any]]]
HANDLERS: dict[str, Handler] = {
    "events": _events,
    "component_health": _heartbeats,
    "passing_tests": _passing,
    "decisions": _decisions,
    "alerts": _alerts,
    "file_locks": _locks,
    "wait_graph": _waits,
    "checkpoints": _checkpoints,
    "transaction_log": _transactions,
}


def _usage(ctx: LoadContext, row: dict[str, Any]) -> list[dict[str, Any]]:
    raw = row.get("recorded_at")
    ts, quality = ctx.parse_ts(raw, naive="utc")
    if ts is None:
        raise BadRecord(f"usage.recorded_at {'missing' if raw in (None, '') else 'not parseable'}")
    loop = row.get("loop_id")
    files = json_cell(row.get("files_modified"))
    labels = {
        "test_id": row.get("test_id"),
        "usage_id": row.get("id"),
        "files_modified": len(files) if isinstance(files, list) else None,
    }
    found = []
    for column, unit in (("tokens_estimated", "tokens"), ("duration_seconds", "s")):
        value = row.get(column)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found.append(
                {
                    "record_no": row["_rowid"],
                    "ts": ts,
                    "ts_quality": quality,
                    "stream": loop,
                    "project": _loop(loop),
                    "name": column,
                    "value": float(value),
                    "unit": unit,
                    "labels": labels,
                }
            )
    if not found:
        raise BadRecord("usage row has no numeric tokens_estimated or duration_seconds")
    return found


def _test_loops(tests: Iterable[dict[str, Any]]) -> dict[str, str]:
    """test id -> loop id, so passing_tests rows land in their loop's stream."""
    return {
        str(row["id"]): str(row["loop_id"])
        for row in tests
        if row.get("id") and row.get("loop_id")
    }


def _passed_events(events: Iterable[dict[str, Any]]) -> set[str]:
    """Test ids that have a `test_passed` event (their passing_tests rows are then mirrors)."""
    found = set()
    for row in events:
        if row.get("event_type") != "test_passed":
            continue
        value = json_cell(row.get("payload"))
        if isinstance(value, dict) and value.get("test_id"):
            found.add(str(value["test_id"]))
    return found


def _declared(con: sqlite3.Connection, table: str) -> dict[str, str]:
    try:
        return {r[1]: str(r[2]) for r in con.execute(f'PRAGMA table_info("{table}")')}
    except sqlite3.DatabaseError:
        return {}


def _journal_mode(con: sqlite3.Connection) -> str | None:
    try:
        return con.execute("PRAGMA journal_mode").fetchone()[0]
    except sqlite3.DatabaseError:
        return None


class CoordinationDbLoader:
    name: ClassVar[str] = "coding_loops.coordination_db"
    system: ClassVar[str] = "coding_loops"
    source: ClassVar[str] = "coordination_db"
    positions: ClassVar[str] = "grouped"  # rows numbered per table / snapshot, not one file order
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "coding-loops coordination.db (events, heartbeats, tests, locks, decisions, usage, ...)"
    )
    # usage.tokens_estimated: the loop's own estimate per attempt, no input / output split.
    usage: ClassVar[tuple[Usage, ...]] = (
        Usage("tokens_estimated", "estimated_tokens", note="tokens estimated by coding-loops"),)

    def detect(self, path: Path, head: bytes) -> bool:
        if not is_sqlite(head):
            return False
        return path.name == "coordination.db" or sum(m in head for m in SCHEMA_MARKERS) >= 2

    def load(self, ctx: LoadContext) -> LoadResult:
        out = _Out()
        skipped: list[str] = []
        tables: dict[str, list[dict[str, Any]]] = {}
        declared: dict[str, dict[str, str]] = {}
        unreadable: list[str] = []
        with sqlite_snapshot(ctx.path) as con:
            journal = _journal_mode(con)
            checked = integrity(con)
            for table in sorted(table_names(con)):
                if table.startswith("sqlite_"):
                    continue
                if not _VALID_NAME.match(table):
                    skipped.append(table)
                    continue
                read = read_table(con, table)
                unreadable += read.problems
                for index, row in enumerate(read.rows, start=1):
                    if row.get("_rowid") is None:  # WITHOUT ROWID tables: row order instead
                        row["_rowid"] = index
                tables[table] = read.rows
                declared[table] = _declared(con, table)
        test_loops = _test_loops(tables.get("tests", []))
        passed_events = _passed_events(tables.get("events", []))
        for table, rows in tables.items():
            self._table(ctx, table, rows, declared[table], out, test_loops, passed_events)
        facts = self._size(ctx, out)
        facts.update(
            journal_mode=journal,
            tables={t: len(r) for t, r in tables.items()},
            tables_not_read=skipped,
            sqlite_integrity=checked,
            sqlite_unreadable=unreadable,
        )
        return LoadResult(
            records_read=sum(len(r) for r in tables.values()),
            events=out.events,
            metrics=out.metrics,
            tables=out.tables,
            quarantine=out.quarantine,
            facts=facts,
        )

    def _table(
        self,
        ctx: LoadContext,
        table: str,
        rows: list[dict[str, Any]],
        declared: dict[str, str],
        out: _Out,
        test_loops: dict[str, str],
        passed_events: set[str],
    ) -> None:
        handler = HANDLERS.get(table)
        builder = _Rows(ctx, table, test_loops, passed_events)
        for row in rows if handler or table == "usage" else ():
            rowid = row["_rowid"]
            raw = {k: v for k, v in row.items() if k != "_rowid"}
            label = f"{table} rowid {rowid}"
            if handler:
                out.events += guarded(out.quarantine, rowid, label, raw, handler, builder, row) or []
            else:
                out.metrics += guarded(out.quarantine, rowid, label, raw, _usage, ctx, row) or []
        if rows and (table in DOMAIN_TABLES or (handler is None and table != "usage")):
            renamed = [
                {"sqlite_rowid": r["_rowid"], **{k: v for k, v in r.items() if k != "_rowid"}}
                for r in rows
            ]
            out.tables[f"coding_loops_{table}"] = typed_table(
                renamed, {**declared, "sqlite_rowid": "INTEGER"}
            )

    def _size(self, ctx: LoadContext, out: _Out) -> dict[str, Any]:
        """The runbook alerts on database size (> 500 MB warning, > 1 GB critical): WAL included."""
        wal = ctx.path.with_name(ctx.path.name + "-wal")
        db_bytes = ctx.path.stat().st_size
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        stamp = max(file_mtime(p) for p in (ctx.path, wal) if p.exists())
        out.metrics.append(
            {
                "ts": stamp,
                "ts_quality": "derived",
                "name": "db_size_bytes",
                "value": float(db_bytes + wal_bytes),
                "unit": "bytes",
                "labels": {"db_bytes": db_bytes, "wal_bytes": wal_bytes},
            }
        )
        return {
            "db_size_bytes": db_bytes,
            "wal_size_bytes": wal_bytes,
            "total_size_bytes": db_bytes + wal_bytes,
            "wal_present": wal.exists(),
            "size_measured_at": stamp.isoformat(),
        }
