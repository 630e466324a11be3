"""Writes loader results into the store: many small loads in one statement per table, provenance,
time sanity (inside the caller's transaction)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from . import coerce
from ._version import __version__
from .coerce import Dropped, domain_table
from .errors import LoaderError
from .loaders.base import Loader, LoadResult, Rows
from .store import CORE_TABLES, EVENT_COLUMNS, LOAD_COLUMNS, METRIC_COLUMNS, WARNING_COLUMNS

# A time before this, or more than a day after the file was last written, is damage, not a time.
TS_LOWER = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"
TS_SLACK = timedelta(days=1)
PROVENANCE = ("load_id", "system", "source", "source_path")


@dataclass
class FileOutcome:
    """What ingest did with one file (the writer fills in the row counts)."""

    path: str
    loader: str | None
    status: str  # loaded | replaced | unchanged | failed | needs_tz | unreadable | not_loaded
    load_id: str | None = None
    records_read: int = 0
    event_rows: int = 0
    metric_rows: int = 0
    table_rows: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    ts_min: str | None = None
    ts_max: str | None = None
    message: str | None = None
    seconds: float = 0.0


@dataclass
class Load:
    """One file's loader result on its way into the store."""

    load_id: str
    loader: Loader
    path: Path
    resolved: str
    sha: str
    size: int
    mtime: datetime
    zone: Any
    result: LoadResult
    started_at: datetime
    outcome: FileOutcome
    replaces: list[str] = field(default_factory=list)
    dropped: Dropped = field(default_factory=Dropped)

    @property
    def prefix(self) -> str:
        """Event ids: hash(loader, file sha256) + the record locator (+ event_key if several)."""
        return hashlib.sha256(f"{self.loader.name}|{self.sha}".encode()).hexdigest()[:16]

    @property
    def ts_upper(self) -> datetime:
        return self.mtime + TS_SLACK

    @property
    def in_memory(self) -> bool:
        """True when no part of the result is a DuckDB relation (then it can join a batch)."""
        r = self.result
        parts = [r.events, r.metrics, r.quarantine, *r.tables.values()]
        return not any(isinstance(part, duckdb.DuckDBPyRelation) for part in parts)

    def quarantine_rows(self) -> Rows:
        if isinstance(self.result.quarantine, list):
            return [asdict(q) for q in self.result.quarantine]
        return self.result.quarantine

    def rows(self, rows: Rows | None) -> list[dict[str, Any]] | duckdb.DuckDBPyRelation | None:
        if isinstance(rows, pa.Table):
            return rows.to_pylist()
        return rows


def drop_temp_objects(con: duckdb.DuckDBPyConnection) -> None:
    """Loaders may stage data in temp views and tables; they must not pile up across files."""
    for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE temporary").fetchall():
        con.execute(f'DROP VIEW IF EXISTS temp."{name}"')
    for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary"
    ).fetchall():
        con.execute(f'DROP TABLE IF EXISTS temp."{name}"')


def load_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT DISTINCT c.table_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_schema, table_name) "
        "WHERE c.column_name = 'load_id' AND t.table_type = 'BASE TABLE' "
        "AND c.table_name <> '_loads'"
    ).fetchall()
    return [r[0] for r in rows]


def delete_loads(con: duckdb.DuckDBPyConnection, load_ids: list[str]) -> None:
    if not load_ids:
        return
    for table in load_tables(con):
        con.execute(f'DELETE FROM "{table}" WHERE load_id IN (SELECT unnest(?))', [load_ids])
    con.execute("DELETE FROM _loads WHERE load_id IN (SELECT unnest(?))", [load_ids])


def write_loads(con: duckdb.DuckDBPyConnection, loads: list[Load]) -> None:
    """Write loads (all in memory, or one relation-backed load) with one INSERT per table."""
    delete_loads(con, [old for load in loads for old in load.replaces])
    if all(load.in_memory for load in loads):
        _write_in_memory(con, loads)
    else:
        assert len(loads) == 1, "a relation-backed load is written on its own"
        _write_relations(con, loads[0])
    for load in loads:
        for table, rows in load.result.tables.items():
            load.outcome.table_rows[table] = _insert_domain(con, table, rows, load)
    _finish(con, loads)


# ---- in-memory loads: one Arrow stage per table for the whole batch ----------------------------


def _write_in_memory(con: duckdb.DuckDBPyConnection, loads: list[Load]) -> None:
    for table, columns, part, counter in (
        ("events", EVENT_COLUMNS, "events", "event_rows"),
        ("metrics", METRIC_COLUMNS, "metrics", "metric_rows"),
        ("_load_warnings", WARNING_COLUMNS, "quarantine", "quarantined"),
    ):
        batch: list[tuple[Load, list[dict[str, Any]]]] = []
        for load in loads:
            rows = load.quarantine_rows() if part == "quarantine" else load.rows(
                getattr(load.result, part))
            setattr(load.outcome, counter, len(rows) if rows else 0)
            if rows:
                batch.append((load, rows))  # type: ignore[arg-type]
        if batch:
            stage = f"_stage_{table.strip('_')}"
            con.register(stage, _arrow(batch, columns))
            present = {name for name, _ in columns} | {"event_key", "_prefix", "_ts_upper"}
            order = " ORDER BY _batch_index, ts NULLS LAST, record_no" if table == "events" else ""
            _insert_select(con, table, columns, stage, present, {}, order)
            con.unregister(stage)


def _arrow(batch: list[tuple[Load, list[dict[str, Any]]]], columns: list[tuple[str, str]]
           ) -> pa.Table:
    """The rows of several loads as one Arrow table of every column: provenance filled in, cells
    coerced to their column types (what a column cannot hold is counted against its load)."""
    rows = [row for _, load_rows in batch for row in load_rows]
    owners = [load.dropped for load, load_rows in batch for _ in load_rows]
    record_nos = [row.get("record_no") for row in rows]

    def repeated(value: Any) -> list[Any]:
        return [value(load) for load, load_rows in batch for _ in load_rows]

    constants = {"load_id": lambda load: load.load_id, "system": lambda load: load.loader.system,
                 "source": lambda load: load.loader.source,
                 "source_path": lambda load: load.resolved}
    names, arrays = [], []
    for name, kind in columns:
        values = [row.get(name) for row in rows]
        if name in constants:
            values = [given if given is not None else default
                      for given, default in zip(values, repeated(constants[name]), strict=True)]
        names.append(name)
        arrays.append(coerce.column(name, kind, values, record_nos, owners))
    extra = {
        "event_key": coerce.column("event_key", "VARCHAR", [row.get("event_key") for row in rows],
                                   record_nos, owners),
        "_prefix": pa.array(repeated(lambda load: load.prefix), pa.string()),
        "_ts_upper": pa.array(repeated(lambda load: load.ts_upper), pa.timestamp("us", tz="UTC")),
        "_batch_index": pa.array([i for i, (_, r) in enumerate(batch) for _ in r], pa.int64()),
    }
    return pa.Table.from_arrays(arrays + list(extra.values()), names=names + list(extra))


# ---- relation-backed loads: SQL over the loader's own relation ---------------------------------


def _write_relations(con: duckdb.DuckDBPyConnection, load: Load) -> None:
    constants = {
        "load_id": _lit(load.load_id), "system": _lit(load.loader.system),
        "source": _lit(load.loader.source), "source_path": _lit(load.resolved),
        "_prefix": _lit(load.prefix), "_ts_upper": f"TIMESTAMPTZ '{load.ts_upper.isoformat()}'",
    }
    result = load.result
    for table, columns, part, counter in (
        ("events", EVENT_COLUMNS, "events", "event_rows"),
        ("metrics", METRIC_COLUMNS, "metrics", "metric_rows"),
        ("_load_warnings", WARNING_COLUMNS, "quarantine", "quarantined"),
    ):
        if part == "quarantine" and result.settle is not None:
            result.records_read, result.quarantine = result.settle(load.outcome.event_rows)
        rows = load.quarantine_rows() if part == "quarantine" else load.rows(getattr(result, part))
        if rows is None or (isinstance(rows, list) and not rows):
            continue
        stage = f"_stage_{table.strip('_')}"
        if isinstance(rows, duckdb.DuckDBPyRelation):
            # A temp view: the relation may read a Python object (a loader's Arrow stream).
            con.register(stage, rows)
            present = set(rows.columns)
        else:
            table_rows = _arrow([(load, rows)], columns)
            con.register(stage, table_rows)
            present = set(table_rows.column_names)
        # Big files: DuckDB writes in parallel. Rows keep roughly file order (append logs are
        # nearly time-ordered), which keeps the ts zone maps selective without a full sort.
        # If the insert fails, the transaction refuses every statement, a RESET included: ingest
        # resets the setting after its rollback, so the insert's own error surfaces.
        con.execute("SET preserve_insertion_order = false")
        count = _insert_select(con, table, columns, stage, present, constants, "")
        con.execute("RESET preserve_insertion_order")
        setattr(load.outcome, counter, count)
        con.unregister(stage)


# ---- shared SQL --------------------------------------------------------------------------------


def _insert_select(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: list[tuple[str, str]],
    stage: str,
    present: set[str],
    constants: dict[str, str],
    order: str,
) -> int:
    """INSERT ... SELECT from a stage: absent or NULL columns take their defaults; `constants`
    give load-level values as SQL (otherwise the stage carries them as columns)."""

    def value(name: str, typ: str = "VARCHAR") -> str:
        if name in present:
            return f'CAST("{name}" AS {typ})'
        return constants.get(name, "NULL")

    upper = constants.get("_ts_upper", '"_ts_upper"')
    ts = f"(CASE WHEN {value('ts', 'TIMESTAMPTZ')} > {TS_LOWER} AND " \
         f"{value('ts', 'TIMESTAMPTZ')} <= {upper} THEN {value('ts', 'TIMESTAMPTZ')} END)"
    exprs = []
    for name, typ in columns:
        if name in PROVENANCE:
            expr = f"coalesce({value(name)}, {constants.get(name, 'NULL')})" \
                if name in present and name in constants else value(name)
        elif name == "event_id":
            locator = f"coalesce({value('record_no')}, '?')"
            if "event_key" in present:
                locator += " || coalesce(':' || CAST(\"event_key\" AS VARCHAR), '')"
            prefix = constants.get("_prefix", '"_prefix"')
            expr = f"coalesce({value('event_id')}, {prefix} || ':' || {locator})"
        elif name == "ts":
            expr = ts
        elif name == "ts_quality":
            expr = f"CASE WHEN {ts} IS NULL THEN 'missing' ELSE coalesce({value(name)}, 'exact') END"
        elif name == "severity":
            expr = f"coalesce({value(name)}, 'info')"
        elif name == "is_mirror":
            expr = f"coalesce({value(name, typ)}, false)"
        else:
            expr = value(name, typ)
        exprs.append(f'{expr} AS "{name}"')
    names = ", ".join(f'"{c}"' for c, _ in columns)
    sql = f'INSERT INTO "{table}" ({names}) SELECT {", ".join(exprs)} FROM {stage}{order}'
    count = con.execute(sql).fetchall()
    return int(count[0][0]) if count else 0


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _insert_domain(con: duckdb.DuckDBPyConnection, table: str, rows: Rows, load: Load) -> int:
    if table in CORE_TABLES or table.startswith("_") or not table.replace("_", "").isalnum():
        raise LoaderError(load.resolved, f"domain table name {table!r} is reserved or invalid")
    if isinstance(rows, list):
        if not rows:
            return 0
        keys: dict[str, None] = {}
        for row in rows:
            keys.update(dict.fromkeys(row))
        rows = domain_table(rows, list(keys))
    stage = "_stage_domain"
    if isinstance(rows, duckdb.DuckDBPyRelation):
        rows.to_view(stage, replace=True)
    else:
        con.register(stage, rows)
    provenance = f"{_lit(load.load_id)} AS load_id, {_lit(load.resolved)} AS source_path"
    con.execute(f'CREATE TABLE IF NOT EXISTS "{table}" AS SELECT {provenance}, * FROM {stage} LIMIT 0')
    existing = {r[0]: r[1] for r in con.execute(f'DESCRIBE "{table}"').fetchall()}
    untyped = set() if not isinstance(rows, pa.Table) else {
        f.name for f in rows.schema if pa.types.is_null(f.type)}
    for name, typ, *_ in con.execute(f"DESCRIBE {stage}").fetchall():
        if name not in existing:
            con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {typ}')
        elif typ != existing[name] and name not in untyped:
            wider = _wider(existing[name], typ)
            if wider != existing[name]:  # files disagree on a column: widen it, never cast values
                con.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{name}" TYPE {wider}')
    count = con.execute(
        f'INSERT INTO "{table}" BY NAME SELECT {provenance}, * FROM {stage}'
    ).fetchone()
    try:
        con.unregister(stage)
    except Exception:
        con.execute(f"DROP VIEW IF EXISTS {stage}")
    return int(count[0]) if count else 0


_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT"}


def _wider(current: str, incoming: str) -> str:
    """The column type that holds both: integers widen to DOUBLE for DOUBLE, anything else to text."""
    if current in _INTEGERS and incoming in _INTEGERS:
        return "BIGINT"
    if {current, incoming} <= _INTEGERS | {"DOUBLE"}:
        return "DOUBLE"
    return "VARCHAR"


# ---- provenance ---------------------------------------------------------------------------------


def _finish(con: duckdb.DuckDBPyConnection, loads: list[Load]) -> None:
    """Check each load's accounting, gather its time range and facts, write its _loads row."""
    ids = [load.load_id for load in loads]
    # Time range first (no text column read); the rows without a usable time only when some are.
    ranges = {row[0]: row[1:] for row in con.execute(
        "SELECT load_id, min(ts), max(ts), count(*) FILTER (WHERE ts IS NULL) "
        "FROM events WHERE load_id IN (SELECT unnest(?)) GROUP BY load_id", [ids]).fetchall()}
    untimed = [load_id for load_id, (*_, nulls) in ranges.items() if nulls]
    unusable = {row[0]: row[1:] for row in con.execute(
        "SELECT load_id, count(*), min(record_no), arg_min(ts_raw, record_no) FROM events "
        "WHERE load_id IN (SELECT unnest(?)) AND ts IS NULL AND ts_raw IS NOT NULL "
        "GROUP BY load_id", [untimed]).fetchall()} if untimed else {}
    rows = []
    for load in loads:
        result, outcome = load.result, load.outcome
        loaded = (result.records_loaded if result.records_loaded is not None
                  else result.records_read - outcome.quarantined)
        if loaded + outcome.quarantined != result.records_read:
            raise LoaderError(
                load.resolved,
                f"loader {load.loader.name} read {result.records_read} records but accounted for "
                f"{loaded} loaded + {outcome.quarantined} quarantined",
                hint="this is a bug in the loader; please report it with the file",
            )
        outcome.records_read = result.records_read
        low, high, _ = ranges.get(load.load_id, (None, None, 0))
        count, first_no, first_raw = unusable.get(load.load_id, (0, None, None))
        outcome.ts_min = low.isoformat() if low else None
        outcome.ts_max = high.isoformat() if high else None
        facts = dict(result.facts)
        if load.dropped.counts:
            facts["values_not_stored"] = load.dropped.as_fact()
        if count:
            facts["times_not_usable"] = {
                "count": count, "record_no": first_no, "value": str(first_raw)[:200],
                "reason": "not a time, or outside 1970 .. the file's mtime + 1 day; kept in ts_raw",
            }
        rows.append(_load_row(load, loaded, low, high, facts, "ok"))
    insert_load_rows(con, rows)


def _load_row(load: Load, loaded: int, low: Any, high: Any, facts: dict[str, Any],
              status: str) -> dict[str, Any]:
    outcome = load.outcome
    return {
        "load_id": load.load_id, "loader": load.loader.name, "loader_version": load.loader.version,
        "toolkit_version": __version__, "system": load.loader.system, "path": load.resolved,
        "sha256": load.sha, "size_bytes": load.size, "mtime": load.mtime,
        "tz": load.zone.key if load.zone else None, "started_at": load.started_at,
        "finished_at": datetime.now(UTC), "records_read": load.result.records_read,
        "records_loaded": loaded, "quarantined": outcome.quarantined,
        "event_rows": outcome.event_rows, "metric_rows": outcome.metric_rows,
        "table_rows": json.dumps(outcome.table_rows), "ts_min": low, "ts_max": high,
        "facts": coerce.json_text(facts), "status": status,
    }


def failed_load_row(load: Load, message: str) -> dict[str, Any]:
    """The _loads row of a file that could not be loaded: nothing else of it is in the store."""
    load.outcome.event_rows = load.outcome.metric_rows = load.outcome.quarantined = 0
    status = "needs_tz" if load.outcome.status == "needs_tz" else "failed"
    row = _load_row(load, 0, None, None, {"error": message}, status)
    row["records_read"] = 0
    return row


def insert_load_rows(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """A few _loads rows go in as parameters (no Arrow, so a relation-only ingest never pays
    pyarrow's first-use import of pandas, about a second); a batch's many rows as one Arrow table
    (binding parameters costs ~0.3 ms a row)."""
    names = [name for name, _ in LOAD_COLUMNS]
    if len(rows) <= 20:
        for row in rows:
            con.execute(f"INSERT INTO _loads VALUES ({', '.join('?' * len(names))})",
                        [row[name] for name in names])
        return
    types = {"VARCHAR PRIMARY KEY": "VARCHAR"}
    arrays = [coerce.column(name, types.get(kind, kind), [r[name] for r in rows],
                            [None] * len(rows), Dropped()) for name, kind in LOAD_COLUMNS]
    con.register("_stage_loads", pa.Table.from_arrays(arrays, names=names))
    con.execute("INSERT INTO _loads SELECT * FROM _stage_loads")
    con.unregister("_stage_loads")
