"""`lake write` and `lake info`, and the `--db | --lake DIR --engine` choice of replay, alerts
and timeline."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import wraps
from typing import Any

import click

from ..errors import UsageError
from .output import console, err_console, handle_errors, human_duration, print_json, print_table
from .scope_options import JSON_OPTION

ENGINE_CHOICES = ["duckdb", "spark"]


@dataclass(frozen=True)
class Source:
    """Where a question is asked: one incident database, or a lake on an engine."""

    db: str | None = None
    lake: str | None = None
    engine: str = "duckdb"
    spark_master: str | None = None

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        """A read-only connection the analyses accept, closed afterwards."""
        if self.lake is None:
            from .. import store

            con: Any = store.connect(self.db or "", read_only=True)
        else:
            from .. import lake

            con = lake.connect(self.lake, engine=self.engine, spark_master=self.spark_master)
        try:
            yield con
        finally:
            close = getattr(con, "close", None)
            if close is not None:
                close()

    def parts(self, con: Any) -> Any:
        """A lake's batches of whole streams (lake/batches.py) for replay on `con`, each
        announced on stderr as it starts; None for a database (or Spark: one run, the cluster
        splits it)."""
        if self.lake is None:
            return None
        from ..lake import batches

        def say(number: int, total: int, events: int) -> None:
            err_console.print(f"replay: batch {number}/{total} ({events:,} events)", highlight=False)

        return batches.parts(con, progress=say)

    def to_dict(self) -> dict[str, Any]:
        """The `source` key of a lake command's --json (absent on the database path)."""
        return {"lake": self.lake, "engine": self.engine}

    def json_extra(self) -> dict[str, Any]:
        return {} if self.lake is None else {"source": self.to_dict()}


_OPTIONS = (
    # The same help as every other --db (tests/test_cli_vocabulary.py); --lake says the rest.
    click.option("--db", type=click.Path(dir_okay=False), help="DuckDB file of the incident."),
    click.option("--lake", type=click.Path(), metavar="DIR",
                 help="Ask a Parquet lake written by `incidentlab lake write` instead of --db."),
    click.option("--engine", type=click.Choice(ENGINE_CHOICES), default="duckdb", show_default=True,
                 help="With --lake: the engine that runs the queries."),
    click.option("--spark-master", metavar="URL",
                 help="With --engine spark: the Spark master (default: local mode, or the Spark "
                      "environment)."),
)


def source_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--db, or --lake with --engine and --spark-master; the command receives one `source`.

    Put it below `handle_errors`, so a wrong combination is reported as a usage error.
    """

    @wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        db, lake = kwargs.pop("db"), kwargs.pop("lake")
        engine, master = kwargs.pop("engine"), kwargs.pop("spark_master")
        if db and lake:
            raise UsageError("give --db or --lake, not both",
                             hint="--db asks one incident database, --lake a lake of many")
        if not db and not lake:
            raise UsageError("give --db DB (an incident database) or --lake DIR (a Parquet lake)",
                             hint="`incidentlab ingest` makes a database, `incidentlab lake write` a lake")
        if db and (engine != "duckdb" or master):
            raise UsageError("--engine and --spark-master go with --lake",
                             hint="a database file is always read by DuckDB")
        if master and engine != "spark":
            raise UsageError("--spark-master goes with --engine spark", hint="add --engine spark")
        kwargs["source"] = Source(db=db, lake=lake, engine=engine, spark_master=master)
        return command(**kwargs)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


@click.group("lake")
def lake_group() -> None:
    """Many incidents in one Hive-partitioned Parquet lake, for DuckDB or Apache Spark
    (docs/lake.md)."""


@lake_group.command("write")
@click.option("--db", required=True, type=click.Path(dir_okay=False),
              help="DuckDB file of the incident to append.")
@click.option("--out", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="The lake folder (created when new; an existing lake is appended to).")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
@JSON_OPTION
@handle_errors
def lake_write_command(db: str, out: str, quiet: bool, as_json: bool) -> None:
    """Append an incident database to a lake: every table as Parquet, events and metrics
    partitioned by system and UTC date.

    Loads already in the lake (same loader and sha256 of the file) are skipped and reported, so
    appending the same database twice adds nothing. The append is atomic: a crash leaves the lake
    as it was (the next write rolls the unfinished one back).
    """
    from ..lake.write import write_lake

    def say(line: str) -> None:
        err_console.print(line, highlight=False, soft_wrap=True)

    result = write_lake(db, out, progress=None if quiet else say)
    if as_json:
        print_json(result.to_dict())
        return
    if result.rows:
        print_table([{"table": t, "rows": f"{n:,}", "files": result.files[t]}
                     for t, n in result.rows.items()], ["table", "rows", "files"],
                    title=f"Appended to {out} (batch {result.batch})")
    console.print(f"{len(result.loads_added)} load(s) added, {len(result.loads_skipped)} skipped "
                  f"(already in the lake)", highlight=False)
    for load in result.loads_skipped[:10]:
        console.print(f"  skipped {load['loader']} {load['path']}: {load['reason']}", highlight=False,
                      soft_wrap=True)
    if len(result.loads_skipped) > 10:
        console.print(f"  ... and {len(result.loads_skipped) - 10} more (--json lists them)",
                      highlight=False)


@lake_group.command("info")
@click.argument("directory", type=click.Path(file_okay=False), metavar="DIR")
@JSON_OPTION
@handle_errors
def lake_info_command(directory: str, as_json: bool) -> None:
    """Summarize a lake: tables, rows, partitions, systems, time range, loads, size on disk."""
    from ..lake.info import lake_info

    info = lake_info(directory)
    if as_json:
        print_json(info)
        return
    print_table([{**t, "size": _size(t["bytes"]),
                  "time range": f"{t['ts_min']} .. {t['ts_max']}" if t["ts_min"] else ""}
                 for t in info["tables"]],
                ["table", "rows", "files", "partitions", "size", "time range"],
                title=f"Lake {info['lake']} (schema {info['schema_version']}, "
                      f"{_size(info['bytes'])} on disk)")
    print_table(info["systems"], ["system", "loads", "events", "metrics"], title="Systems")
    span = ""
    if info["ts_min"]:
        from datetime import datetime

        seconds = (datetime.fromisoformat(info["ts_max"])
                   - datetime.fromisoformat(info["ts_min"])).total_seconds()
        span = f" ({human_duration(seconds)})"
    console.print(f"events from {info['ts_min'] or 'not determined'} to "
                  f"{info['ts_max'] or 'not determined'}{span}; {info['loads']} load(s) "
                  f"({info['failed_loads']} failed) from {len(info['databases'])} database(s)",
                  highlight=False)
    for entry in info["databases"]:
        console.print(f"  {entry['appended_at']} {entry['batch']}: {entry['path']} "
                      f"({entry['loads_added']} load(s) added, {entry['loads_skipped']} skipped)",
                      highlight=False, soft_wrap=True)
    if info["missing_files"]:
        console.print(f"[red]{len(info['missing_files'])} file(s) the manifest lists are missing[/red], "
                      f"e.g. {info['missing_files'][0]}", highlight=False)
    if info["stream_index"]["appends_without"]:
        console.print(f"{len(info['stream_index']['appends_without'])} append(s) predate the stream "
                      "index: replay plans its batches by scanning the events' streams",
                      highlight=False)
    if info["unfinished_append"]:
        console.print("an unfinished append is staged (a write died); the next `lake write` rolls "
                      "it back", highlight=False)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TiB"


COMMANDS = [lake_group]
