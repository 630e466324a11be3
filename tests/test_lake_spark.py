"""The analyses on Apache Spark over the lake equal DuckDB's on the database, row for row.

One local Spark session for the whole file (start-up costs seconds); lakes written by the real
lake writer from the demo incident and from the mixed multi-incident database. Each DuckDB
construct the transpiler rewrites is checked against DuckDB itself on one small table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from incidentlab.analysis import metrics, replay, timeline
from incidentlab.lake import transpile, write_lake
from incidentlab.lake.spark import SMALL_DATA_CONFIG, SparkConnection, java_problem
from incidentlab.scope import Scope
from incidentlab.store import connect as db_connect

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'incidentlab[spark]')")
if java_problem() is not None:
    pytest.skip(f"no Java for Spark: {java_problem()} (CI installs default-jre-headless)",
                allow_module_level=True)

from incidentlab.lake.spark import connect as spark_connect  # noqa: E402


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from incidentlab.demo.run import run_demo

    root = tmp_path_factory.mktemp("spark-demo")
    db = run_demo(root / "demo-out", render=False).db
    write_lake(db, root / "lake")
    return db, root / "lake"


@pytest.fixture(scope="module")
def mixed_lake(mixed: tuple[Any, Path, Path], tmp_path_factory: pytest.TempPathFactory):
    _con, db, rules = mixed
    lake = tmp_path_factory.mktemp("spark-mixed") / "lake"
    write_lake(db, lake)
    return db, lake, rules


def _pair(db: Path, lake: Path):
    """(DuckDB on the database, Spark on the lake): one session, the lake's tables cached."""
    return db_connect(db, read_only=True), spark_connect(lake, conf=SMALL_DATA_CONFIG, cache=True)


def _same(duck: pl.DataFrame, spark: pl.DataFrame, keys: list[str] | None = None) -> None:
    if keys is not None:
        duck, spark = duck.sort(keys, nulls_last=True), spark.sort(keys, nulls_last=True)
    assert_frame_equal(duck, spark, check_dtypes=True)


def _same_replay(a: replay.ReplayReport, b: replay.ReplayReport) -> None:
    _same(a.violations, b.violations, list(replay.VIOLATION_COLUMNS))
    _same(a.verdicts, b.verdicts, ["stream", "system"])
    _same(a.codingbuddy, b.codingbuddy, ["session_id"])


def test_demo_replay_alerts_and_timeline_equal_duckdb(demo_lake: tuple[Path, Path]) -> None:
    db, lake = demo_lake
    duck, spark = _pair(db, lake)
    try:
        assert isinstance(spark, SparkConnection)
        expected = replay.check(duck)
        assert expected.violations.height and not expected.passed  # the demo plants violations
        _same_replay(expected, replay.check(spark))

        alerts = metrics.evaluate_rules(duck)
        assert alerts.height >= 5  # the shipped rules fire on the demo
        _same(alerts, metrics.evaluate_rules(spark), ["rule", "level", "group", "first_fired"])

        newest = timeline.timeline(duck, limit=200)
        assert newest.height == 200
        _same(newest, timeline.timeline(spark, limit=200))  # in the analysis' own order
        assert timeline.hidden(duck) == timeline.hidden(spark)
    finally:
        duck.close()
        spark.close()


def test_mixed_lake_equal_duckdb_in_and_out_of_a_window(mixed_lake) -> None:
    db, lake, rules = mixed_lake
    duck, spark = _pair(db, lake)
    try:
        _same_replay(replay.check(duck), replay.check(spark))
        fired = metrics.evaluate_rules(duck, rules_path=rules)
        assert fired.height
        _same(fired, metrics.evaluate_rules(spark, rules_path=rules),
              ["rule", "level", "group", "first_fired"])
        # A window: parameters bound as literals, the violation ids registered and joined.
        [(lo, hi)] = duck.execute("SELECT min(ts), max(ts) FROM timeline_events").fetchall()
        window = Scope.build(start=lo + (hi - lo) / 3, end=hi - (hi - lo) / 3)
        _same_replay(replay.check(duck, window), replay.check(spark, window))
        _same(timeline.timeline(duck, window, limit=50, event_types=["tool.*", "error"]),
              timeline.timeline(spark, window, limit=50, event_types=["tool.*", "error"]))
    finally:
        duck.close()
        spark.close()


# ---- each rewrite against DuckDB itself ----------------------------------------------------

ROWS = pl.DataFrame({
    "id": [1, 2, 3, 4],
    "g": ["a", "a", "b", None],
    "x": [3, None, 1, 2],
    "s": ["a_b", "a\\b", "  two  spaces ", None],
    "ts": [datetime(2026, 3, 1, 9, 0, 10, 900000, tzinfo=UTC),
           datetime(2026, 3, 1, 9, 0, 11, 100000, tzinfo=UTC), None,
           datetime(2026, 3, 1, 9, 7, 0, tzinfo=UTC)],
    "j": ['{"a": [1, "x", null], "b": "s", "c": 5, "d": -2, "e": 1.5, "f": null, "o": {"k": true}}',
          '{"a": ["y"], "b": "[1]"}', None, '{"b": null}'],
})
# (DuckDB expression, what it checks): evaluated per row of ROWS in both engines.
EXPRESSIONS = [
    ("date_diff('second', TIMESTAMPTZ '2026-03-01 09:00:10.9', ts)", "date_diff counts boundaries"),
    ("date_diff('millisecond', TIMESTAMPTZ '2026-03-01 09:00:10.9995', ts)", "ms boundaries"),
    ("date_diff('microsecond', TIMESTAMPTZ '2026-03-01 09:00:00', ts)", "exact micros"),
    ("time_bucket(INTERVAL '5 minutes', ts)", "default origin"),
    ("time_bucket(INTERVAL '2 days', ts)", "origin 2000-01-03"),
    ("time_bucket(INTERVAL '7 minutes', ts, TIMESTAMPTZ '2026-03-01 09:03:00')", "given origin"),
    ("strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ')", "strftime literal text"),
    ("'at ' || ts", "timestamp text ends in +00"),
    ("ts::VARCHAR", "timestamp cast to text"),
    ("'id ' || id || '/' || x", "numbers in ||, NULL in NULL out"),
    ("x / 60.0", "decimal literal divides as DOUBLE"),
    ("x / 2", "integer division is DOUBLE"),
    ("ts + INTERVAL '1.5 minutes'", "fractional interval"),
    ("ts + INTERVAL (CAST(x AS BIGINT)) SECOND", "interval of an expression"),
    ("'infinity'::TIMESTAMPTZ > ts", "infinity"),
    ("s LIKE 'a\\b'", "LIKE: backslash is no escape"),
    ("s LIKE 'a_b'", "LIKE wildcard"),
    ("s ILIKE 'A%'", "ILIKE"),
    ("regexp_replace(s, '\\s+', ' ', 'g')", "regexp_replace all"),
    ("regexp_replace(s, '\\s+', '-')", "regexp_replace first only"),
    ("regexp_replace(s, '(a)(.)', '\\2\\1', 'g')", "back-references"),
    ("regexp_matches(s, 'A', 'i')", "regex options"),
    ("regexp_extract(s, '(t)(w)o')", "regexp_extract group 0 by default"),
    ("regexp_extract(s, 'T(W)O', 1, 'i')", "regexp_extract group and options"),
    ("json_type(j, '$.a')", "json_type array"),
    ("json_type(j, '$.b')", "json_type string / null"),
    ("json_type(j, '$.c')", "json_type unsigned"),
    ("json_type(j, '$.d')", "json_type signed"),
    ("json_type(j, '$.e')", "json_type double"),
    ("json_type(j, '$.zz')", "json_type missing"),
    ("json_extract(j, '$.b')::VARCHAR", "json text of a string is quoted"),
    ("json_extract(j, '$.o')::VARCHAR", "json text of an object"),
    ("json_extract(j, '$.f')::VARCHAR", "json text of null"),
    ("json_extract_string(j, '$.o.k')", "json_extract_string"),
    ("j->>'$.c'", "->>"),
    ("CAST(json_extract(j, '$.a') AS VARCHAR[])", "json array as a list"),
    ("[id, x][2]", "1-based index"),
    ("[id, x, 7][5]", "index out of range"),
    ("[id, x, 7, 8][2:3]", "inclusive slice"),
    ("list_slice([id, x, 7, 8], 1, 2)", "list_slice"),
    ("starts_with(s, 'a')", "starts_with"),
    ("x IS DISTINCT FROM 2", "IS DISTINCT FROM"),
    ("epoch_us(ts)", "epoch_us"),
    ("epoch_ms(ts)", "epoch_ms of a time"),
    ("epoch(ts)", "epoch seconds"),
    ("coalesce(nullif(concat_ws('/', coalesce(g::VARCHAR, '-')), ''), '(all)')", "group key"),
]
AGGREGATES = [
    ("list(x ORDER BY x)", "NULL kept, last"),
    ("list(x ORDER BY x DESC)", "DESC, NULL last"),
    ("list(x ORDER BY x NULLS FIRST)", "NULLS FIRST"),
    ("list(id ORDER BY g, x DESC)", "two keys"),
    ("list(DISTINCT g ORDER BY g) FILTER (WHERE x IS NOT NULL)", "distinct, filtered"),
    ("list_slice(list(id ORDER BY id DESC), 1, 2)", "first n of a sorted list"),
    ("arg_max(x, id)", "arg_max skips NULL values"),
    ("arg_min(id, (x, id))", "tuple key, NULL fields last"),
    ("arg_max(id, ts) FILTER (WHERE x > 1)", "filtered arg_max"),
    ("count(*) FILTER (WHERE x > 1)", "FILTER"),
    ("bool_or(x > 2)", "bool_or"),
    ("median(x)", "median"),
]


def _duck_rows(sql: str) -> pl.DataFrame:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("_rows", ROWS.to_arrow())
        out = pl.from_arrow(con.sql(sql).to_arrow_table())
        assert isinstance(out, pl.DataFrame)
        return out
    finally:
        con.close()


def test_each_rewrite_gives_duckdbs_values(demo_lake: tuple[Path, Path]) -> None:
    _db, lake = demo_lake
    spark = spark_connect(lake, conf=SMALL_DATA_CONFIG)
    try:
        spark.register("_rows", ROWS)
        per_row = ", ".join(f"{sql} AS c{i}" for i, (sql, _why) in enumerate(EXPRESSIONS))
        sql = f"SELECT id, {per_row} FROM _rows ORDER BY id"
        duck, got = _duck_rows(sql), pl.from_arrow(spark.sql(sql).to_arrow_table())
        for i, (expr, why) in enumerate(EXPRESSIONS):
            column = f"c{i}"
            assert got[column].to_list() == duck[column].to_list(), (expr, why)
            assert got[column].dtype == duck[column].dtype or duck[column].dtype == pl.Null, (
                expr, why, got[column].dtype, duck[column].dtype)
        grouped = ", ".join(f"{sql} AS a{i}" for i, (sql, _why) in enumerate(AGGREGATES))
        sql = f"SELECT {grouped} FROM _rows"
        duck, got = _duck_rows(sql), pl.from_arrow(spark.sql(sql).to_arrow_table())
        for i, (expr, why) in enumerate(AGGREGATES):
            assert got[f"a{i}"].to_list() == duck[f"a{i}"].to_list(), (expr, why)
        # Window aggregates and QUALIFY, ordered as DuckDB orders NULLs (last, ascending).
        sql = ("SELECT id, lag(x) OVER (ORDER BY x, id) AS prev, list(id) OVER (ORDER BY x, id) AS upto, "
               "count(*) FILTER (WHERE x > 1) OVER (ORDER BY ts RANGE BETWEEN INTERVAL '5 minutes' "
               "PRECEDING AND CURRENT ROW) AS recent FROM _rows "
               "QUALIFY row_number() OVER (PARTITION BY g ORDER BY x) = 1 ORDER BY id")
        _same(_duck_rows(sql), pl.from_arrow(spark.sql(sql).to_arrow_table()))
    finally:
        spark.close()


def test_parameters_are_bound_as_literals() -> None:
    [st] = transpile.statements("SELECT ? AS a, '?' AS c, ? AS d", ["it's \\ a", 2.5])
    assert st.kind == "query"
    assert "'?' AS c" in st.sql and "2.5" in st.sql and "it\\'s \\\\ a" in st.sql
    [st] = transpile.statements("SELECT * FROM t WHERE ts >= $start",
                                {"start": datetime(2026, 3, 1, 10, 0, tzinfo=UTC)})
    assert "CAST('2026-03-01 10:00:00' AS TIMESTAMP)" in st.sql
    with pytest.raises(transpile.TranspileError, match="no value for parameter"):
        transpile.statements("SELECT $missing", {})


def test_statement_kinds() -> None:
    kinds = [(s.kind, s.name) for s in transpile.statements(
        "SET preserve_insertion_order = false; CREATE OR REPLACE TEMP TABLE _x AS SELECT 1 AS a; "
        "DROP TABLE IF EXISTS _x; SELECT current_setting('preserve_insertion_order')",
        settings={"preserve_insertion_order": False})]
    assert kinds == [("set", "preserve_insertion_order"), ("create", "_x"), ("drop", "_x"), ("query", "")]
    with pytest.raises(transpile.TranspileError, match="no Spark form"):
        transpile.statements("CREATE MACRO m(a) AS a + 1")
