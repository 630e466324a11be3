"""The canonical DuckDB store: schema, version check, connections in UTC."""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from .errors import (
    DatabaseLockedError,
    DatabaseNotFoundError,
    NotADatabaseError,
    SchemaMismatchError,
)
from .timeparse import register_macros

SCHEMA_VERSION = 1
DUCKDB_MAGIC = b"DUCK"
LOCK_WAIT_ENV = "INCIDENTLAB_LOCK_WAIT"
DEFAULT_LOCK_WAIT = 60.0
# Evidence analysis never needs the network: DuckDB must not fetch or load extensions by itself.
NO_EXTENSION_DOWNLOADS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}

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


def check_target(path: Path, *, read_only: bool) -> None:
    """Refuse, in one line, a --db that is not an incidentlab database or cannot be written."""
    if str(path) in ("", ".", ":memory:") or str(path).startswith(":memory:"):
        raise NotADatabaseError(f"--db {str(path)!r} is not a file",
                                hint="give a file name such as incident.duckdb")
    if read_only and not path.exists():
        raise DatabaseNotFoundError(
            f"no database at {path}", hint="create it with `incidentlab ingest PATH --db DB`"
        )
    if path.is_dir():
        raise NotADatabaseError(f"--db {path} is a folder", hint="give a file name such as incident.duckdb")
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as handle:
            head = handle.read(16)
        if head[8:12] != DUCKDB_MAGIC:
            raise NotADatabaseError(
                f"--db {path} is not a DuckDB database (it {_looks_like(head)})",
                hint="evidence goes in PATH; give --db a new file name or an incidentlab database",
            )
    if read_only:
        return
    folder = path.parent if path.parent != Path("") else Path(".")
    if (path.exists() and not os.access(path, os.W_OK)) or (
        not path.exists() and folder.exists() and not os.access(folder, os.W_OK)
    ):
        raise NotADatabaseError(f"--db {path} cannot be written here",
                                hint="choose a writable place for the database")


def _looks_like(head: bytes) -> str:
    if head.startswith(b"SQLite format 3"):
        return "is a SQLite file"
    if head.lstrip()[:1] in (b"{", b"["):
        return "looks like JSON evidence"
    return "starts with " + repr(head[:8])


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """duckdb.connect, waiting while another process holds a conflicting lock."""
    deadline = time.monotonic() + lock_wait_seconds()
    told = False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=dict(NO_EXTENSION_DOWNLOADS))
        except duckdb.IOException as exc:
            holder = _lock_holder(str(exc))
            if holder is None:
                raise
            if time.monotonic() >= deadline:
                raise DatabaseLockedError(
                    f"{path} is in use by {holder}",
                    hint=f"wait for it to finish, or raise {LOCK_WAIT_ENV} (now {lock_wait_seconds():g} s)",
                ) from None
            if not told:
                print(f"incidentlab: waiting for {path}, in use by {holder}", file=sys.stderr)
                told = True
            time.sleep(0.05)


def lock_wait_seconds() -> float:
    try:
        return float(os.environ.get(LOCK_WAIT_ENV, DEFAULT_LOCK_WAIT))
    except ValueError:
        return DEFAULT_LOCK_WAIT


def _lock_holder(message: str) -> str | None:
    """'PID 1234 (python3.11)' from DuckDB's lock error, or None when it is another error."""
    if "Could not set lock" not in message:
        return None
    found = re.search(r"held in (\S+) \(PID (\d+)\)", message)
    if not found:
        return "another process"
    return f"PID {found[2]} ({Path(found[1]).name})"


def connect(path: str | Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and for writers create) the store, session time zone UTC, version checked.

    While another process holds the database, waits up to INCIDENTLAB_LOCK_WAIT seconds.
    """
    path = Path(path)
    check_target(path, read_only=read_only)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only)
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


def connect_snapshot(path: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a private copy of the store, for long-lived readers (notebooks,
    reports): they never hold the lock, so ingest can go on writing while they are open."""
    path = Path(path)
    folder = Path(tempfile.mkdtemp(prefix="incidentlab-snapshot-"))
    atexit.register(shutil.rmtree, folder, True)
    copy = folder / path.name
    holder = connect(path, read_only=True)  # a reader's shared lock: no writer is mid-write now
    try:
        shutil.copy2(path, copy)
        wal = path.with_name(path.name + ".wal")
        if wal.exists():
            shutil.copy2(wal, copy.with_name(copy.name + ".wal"))
    finally:
        holder.close()
    con = connect(copy, read_only=True)
    # The connection holds the copy open: its name can go now (POSIX), so a reader that is
    # killed (a notebook kernel) leaves no copy of the evidence behind. The folder stays for
    # DuckDB's spill files; atexit removes it, and the copy where removing an open file fails.
    for name in (copy, copy.with_name(copy.name + ".wal")):
        with contextlib.suppress(OSError):
            name.unlink(missing_ok=True)
    return con
