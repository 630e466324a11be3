"""Apache Spark over the lake: a connection the analyses use in place of DuckDB's, every statement
transpiled from DuckDB SQL by SQLGlot (transpile.py); docs/spark.md.

What the analyses call, and what it does here:

| DuckDB call | on Spark |
| --- | --- |
| `execute(sql, params).fetchall() / fetchone() / description` | transpiled, run, rows via Arrow |
| `sql(sql, params=...).to_arrow_table() / .pl() / .df()` | the same, as a lazy relation |
| `CREATE [OR REPLACE] TEMP TABLE t AS q` | `q` materialized (local checkpoint) as temp view `t` |
| `DROP TABLE [IF EXISTS] t` | temp view dropped (its rows freed once unreferenced) |
| `SET x = v`, `current_setting('x')` | remembered, no effect (DuckDB-only settings) |
| `register(name, arrow / polars / pandas)`, `unregister` | a temp view of that data |

The lake's tables are temp views named as in the database (events, metrics, _loads, ...) with
the manifest's columns and types (the Hive partition columns p_system/p_date are not in them),
and `timeline_events` as store.py defines it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from ..errors import IncidentLabError
from ..store import SCHEMA_VERSION
from . import transpile
from .manifest import Manifest, is_url, read_manifest

INSTALL_HINT = ("install a JDK 17+ (Debian: apt-get install default-jre-headless) and "
                "`pip install 'incidentlab[spark]'`")
DEFAULT_MASTER = "local[2]"
# Local mode on a laptop or CI runner: few shuffle partitions (Spark's 200 are for a cluster).
LOCAL_CONFIG = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.log.structuredLogging.enabled": "false",
}
# For small lakes (tests, one incident): per-query overhead dominates, not the scan. Adaptive
# execution re-plans every stage and whole-stage code generation compiles every new query;
# both cost seconds per statement at a few thousand rows (measured on the demo lake, docs/spark.md).
SMALL_DATA_CONFIG = {
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
}
# DuckDB type (as the manifest lists it) -> Spark SQL type.
SPARK_TYPES = {"VARCHAR": "STRING", "JSON": "STRING", "BIGINT": "BIGINT", "INTEGER": "INT",
               "DOUBLE": "DOUBLE", "BOOLEAN": "BOOLEAN", "TIMESTAMPTZ": "TIMESTAMP",
               "TIMESTAMP WITH TIME ZONE": "TIMESTAMP", "TIMESTAMP": "TIMESTAMP_NTZ",
               "DATE": "DATE", "FLOAT": "FLOAT", "SMALLINT": "SMALLINT", "TINYINT": "TINYINT",
               "HUGEINT": "DECIMAL(38, 0)", "UBIGINT": "DECIMAL(20, 0)", "BLOB": "BINARY"}


class SparkUnavailableError(IncidentLabError):
    """pyspark or a Java runtime is missing, or the Spark session would not start."""


class SparkSQLError(duckdb.Error):
    """A statement Spark refused or failed. A duckdb.Error on purpose: the analyses' error
    handling (naming the alert rule whose SQL failed) works unchanged."""


def java_problem() -> str | None:
    """Why Java cannot run Spark here (None when it can)."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        return "no Java runtime found (java is not on PATH and JAVA_HOME is not set)"
    try:
        probe = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{java} does not run: {exc}"
    text = probe.stderr + probe.stdout
    version = _java_major(text)
    if version is not None and version < 17:
        return f"{java} is Java {version}; Spark 4 needs 17 or newer"
    return None


def _java_major(text: str) -> int | None:
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def session(master: str | None = None, conf: dict[str, str] | None = None) -> Any:
    """The process's SparkSession (getOrCreate: one per process, reused by every connection).

    `master`, else SPARK_MASTER, else the master PYSPARK_SUBMIT_ARGS names, else local[2]. A
    local master gets the small-machine settings (LOCAL_CONFIG); a cluster keeps its own
    defaults except the UTC session time zone and Arrow, which results depend on. `conf`:
    more Spark settings (SQL settings also apply to a session that is already running).
    """
    try:
        with warnings.catch_warnings():
            # pyspark warns that it does not list pandas 3 as supported; nothing here uses pandas.
            warnings.simplefilter("ignore", FutureWarning)
            from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailableError("the Spark engine needs pyspark, which is not installed",
                                    hint=INSTALL_HINT) from exc
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        _configure(active, conf)
        return active
    problem = java_problem()
    if problem is not None:
        raise SparkUnavailableError(f"the Spark engine cannot start: {problem}", hint=INSTALL_HINT)
    chosen = master or os.environ.get("SPARK_MASTER") or _submit_master() or DEFAULT_MASTER
    builder = SparkSession.builder.appName("incidentlab").master(chosen)
    local = chosen.startswith("local")
    for key, value in LOCAL_CONFIG.items():
        if local or key in ("spark.sql.session.timeZone", "spark.sql.execution.arrow.pyspark.enabled"):
            builder = builder.config(key, value)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # py4j / JVM start-up failures have no common type
        raise SparkUnavailableError(f"the Spark session did not start: {str(exc).splitlines()[0]}",
                                    hint=INSTALL_HINT) from exc
    spark.sparkContext.setLogLevel(os.environ.get("INCIDENTLAB_SPARK_LOG", "OFF"))
    _configure(spark, conf)
    return spark


def _configure(spark: Any, conf: dict[str, str] | None) -> None:
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    for key, value in (conf or {}).items():
        if key.startswith("spark.sql."):
            spark.conf.set(key, value)


def _submit_master() -> str | None:
    args = os.environ.get("PYSPARK_SUBMIT_ARGS", "").split()
    for i, arg in enumerate(args):
        if arg == "--master" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--master="):
            return arg.split("=", 1)[1]
    return None


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _spark_type(duckdb_type: str) -> str:
    typ = duckdb_type.strip().upper()
    if typ.endswith("[]"):
        return f"ARRAY<{_spark_type(typ[:-2])}>"
    if typ.startswith("DECIMAL"):
        return typ
    if typ.startswith("VARCHAR"):
        return "STRING"
    if typ not in SPARK_TYPES:
        raise SparkUnavailableError(f"the lake has a column of type {duckdb_type}, which the Spark "
                                    "engine does not map", hint="add it to SPARK_TYPES in lake/spark.py")
    return SPARK_TYPES[typ]


class Relation:
    """What `con.sql()` returns: the Spark DataFrame of one query, read when asked for."""

    def __init__(self, frame: Any) -> None:
        self._frame = frame
        self._table: pa.Table | None = None

    def to_arrow_table(self) -> pa.Table:
        if self._table is None:
            try:
                self._table = _arrow(self._frame)
            except Exception as exc:
                raise _error(exc) from exc
        return self._table

    arrow = fetch_arrow_table = to_arrow_table

    @property
    def columns(self) -> list[str]:
        return list(self._frame.columns)

    def pl(self) -> pl.DataFrame:
        out = pl.from_arrow(self.to_arrow_table())
        assert isinstance(out, pl.DataFrame)
        return out

    def df(self) -> Any:
        return self.to_arrow_table().to_pandas()

    fetchdf = df

    def fetchall(self) -> list[tuple[Any, ...]]:
        table = self.to_arrow_table()
        return list(zip(*(column.to_pylist() for column in table.columns), strict=True)) \
            if table.num_columns else []

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self.fetchall()
        return rows[0] if rows else None

    @property
    def description(self) -> list[tuple[Any, ...]]:
        return [(f.name, str(f.type), None, None, None, None, None) for f in self.to_arrow_table().schema]


def _arrow(frame: Any) -> pa.Table:
    """The rows as Arrow with plain field metadata (Spark adds its own per field)."""
    table = frame.toArrow()
    fields = [pa.field(f.name, f.type, f.nullable) for f in table.schema]
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields))


def _error(exc: Exception) -> Exception:
    if isinstance(exc, duckdb.Error | IncidentLabError):
        return exc
    first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return SparkSQLError(f"Spark: {first}")


class SparkConnection:
    """A DuckDB-connection-like object over one lake, on the process's Spark session.

    Only what incidentlab.analysis calls is here (the module docstring has the table); every
    statement goes through transpile.statements.
    """

    def __init__(self, spark: Any, location: str, manifest: Manifest) -> None:
        self.spark, self.location, self.manifest = spark, location, manifest
        self.settings: dict[str, Any] = {}
        self._temp: dict[str, Any] = {}  # temp table / registered name -> its DataFrame
        self._views: list[str] = []
        self._last: Relation | None = None
        self.closed = False
        for table in manifest.tables:
            self._view(table, self._table_frame(table))
        self._view("timeline_events", spark.sql("SELECT * FROM events WHERE NOT is_mirror"))
        self._view("_meta", spark.sql(
            f"SELECT * FROM VALUES ('schema_version', '{SCHEMA_VERSION}') AS t(key, value)"))

    # --- setup --------------------------------------------------------------------------------

    def _view(self, name: str, frame: Any) -> None:
        frame.createOrReplaceTempView(name)
        self._views.append(name)

    def _table_frame(self, table: str) -> Any:
        """The manifest's files of the table (only those: a crashed append's leftovers are not
        read), its columns in order with their types; files missing a column give NULLs."""
        from pyspark.sql import functions as F

        columns = [(name, _spark_type(typ)) for name, typ in self.manifest.columns(table)]
        files = [f"{self.location.rstrip('/')}/{path}" for path in self.manifest.files(table)]
        if not files:
            empty = ", ".join(f"CAST(NULL AS {typ}) AS {_quote(name)}" for name, typ in columns)
            return self.spark.sql(f"SELECT {empty} WHERE false")
        # File paths, not the folder: no partition discovery, so p_system/p_date stay out.
        frame = self.spark.read.option("mergeSchema", "true").parquet(*files)
        present = set(frame.columns)
        return frame.select(*[
            (F.col(_quote(name)).cast(typ) if name in present else F.lit(None).cast(typ)).alias(name)
            for name, typ in columns])

    # --- the DuckDB surface -------------------------------------------------------------------

    def execute(self, sql: str, params: Any = None) -> SparkConnection:
        """Run every statement; the last query's rows are what fetchall() returns."""
        self._check_open()
        self._last = self._run(sql, params, eager=True)
        return self

    def sql(self, sql: str, params: Any = None) -> Relation | None:
        self._check_open()
        return self._run(sql, params, eager=False)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._last.fetchall() if self._last is not None else []

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._last.fetchone() if self._last is not None else None

    def pl(self) -> pl.DataFrame:
        return self._last.pl() if self._last is not None else pl.DataFrame()

    def df(self) -> Any:
        return self._last.df() if self._last is not None else None

    fetchdf = df

    def arrow(self) -> pa.Table | None:
        return self._last.to_arrow_table() if self._last is not None else None

    fetch_arrow_table = arrow

    @property
    def description(self) -> list[tuple[Any, ...]] | None:
        return self._last.description if self._last is not None else None

    def register(self, name: str, data: Any) -> SparkConnection:
        """A temp view of in-memory rows (pyarrow Table, polars or pandas DataFrame)."""
        self._check_open()
        if isinstance(data, pl.DataFrame):
            data = data.to_arrow()
        frame = self._from_arrow(data) if isinstance(data, pa.Table) else self.spark.createDataFrame(data)
        self._drop(name)
        frame.createOrReplaceTempView(name)
        self._temp[name] = frame
        return self

    def unregister(self, name: str) -> SparkConnection:
        self._drop(name)
        return self

    def close(self) -> None:
        """Drop this connection's temp views and caches; the session stays for the next one."""
        if self.closed:
            return
        for name in list(self._temp):
            self._drop(name)
        for name in self._views:
            if self.spark.catalog.isCached(name):
                self.spark.catalog.uncacheTable(name)
            self.spark.catalog.dropTempView(name)
        self.closed = True

    def __enter__(self) -> SparkConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise SparkSQLError("the Spark lake connection is closed")

    def _from_arrow(self, table: pa.Table) -> Any:
        # Arrow strings straight into Spark; an empty table needs its schema spelled out.
        plain = pa.Table.from_arrays(
            [c.cast(pa.string()) if pa.types.is_large_string(c.type) else c for c in table.columns],
            names=table.column_names)
        if plain.num_rows == 0:
            types = {pa.string(): "STRING", pa.int64(): "BIGINT", pa.float64(): "DOUBLE",
                     pa.bool_(): "BOOLEAN"}
            cols = ", ".join(f"CAST(NULL AS {types.get(f.type, 'STRING')}) AS {_quote(f.name)}"
                             for f in plain.schema)
            return self.spark.sql(f"SELECT {cols} WHERE false")
        return self.spark.createDataFrame(plain)

    def _drop(self, name: str) -> None:
        frame = self._temp.pop(name, None)
        if frame is not None:
            frame.unpersist()
        self.spark.catalog.dropTempView(name)

    def _run(self, sql: str, params: Any, *, eager: bool) -> Relation | None:
        result: Relation | None = None
        for statement in transpile.statements(sql, params, self.settings):
            result = None
            try:
                if statement.kind == "query":
                    result = Relation(self.spark.sql(statement.sql))
                    if eager:
                        result.to_arrow_table()
                elif statement.kind == "create":
                    # Materialized now, its plan cut off: a later query over the table plans
                    # against its rows, not the whole query that made them (plans of queries
                    # over several such tables otherwise grow until the driver runs out of heap).
                    frame = self.spark.sql(statement.sql).localCheckpoint(eager=True)
                    self._drop(statement.name)
                    frame.createOrReplaceTempView(statement.name)
                    self._temp[statement.name] = frame
                elif statement.kind == "drop":
                    self._drop(statement.name)
                elif statement.kind == "set":
                    self.settings[statement.name] = statement.value
            except Exception as exc:
                raise _error(exc) from exc
        return result


def connect(directory: str | Path, master: str | None = None,
            conf: dict[str, str] | None = None, *, cache: bool = False) -> SparkConnection:
    """A Spark connection over the lake at `directory` (a local folder; for object storage give
    the same layout's URL and a Spark configured with its connector: docs/spark.md).

    `cache`: keep the lake's tables in Spark's memory once read (a small lake asked many
    questions: each analysis statement otherwise reads the Parquet files again)."""
    text = str(directory)
    if is_url(text):
        spark = session(master, conf)
        manifest = _remote_manifest(spark, text)
        location = text
    else:
        manifest = read_manifest(directory)
        location = Path(directory).resolve().as_uri()
        spark = session(master, conf)
    con = SparkConnection(spark, location, manifest)
    if cache:
        for table in manifest.tables:
            spark.catalog.cacheTable(table)
    return con


def _remote_manifest(spark: Any, url: str) -> Manifest:
    from .manifest import parse_manifest

    where = f"{url.rstrip('/')}/manifest.json"
    try:
        rows = spark.read.text(where, wholetext=True).collect()
    except Exception as exc:
        raise SparkUnavailableError(f"cannot read {where} through Spark: {str(exc).splitlines()[0]}",
                                    hint="configure the storage connector and credentials in Spark "
                                         "(docs/spark.md)") from exc
    return parse_manifest(rows[0][0] if rows else "", where)
