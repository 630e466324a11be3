"""Replay and alert rules on the demo incident: DuckDB on the file, DuckDB over its lake, Spark
(local[2]) over its lake with the default and the small-data settings; first and best runs.

Builds the demo database (no reports), writes its lake, and prints the table of docs/spark.md.
The results themselves are compared row for row by tests/test_lake_spark.py.
Usage: python benchmarks/spark_demo.py [--runs 3] [--spark-runs 2] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from incidentlab.analysis.metrics import evaluate_rules
from incidentlab.analysis.replay import check
from incidentlab.demo.run import run_demo
from incidentlab.lake import duckdb_engine
from incidentlab.lake import spark as lake_spark
from incidentlab.lake.write import append
from incidentlab.store import connect


def runs(func: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        func()
        out.append(time.perf_counter() - started)
    return out


def row(name: str, con: Any, n: int) -> str:
    replay, alerts = runs(lambda: check(con), n), runs(lambda: evaluate_rules(con), n)
    return (f"| {name} | {replay[0]:.2f} s first, {min(replay):.2f} s best | "
            f"{alerts[0]:.2f} s first, {min(alerts):.2f} s best |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--spark-runs", type=int, default=2)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="il-spark-demo-", dir=args.workdir))
    db = run_demo(work / "demo", render=False).db
    lake = work / "lake"
    with connect(db, read_only=True) as con:
        append(con, lake, source=str(db))
    rows = []
    with connect(db, read_only=True) as con:
        rows.append(row("DuckDB, database file", con, args.runs))
    con = duckdb_engine.connect(lake)
    rows.append(row("DuckDB over the lake", con, args.runs))
    con.close()
    started = time.perf_counter()
    con = lake_spark.connect(lake)
    print(f"Spark start-up {time.perf_counter() - started:.1f} s")
    rows.append(row("Spark `local[2]`, default settings", con, args.spark_runs))
    con.close()
    con = lake_spark.connect(lake, conf=lake_spark.SMALL_DATA_CONFIG, cache=True)
    rows.append(row("Spark `local[2]`, `SMALL_DATA_CONFIG`, `cache=True`", con, args.spark_runs))
    con.close()
    print("\n| engine | replay | alerts |\n| --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
