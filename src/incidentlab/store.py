"""The canonical DuckDB store: schema, version check, connections in UTC."""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb

from .errors import DatabaseNotFoundError, SchemaMismatchError
from .timeparse import register_macros

SCHEMA_VERSION = 1

# (name, DuckDB type) in table order. Loaders may produce any subset; ingest fills the rest.
EVENT_COLUMNS: list[tuple[str, str]] = [
    ("event_id", "VARCHAR"),
    ("load_id", "VARCHAR"),
    ("system", "VARCHAR"),
    ("source", "VARCHAR"),
    ("source_path", "VARCHAR"),
    ("record_no", "BIGINT"),
    ("ts", "TIMESTAMPTZ"),
    ("ts_raw", "VARCHAR"),
    ("ts_quality", "VARCHAR"),
    ("stream", "VARCHAR"),
    ("seq", "BIGINT"),
    ("position", "BIGINT"),
    ("project", "VARCHAR"),
    ("correlation_id", "VARCHAR"),
    ("event_type", "VARCHAR"),
    ("event_type_raw", "VARCHAR"),
    ("actor", "VARCHAR"),
    ("name", "VARCHAR"),
    ("outcome", "VARCHAR"),
    ("severity", "VARCHAR"),
    ("duration_ms", "DOUBLE"),
    ("message", "VARCHAR"),
    ("error_code", "VARCHAR"),
    ("error_category", "VARCHAR"),
    ("is_mirror", "BOOLEAN"),
    ("attrs", "JSON"),
]

METRIC_COLUMNS: list[tuple[str, str]] = [
    ("load_id", "VARCHAR"),
    ("system", "VARCHAR"),
    ("source", "VARCHAR"),
    ("source_path", "VARCHAR"),
    ("record_no", "BIGINT"),
    ("ts", "TIMESTAMPTZ"),
    ("ts_quality", "VARCHAR"),
    ("stream", "VARCHAR"),
    ("project", "VARCHAR"),
    ("name", "VARCHAR"),
    ("value", "DOUBLE"),
    ("unit", "VARCHAR"),
    ("labels", "JSON"),
]

LOAD_COLUMNS: list[tuple[str, str]] = [
    ("load_id", "VARCHAR PRIMARY KEY"),
    ("loader", "VARCHAR"),
    ("loader_version", "VARCHAR"),
    ("toolkit_version", "VARCHAR"),
    ("system", "VARCHAR"),
    ("path", "VARCHAR"),
    ("sha256", "VARCHAR"),
    ("size_bytes", "BIGINT"),
    ("mtime", "TIMESTAMPTZ"),
    ("tz", "VARCHAR"),
    ("started_at", "TIMESTAMPTZ"),
    ("finished_at", "TIMESTAMPTZ"),
    ("records_read", "BIGINT"),
    ("records_loaded", "BIGINT"),
    ("quarantined", "BIGINT"),
    ("event_rows", "BIGINT"),
    ("metric_rows", "BIGINT"),
    ("table_rows", "JSON"),
    ("ts_min", "TIMESTAMPTZ"),
    ("ts_max", "TIMESTAMPTZ"),
    ("facts", "JSON"),
    ("status", "VARCHAR"),
]

WARNING_COLUMNS: list[tuple[str, str]] = [
    ("load_id", "VARCHAR"),
    ("source_path", "VARCHAR"),
    ("record_no", "BIGINT"),
    ("reason", "VARCHAR"),
    ("raw", "VARCHAR"),
]

CORE_TABLES = {"events", "metrics", "_loads", "_load_warnings", "_meta"}


# attrs holds whole records and is read on drill-down, not scanned by the analyses: zstd stores it
# in about half the space of DuckDB's default string compression and writes it faster
# (benchmarks/ingest_codingbuddy.py prints the write floor).
COLUMN_COMPRESSION: dict[tuple[str, str], str] = {("events", "attrs"): "zstd"}


def _ddl(name: str, columns: list[tuple[str, str]]) -> str:
    body = ",\n    ".join(
        f'"{col}" {typ}'
        + (f" USING COMPRESSION {COLUMN_COMPRESSION[name, col]}"
           if (name, col) in COLUMN_COMPRESSION else "")
        for col, typ in columns
    )
    return f"CREATE TABLE IF NOT EXISTS {name} (\n    {body}\n)"


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute(_ddl("events", EVENT_COLUMNS))
    con.execute(_ddl("metrics", METRIC_COLUMNS))
    con.execute(_ddl("_loads", LOAD_COLUMNS))
    con.execute(_ddl("_load_warnings", WARNING_COLUMNS))
    # The timeline and counts show each event once: mirror copies (e.g. store.sqlite rows that
    # duplicate events.jsonl) are kept in `events` for cross-checks but hidden here.
    con.execute("CREATE OR REPLACE VIEW timeline_events AS SELECT * FROM events WHERE NOT is_mirror")
    con.execute(
        "INSERT INTO _meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
        [str(SCHEMA_VERSION)],
    )


def schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = '_meta'"
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = con.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def connect(path: str | Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and for writers create) the store, session time zone UTC, version checked."""
    path = Path(path)
    if read_only and not path.exists():
        raise DatabaseNotFoundError(
            f"no database at {path}", hint="create it with `incidentlab ingest PATH --db DB`"
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    # Ingest shows its own progress. Inside a Jupyter kernel without ipywidgets DuckDB refuses to
    # touch this setting at all, and there it does not matter.
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    found = schema_version(con)
    if found is None and not read_only:
        create_schema(con)
    elif found != SCHEMA_VERSION:
        con.close()
        raise SchemaMismatchError(
            f"{path} has schema version {found}, this incidentlab expects {SCHEMA_VERSION}",
            hint="rebuild it: delete the file and run `incidentlab ingest` on the evidence again",
        )
    register_macros(con)
    return con
