"""`lake write`: append one incident database to a Hive-partitioned Parquet lake, atomically.

An append stages every table with DuckDB `COPY ... (FORMAT parquet, PARTITION_BY ...)` under
`DIR/_staging/<batch>/`, checks the staged row counts against the database, lists the files to
publish in a journal, moves them into the table folders and replaces manifest.json last. A crash
before the manifest is replaced leaves the old manifest, and every reader that goes by the
manifest (DuckDB over the lake) sees the lake as it was; the next write rolls the unfinished
append back (deletes the files its journal lists that the manifest does not) before it starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from .. import store
from .manifest import (
    LOCK,
    MANIFEST,
    NO_PARTITION_VALUE,
    PARTITION_COLUMNS,
    PARTITIONED_TABLES,
    STAGING,
    STREAM_INDEX,
    LakeError,
    Manifest,
    load_key,
    now_iso,
    read_manifest,
    write_manifest,
)

Progress = Callable[[str], None]
KEEP_TABLE = "_il_lake_keep"
# Tables of the database that are not evidence: _meta's one row (the schema version) lives in
# the manifest instead.
NOT_WRITTEN = frozenset({"_meta"})


@dataclass
class AppendResult:
    """What one append did: the loads it added and skipped, rows and files per table."""

    lake: Path
    database: str
    batch: str | None
    loads_added: list[dict[str, Any]] = field(default_factory=list)
    loads_skipped: list[dict[str, Any]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    rolled_back: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"lake": str(self.lake), "database": self.database, "batch": self.batch,
                "loads_added": len(self.loads_added), "loads_skipped": self.loads_skipped,
                "rows": self.rows, "files": self.files, "rolled_back": self.rolled_back,
                "seconds": round(self.seconds, 3)}


def write_lake(db: str | Path, out: str | Path, *, progress: Progress | None = None) -> AppendResult:
    """Append the incidentlab database `db` to the lake at `out` (created when new)."""
    con = store.connect(db, read_only=True)
    try:
        return append(con, out, source=str(Path(db).resolve()), progress=progress)
    finally:
        con.close()


def append(con: duckdb.DuckDBPyConnection, out: str | Path, *, source: str,
           tables: list[str] | None = None, progress: Progress | None = None) -> AppendResult:
    """Append what `con` holds (its tables, or the named tables/views) to the lake at `out`.

    `_loads` decides what is new: a load whose (loader, sha256) the lake already holds is
    skipped with all its rows in every table.
    """
    started = time.perf_counter()
    say = progress or (lambda _line: None)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LakeError(f"--out {out} is a file", hint="give a folder for the lake")
    out.mkdir(parents=True, exist_ok=True)
    with _lock(out):
        manifest = read_manifest(out) if (out / MANIFEST).exists() else None
        rolled_back = recover(out, manifest, say)
        if manifest is None:
            _check_empty(out)
            manifest = Manifest.new()
        result = AppendResult(out, source, None, rolled_back=rolled_back)
        columns = _source_columns(con, tables)
        if "_loads" not in columns:
            raise LakeError(f"{source} has no _loads table",
                            hint="give a database made by `incidentlab ingest`")
        keep, skipped = _split_loads(con, manifest, source)
        result.loads_skipped = skipped
        for table in columns:
            _check_columns(manifest, table, columns[table])
        if not keep:
            say(f"lake: nothing new in {source} ({len(skipped)} load(s) already in the lake)")
            result.seconds = time.perf_counter() - started
            return result
        batch = f"b{len(manifest.databases) + 1:06d}-{uuid.uuid4().hex[:8]}"
        result.batch = batch
        staging = out / STAGING / batch
        staging.mkdir(parents=True)
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {KEEP_TABLE} AS "
                        "SELECT unnest(?::VARCHAR[]) AS load_id", [[load["load_id"] for load in keep]])
            per_load = _rows_per_load(con, columns, source)
            staged: dict[str, list[dict[str, Any]]] = {}
            for table, cols in columns.items():
                table_started = time.perf_counter()
                staged[table] = _stage_table(con, manifest, staging, table, cols, batch)
                rows = sum(entry["rows"] for entry in staged[table])
                expected = sum(per_load.get(table, {}).values())
                if rows != expected:
                    raise LakeError(f"{table}: staged {rows} rows, the database holds {expected} for "
                                    "the loads being added", hint="nothing was published; try again")
                result.rows[table], result.files[table] = rows, len(staged[table])
                say(f"lake: {table}: {rows:,} rows -> {len(staged[table])} file(s) "
                    f"({time.perf_counter() - table_started:.1f} s)")
            index = _stage_stream_index(con, staging, staged.get("events", []), batch)
            _publish(out, staging, staged, [index["path"]] if index else [])
            _record(manifest, columns, staged, keep, per_load, source, batch, skipped)
            if index:
                manifest.data.setdefault("stream_index", []).append(index)
            write_manifest(out, manifest)
        finally:
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DROP TABLE IF EXISTS temp.{KEEP_TABLE}")
        shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(out / STAGING)
        result.loads_added = keep
        result.seconds = time.perf_counter() - started
        say(f"lake: appended {len(keep)} load(s) from {source} as batch {batch} "
            f"({result.seconds:.1f} s)")
        return result


# ---- what the database holds ---------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source_columns(con: duckdb.DuckDBPyConnection,
                    tables: list[str] | None) -> dict[str, list[tuple[str, str]]]:
    """{table: [(column, DuckDB type)]} of the tables to write, `_loads` first."""
    if tables is None:
        tables = [name for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND NOT temporary ORDER BY table_name").fetchall()
            if name not in NOT_WRITTEN]
    found = {}
    for table in sorted(tables, key=lambda t: (t != "_loads", t not in PARTITIONED_TABLES, t)):
        described = con.execute(f"DESCRIBE SELECT * FROM {_quote(table)}").fetchall()
        found[table] = [(row[0], row[1]) for row in described]
    for table, cols in found.items():
        if table != "_loads" and "load_id" not in {c for c, _t in cols}:
            raise LakeError(f"table {table} has no load_id column",
                            hint="the lake keeps rows per load; leave the table out or add load_id")
    return found


def _split_loads(con: duckdb.DuckDBPyConnection, manifest: Manifest,
                 source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(loads to add, loads skipped because the lake has them), each as a dict."""
    cursor = con.execute("SELECT load_id, loader, sha256, path, system, status FROM _loads "
                         "ORDER BY load_id")
    names = [d[0] for d in cursor.description]
    loads = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    known = {load_key(entry): entry for entry in manifest.loads}
    known_ids = {entry["load_id"]: entry for entry in manifest.loads}
    keep, skipped = [], []
    for load in loads:
        have = known.get(load_key(load))
        if have is not None:
            skipped.append({**load, "reason": f"already in the lake (batch {have['batch']}, "
                                              f"from {have['database']})"})
            continue
        if load["load_id"] in known_ids:
            other = known_ids[load["load_id"]]
            raise LakeError(f"load {load['load_id']} of {source} has the id of another load in the lake "
                            f"({other['loader']} {other['path']})",
                            hint="re-ingest the evidence into a new database and append that")
        keep.append(load)
    return keep, skipped


def _rows_per_load(con: duckdb.DuckDBPyConnection, columns: dict[str, list[tuple[str, str]]],
                   source: str) -> dict[str, dict[str, int]]:
    """{table: {load_id: rows}} for the loads being added; refuses rows that belong to no load."""
    out: dict[str, dict[str, int]] = {}
    for table in columns:
        stray = con.execute(f"SELECT count(*) FROM {_quote(table)} t WHERE t.load_id IS NULL OR "
                            "t.load_id NOT IN (SELECT load_id FROM _loads)").fetchone()
        if stray and stray[0]:
            raise LakeError(f"{source}: {stray[0]} row(s) of {table} belong to no load in _loads",
                            hint="the lake adds evidence load by load; re-ingest the database")
        out[table] = dict(con.execute(
            f"SELECT load_id, count(*) FROM {_quote(table)} "
            f"WHERE load_id IN (SELECT load_id FROM {KEEP_TABLE}) GROUP BY load_id").fetchall())
    return out


def _check_columns(manifest: Manifest, table: str, cols: list[tuple[str, str]]) -> None:
    if table not in manifest.tables:
        return
    have = dict(manifest.columns(table))
    for name, typ in cols:
        if name in have and have[name] != typ:
            raise LakeError(f"{table}.{name} is {typ} in this database but {have[name]} in the lake",
                            hint="write this database to a new lake")


# ---- staging --------------------------------------------------------------------------------------


def _partition_sql() -> str:
    system, date = PARTITION_COLUMNS
    return (f"CASE WHEN coalesce(system, '') = '' THEN '{NO_PARTITION_VALUE}' "
            f"ELSE regexp_replace(system, '[^A-Za-z0-9_.-]', '_', 'g') END AS {system}, "
            f"coalesce(strftime(timezone('UTC', ts), '%Y-%m-%d'), '{NO_PARTITION_VALUE}') AS {date}")


def _stage_table(con: duckdb.DuckDBPyConnection, manifest: Manifest, staging: Path, table: str,
                 cols: list[tuple[str, str]], batch: str) -> list[dict[str, Any]]:
    """COPY the table's rows of the kept loads under staging/<table>/; one entry per file."""
    folder = staging / table
    folder.mkdir(parents=True)
    select = ", ".join(_quote(c) for c, _t in cols)
    where = f"load_id IN (SELECT load_id FROM {KEEP_TABLE})"
    partitioned = table in PARTITIONED_TABLES
    has_ts = ("ts", "TIMESTAMP WITH TIME ZONE") in cols
    if partitioned:
        con.execute(
            f"COPY (SELECT {select}, {_partition_sql()} FROM {_quote(table)} WHERE {where} "
            f"ORDER BY ts NULLS LAST) TO {_literal(str(folder))} "
            f"(FORMAT parquet, PARTITION_BY ({', '.join(PARTITION_COLUMNS)}), "
            f"FILENAME_PATTERN {_literal(batch + '_{i}')})")
        files = sorted(folder.rglob("*.parquet"))
        if not files and not manifest.tables.get(table, {}).get("files"):
            # A table must have one file for Parquet readers to know its columns.
            empty = folder / "/".join(f"{c}={NO_PARTITION_VALUE}" for c in PARTITION_COLUMNS)
            empty.mkdir(parents=True)
            con.execute(f"COPY (SELECT {select} FROM {_quote(table)} WHERE false) TO "
                        f"{_literal(str(empty / (batch + '_0.parquet')))} (FORMAT parquet)")
            files = sorted(folder.rglob("*.parquet"))
    else:
        order = " ORDER BY ts NULLS LAST" if has_ts else ""
        target = folder / f"{batch}.parquet"
        written = con.execute(f"COPY (SELECT {select} FROM {_quote(table)} WHERE {where}{order}) "
                              f"TO {_literal(str(target))} (FORMAT parquet)").fetchone()
        if written and not written[0] and manifest.tables.get(table, {}).get("files"):
            target.unlink()
        files = [target] if target.exists() else []
    return _file_entries(con, staging, files, batch, has_ts)


def _stage_stream_index(con: duckdb.DuckDBPyConnection, staging: Path,
                        events: list[dict[str, Any]], batch: str) -> dict[str, Any] | None:
    """The distinct (stream, events file) of the batch, `stream` '' for none (as replay groups
    them): what lake/batches.py reads to keep a stream's files in one batch of an analysis."""
    if not events:
        return None
    relative = f"{STREAM_INDEX}/{batch}.parquet"
    target = staging / relative
    target.parent.mkdir(parents=True)
    prefix = staging.as_posix().rstrip("/") + "/"
    listed = "[" + ", ".join(_literal(prefix + e["path"]) for e in events) + "]"
    [(rows,)] = con.execute(
        f"COPY (SELECT DISTINCT coalesce(stream, '') AS stream, "
        f"substr(filename, {len(prefix) + 1}) AS file FROM read_parquet({listed}, filename = true) "
        f"ORDER BY stream, file) TO {_literal(str(target))} (FORMAT parquet)").fetchall()
    return {"path": relative, "rows": int(rows), "batch": batch}


def _file_entries(con: duckdb.DuckDBPyConnection, staging: Path, files: list[Path], batch: str,
                  has_ts: bool) -> list[dict[str, Any]]:
    if not files:
        return []
    listed = "[" + ", ".join(_literal(str(f)) for f in files) + "]"
    counts = dict(con.execute(
        f"SELECT file_name, num_rows FROM parquet_file_metadata({listed})").fetchall())
    ranges: dict[str, tuple[Any, Any]] = {}
    if has_ts:
        ranges = {name: (lo, hi) for name, lo, hi in con.execute(
            f"SELECT filename, min(ts), max(ts) FROM read_parquet({listed}, filename=true) "
            "GROUP BY filename").fetchall()}
    entries = []
    for path in files:
        relative = path.relative_to(staging).as_posix()
        entry: dict[str, Any] = {"path": relative, "rows": int(counts[str(path)]),
                                 "bytes": path.stat().st_size, "batch": batch}
        parts = dict(p.split("=", 1) for p in relative.split("/")[1:-1] if "=" in p)
        if parts:
            entry["partition"] = parts
        if has_ts:
            lo, hi = ranges.get(str(path), (None, None))
            entry["ts_min"] = lo.isoformat() if lo is not None else None
            entry["ts_max"] = hi.isoformat() if hi is not None else None
        entries.append(entry)
    return entries


# ---- publishing -----------------------------------------------------------------------------------


def _publish(out: Path, staging: Path, staged: dict[str, list[dict[str, Any]]],
             others: list[str]) -> None:
    """Move the staged files (and `others`, relative to the staging folder) into place; the
    journal lists them first, so an append that dies here is rolled back by the next write."""
    targets = [entry["path"] for entries in staged.values() for entry in entries] + others
    for relative in targets:
        if (out / relative).exists():
            raise LakeError(f"{out / relative} exists already", hint="nothing was published; try again")
    journal = staging / "journal.json"
    journal.write_text(json.dumps({"files": targets}), encoding="utf-8")
    for relative in targets:
        _publish_file(staging / relative, out / relative)


def _publish_file(staged: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, target)


def _record(manifest: Manifest, columns: dict[str, list[tuple[str, str]]],
            staged: dict[str, list[dict[str, Any]]], keep: list[dict[str, Any]],
            per_load: dict[str, dict[str, int]], source: str, batch: str,
            skipped: list[dict[str, Any]]) -> None:
    stamp = now_iso()
    for table, cols in columns.items():
        entry = manifest.tables.setdefault(table, {
            "columns": [], "partition_by": list(PARTITION_COLUMNS) if table in PARTITIONED_TABLES else [],
            "rows": 0, "files": []})
        names = {c for c, _t in entry["columns"]}
        entry["columns"].extend([c, t] for c, t in cols if c not in names)
        entry["files"].extend(staged[table])
        entry["rows"] += sum(e["rows"] for e in staged[table])
    for load in keep:
        rows = {table: counts[load["load_id"]] for table, counts in per_load.items()
                if counts.get(load["load_id"])}
        manifest.loads.append({**load, "batch": batch, "database": source, "rows": rows})
    manifest.databases.append({
        "path": source, "appended_at": stamp, "batch": batch, "loads_added": len(keep),
        "loads_skipped": len(skipped),
        "rows": {table: sum(e["rows"] for e in entries) for table, entries in staged.items()}})


# ---- crash recovery and the writer's lock ------------------------------------------------------------


def recover(out: Path, manifest: Manifest | None, say: Progress | None = None) -> list[str]:
    """Roll back appends that died before their manifest: delete the published files their
    journal lists that the manifest does not, and the staging folder. Returns the batches."""
    root = out / STAGING
    if not root.is_dir():
        return []
    committed = ({path for table in manifest.tables for path in manifest.files(table)}
                 | set(manifest.stream_index()) if manifest else set())
    rolled = []
    for batch in sorted(p for p in root.iterdir() if p.is_dir()):
        journal = batch / "journal.json"
        removed = 0
        if journal.exists():
            for relative in json.loads(journal.read_text(encoding="utf-8")).get("files", []):
                target = out / relative
                if relative not in committed and target.exists():
                    target.unlink()
                    removed += 1
                    _prune_parents(out, target.parent)
        shutil.rmtree(batch, ignore_errors=True)
        rolled.append(batch.name)
        if say:
            say(f"lake: rolled back the unfinished append {batch.name} ({removed} file(s) removed)")
    _remove_if_empty(root)
    return rolled


def _prune_parents(out: Path, folder: Path) -> None:
    while folder != out and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _check_empty(out: Path) -> None:
    others = [p.name for p in out.iterdir() if p.name not in (LOCK, STAGING)]
    if others:
        raise LakeError(f"--out {out} is not empty and holds no {MANIFEST} "
                        f"({', '.join(sorted(others)[:3])} ...)",
                        hint="give a new folder or an existing lake")


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """One writer at a time: DIR/.lake.lock holds the writer's host and PID."""
    path = out / LOCK
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": now_iso()}
    for _attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_lock(path)
            if holder.get("host") == me["host"] and not _alive(holder.get("pid")):
                path.unlink(missing_ok=True)  # its writer died: the lock is stale
                continue
            raise LakeError(f"{out} is being written by PID {holder.get('pid')} on {holder.get('host')} "
                            f"since {holder.get('since')}",
                            hint=f"wait for it to finish; if no write is running, delete {path}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(me, handle)
        break
    else:
        raise LakeError(f"cannot take the lock {path}", hint="delete it if no write is running")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _read_lock(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
