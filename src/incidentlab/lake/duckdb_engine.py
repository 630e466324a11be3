"""DuckDB over the lake: an in-memory connection with one view per lake table, set up like
`store.connect` (UTC, the timeparse macros, no extension autoload), so every analysis runs on it
unchanged."""

from __future__ import annotations

import contextlib
import weakref
from pathlib import Path

import duckdb

from ..store import NO_EXTENSION_DOWNLOADS, SCHEMA_VERSION
from ..timeparse import register_macros
from .manifest import MANIFEST, LakeError, Manifest, is_url, parse_manifest, read_manifest

# Each open lake connection's location (as its views name it) and the manifest its views list.
_OPENED: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, tuple[str, Manifest]] = (
    weakref.WeakKeyDictionary())


def opened(con: duckdb.DuckDBPyConnection) -> tuple[str, Manifest] | None:
    """(location, manifest) of a connection `connect` made; None for any other connection."""
    return _OPENED.get(con)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(location: str, table: str, manifest: Manifest, files: list[str] | None = None) -> str:
    """CREATE VIEW <table>: the files the manifest lists (files a crashed append left behind are
    not read), or those of them given, the original columns in the original order and types."""
    files = manifest.files(table) if files is None else files
    columns = manifest.columns(table)
    if not files:
        body = ", ".join(f"CAST(NULL AS {typ}) AS {_quote(name)}" for name, typ in columns)
        return f"CREATE OR REPLACE VIEW {_quote(table)} AS SELECT {body} WHERE false"
    base = location.rstrip("/")
    listed = "[" + ", ".join(_literal(f"{base}/{path}") for path in files) + "]"
    # Same-typed casts are dropped by DuckDB's binder; they matter for columns that older files
    # lack (union_by_name fills NULL) and for the manifest being the one truth about types.
    body = ", ".join(f"CAST({_quote(name)} AS {typ}) AS {_quote(name)}" for name, typ in columns)
    return (f"CREATE OR REPLACE VIEW {_quote(table)} AS SELECT {body} FROM read_parquet({listed}, "
            "hive_partitioning = true, union_by_name = true)")


def connect(location: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection over the lake at `location` (a folder, or an s3:// / gs://
    / https:// URL read through DuckDB's httpfs extension, which must be installed)."""
    con = duckdb.connect(":memory:", config=dict(NO_EXTENSION_DOWNLOADS))
    try:
        con.execute("SET TimeZone = 'UTC'")
        with contextlib.suppress(duckdb.InvalidInputException):
            con.execute("SET enable_progress_bar = false")
        text, manifest = _located(con, location)
        for table in manifest.tables:
            con.execute(view_sql(text, table, manifest))
        con.execute("CREATE OR REPLACE VIEW timeline_events AS SELECT * FROM events WHERE NOT is_mirror")
        con.execute("CREATE OR REPLACE VIEW _meta AS SELECT * FROM (VALUES ('schema_version', "
                    f"'{SCHEMA_VERSION}')) t(key, value)")
        register_macros(con)
        _OPENED[con] = (text, manifest)
    except BaseException:
        con.close()
        raise
    return con


def _located(con: duckdb.DuckDBPyConnection, location: str | Path) -> tuple[str, Manifest]:
    """The lake's location as the views name it (a resolved folder, or the URL) and its manifest."""
    text = str(location)
    if is_url(text):
        return text, _remote_manifest(con, text)
    return str(Path(location).resolve()), read_manifest(location)


def _remote_manifest(con: duckdb.DuckDBPyConnection, url: str) -> Manifest:
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error as exc:
        raise LakeError(f"reading {url} needs DuckDB's httpfs extension, which is not installed",
                        hint="run `INSTALL httpfs` once in DuckDB (it downloads the extension), or "
                             "copy the lake to a local folder") from exc
    where = f"{url.rstrip('/')}/{MANIFEST}"
    try:
        row = con.execute("SELECT content FROM read_text(?)", [where]).fetchone()
    except duckdb.Error as exc:
        raise LakeError(f"cannot read {where}: {exc}",
                        hint="check the URL and the DuckDB secret for that bucket "
                             "(CREATE PERSISTENT SECRET, docs/lake.md)") from exc
    if row is None:
        raise LakeError(f"{where} is empty", hint="write the lake again")
    return parse_manifest(row[0], where)
