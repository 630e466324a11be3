"""Writes one loader result into the store: staging, defaults, provenance (inside ingest's transaction)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from . import __version__, coerce
from .coerce import Dropped, domain_table
from .errors import LoaderError
from .loaders.base import Loader, LoadResult, Rows
from .store import CORE_TABLES, EVENT_COLUMNS, METRIC_COLUMNS, WARNING_COLUMNS

if TYPE_CHECKING:
    from .ingest import FileOutcome



def drop_temp_objects(con: duckdb.DuckDBPyConnection) -> None:
    """Loaders may stage data in temp views and tables; they must not pile up across files."""
    for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE temporary").fetchall():
        con.execute(f'DROP VIEW IF EXISTS temp."{name}"')
    for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary"
    ).fetchall():
        con.execute(f'DROP TABLE IF EXISTS temp."{name}"')


def _load_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT DISTINCT c.table_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_schema, table_name) "
        "WHERE c.column_name = 'load_id' AND t.table_type = 'BASE TABLE' "
        "AND c.table_name <> '_loads'"
    ).fetchall()
    return [r[0] for r in rows]


def delete_loads(con: duckdb.DuckDBPyConnection, load_ids: list[str]) -> bool:
    if not load_ids:
        return False
    for table in _load_tables(con):
        con.execute(f'DELETE FROM "{table}" WHERE load_id IN (SELECT unnest(?))', [load_ids])
    con.execute("DELETE FROM _loads WHERE load_id IN (SELECT unnest(?))", [load_ids])
    return True


def write_result(
    con: duckdb.DuckDBPyConnection,
    load_id: str,
    loader: Loader,
    path: Path,
    resolved: str,
    sha: str,
    zone: Any,
    result: LoadResult,
    started_at: datetime,
    outcome: FileOutcome,
) -> None:
    dropped = Dropped()
    prefix = hashlib.sha256(f"{loader.name}|{sha}".encode()).hexdigest()[:16]
    common = {
        "load_id": _lit(load_id),
        "system": _lit(loader.system),
        "source": _lit(loader.source),
        "source_path": _lit(resolved),
    }
    if result.events is not None:
        event_defaults = {
            **common,
            "event_id": lambda present: _event_id_sql(prefix, present),
            "ts_quality": "CASE WHEN ts IS NULL THEN 'missing' ELSE 'exact' END",
            "severity": "'info'",
            "is_mirror": "false",
        }
        outcome.event_rows = _insert(
            con, "events", EVENT_COLUMNS, result.events, event_defaults, dropped
        )
    if result.metrics is not None:
        metric_defaults = {
            **common,
            "ts_quality": "CASE WHEN ts IS NULL THEN 'missing' ELSE 'exact' END",
        }
        outcome.metric_rows = _insert(
            con, "metrics", METRIC_COLUMNS, result.metrics, metric_defaults, dropped
        )
    for table, rows in result.tables.items():
        outcome.table_rows[table] = _insert_domain(con, table, rows, load_id, resolved)
    warning_defaults = {"load_id": _lit(load_id), "source_path": _lit(resolved)}
    quarantine: Rows = (
        [asdict(q) for q in result.quarantine]
        if isinstance(result.quarantine, list)
        else result.quarantine
    )
    outcome.quarantined = _insert(
        con, "_load_warnings", WARNING_COLUMNS, quarantine, warning_defaults, dropped
    )
    if dropped.counts:
        result.facts["values_not_stored"] = dropped.as_fact()
    loaded = (
        result.records_loaded
        if result.records_loaded is not None
        else result.records_read - outcome.quarantined
    )
    if loaded + outcome.quarantined != result.records_read:
        raise LoaderError(
            str(path),
            f"loader {loader.name} read {result.records_read} records but accounted for "
            f"{loaded} loaded + {outcome.quarantined} quarantined",
            hint="this is a bug in the loader; please report it with the file",
        )
    outcome.records_read = result.records_read
    low, high = con.execute(
        "SELECT min(ts), max(ts) FROM events WHERE load_id = ?", [load_id]
    ).fetchone() or (None, None)
    outcome.ts_min = low.isoformat() if low else None
    outcome.ts_max = high.isoformat() if high else None
    stat = path.stat()
    con.execute(
        "INSERT INTO _loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            load_id,
            loader.name,
            loader.version,
            __version__,
            loader.system,
            resolved,
            sha,
            stat.st_size,
            datetime.fromtimestamp(stat.st_mtime, UTC),
            zone.key if zone else None,
            started_at,
            datetime.now(UTC),
            result.records_read,
            loaded,
            outcome.quarantined,
            outcome.event_rows,
            outcome.metric_rows,
            json.dumps(outcome.table_rows),
            low,
            high,
            json.dumps(result.facts, default=str),
            "ok",
        ],
    )


def _event_id_sql(prefix: str, present: set[str]) -> str:
    """Deterministic id: hash(loader, file sha256) + the record locator (+ event_key if several)."""
    locator = "CAST(record_no AS VARCHAR)" if "record_no" in present else "'?'"
    if "event_key" in present:
        locator += " || coalesce(':' || CAST(event_key AS VARCHAR), '')"
    return f"'{prefix}:' || {locator}"


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _stage(
    con: duckdb.DuckDBPyConnection, name: str, rows: Rows, columns: dict[str, str], dropped: Dropped
) -> list[str]:
    """Expose rows to SQL as view `name`; return the column names it has."""
    if isinstance(rows, duckdb.DuckDBPyRelation):
        rows.to_view(name, replace=True)
        return list(rows.columns)
    if isinstance(rows, list):
        keys: dict[str, None] = {}
        for row in rows:
            keys.update(dict.fromkeys(row))
        unknown = [k for k in keys if k not in columns and k != "event_key"]
        if unknown:
            raise LoaderError(name, f"rows carry unknown columns {unknown}", hint="fix the loader")
        record_nos = [row.get("record_no") for row in rows]
        arrays = [
            coerce.column(
                k, columns.get(k, "VARCHAR"), [row.get(k) for row in rows], record_nos, dropped
            )
            for k in keys
        ]
        rows = pa.Table.from_arrays(arrays, names=list(keys))
    con.register(name, rows)
    return list(rows.column_names)


def _insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: list[tuple[str, str]],
    rows: Rows,
    defaults: dict[str, str | Callable[[set[str]], str]],
    dropped: Dropped,
) -> int:
    """Insert staged rows, filling absent or NULL columns from `defaults` (SQL expressions)."""
    if isinstance(rows, list) and not rows:
        return 0
    stage = f"_stage_{table.strip('_')}"
    present = set(_stage(con, stage, rows, dict(columns), dropped))
    select = []
    for column, typ in columns:
        default = defaults.get(column)
        if callable(default):
            default = default(present)
        if column in present and default:
            expr = f'coalesce(CAST("{column}" AS {typ}), {default})'
        elif column in present:
            expr = f'CAST("{column}" AS {typ})'
        else:
            expr = default or "NULL"
        select.append(f'{expr} AS "{column}"')
    names = ", ".join(f'"{c}"' for c, _ in columns)
    sql = f'INSERT INTO "{table}" ({names}) SELECT {", ".join(select)} FROM {stage}'
    if isinstance(rows, duckdb.DuckDBPyRelation):
        # Big files: let DuckDB write in parallel. Rows keep roughly file order (append logs are
        # nearly time-ordered), which keeps the ts zone maps selective without a full sort.
        # If the insert fails the transaction refuses every statement, the RESET included:
        # ingest resets the setting after its rollback, so the insert's own error surfaces.
        con.execute("SET preserve_insertion_order = false")
        count = con.execute(sql).fetchall()
        con.execute("RESET preserve_insertion_order")
    else:
        count = con.execute(sql + (" ORDER BY ts NULLS LAST, record_no" if table == "events" else "")
                            ).fetchall()
    _unstage(con, stage)
    return int(count[0][0]) if count else 0


def _unstage(con: duckdb.DuckDBPyConnection, name: str) -> None:
    try:
        con.unregister(name)
    except Exception:
        con.execute(f"DROP VIEW IF EXISTS {name}")


def _insert_domain(
    con: duckdb.DuckDBPyConnection, table: str, rows: Rows, load_id: str, source_path: str
) -> int:
    if table in CORE_TABLES or table.startswith("_") or not table.replace("_", "").isalnum():
        raise LoaderError(source_path, f"domain table name {table!r} is reserved or invalid")
    if isinstance(rows, list):
        if not rows:
            return 0
        keys: dict[str, None] = {}
        for row in rows:
            keys.update(dict.fromkeys(row))
        rows = domain_table(rows, list(keys))
    stage = "_stage_domain"
    _stage(con, stage, rows, {}, Dropped())
    con.execute(
        f'CREATE TABLE IF NOT EXISTS "{table}" AS SELECT {_lit(load_id)} AS load_id, '
        f"{_lit(source_path)} AS source_path, * FROM {stage} LIMIT 0"
    )
    existing = {r[0] for r in con.execute(f"DESCRIBE \"{table}\"").fetchall()}
    for name, typ, *_ in con.execute(f"DESCRIBE {stage}").fetchall():
        if name not in existing:
            con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {typ}')
    count = con.execute(
        f'INSERT INTO "{table}" BY NAME SELECT {_lit(load_id)} AS load_id, '
        f"{_lit(source_path)} AS source_path, * FROM {stage}"
    ).fetchone()
    _unstage(con, stage)
    return int(count[0]) if count else 0
