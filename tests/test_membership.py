"""The IN-list form DuckDB filters inside its scans keeps exactly the rows IN / NOT IN keep."""

from __future__ import annotations

import duckdb
import pytest

from incidentlab.membership import SCANNED_ITEMS, one_of

VALUES = ["'a'", "'b'"]
LONG = ["'a'", "'c'", *(f"'z{i}'" for i in range(SCANNED_ITEMS))]  # past the scanned form


@pytest.mark.parametrize("negate", [False, True])
@pytest.mark.parametrize("items", [[], ["'a'"], VALUES, ["'a'", "'b'", "'c'"], LONG])
def test_same_rows_as_in_and_not_in(items, negate):
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('a'), ('b'), ('c'), ('d'), (NULL)) v(x)")
    if items:
        plain = f"x {'NOT IN' if negate else 'IN'} ({', '.join(items)})"
    else:
        plain = "true" if negate else "false"
    want = con.execute(f"SELECT x FROM t WHERE {plain} ORDER BY x").fetchall()
    got = con.execute(f"SELECT x FROM t WHERE {one_of('x', items, negate=negate)} ORDER BY x").fetchall()
    assert got == want


def test_parameters_and_the_form_the_scan_takes():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range::VARCHAR AS x FROM range(10)")
    sql = f"SELECT count(*) FROM t WHERE {one_of('x', ['?', '?'])}"
    assert con.execute(sql, ["1", "2"]).fetchall() == [(2,)]
    assert one_of("x", VALUES) == "coalesce(x IN ('a', 'b'), false)"
    assert one_of("x", ["'a'"]) == "x = 'a'"


def test_a_long_list_is_written_plainly_for_the_join_duckdb_makes_of_it():
    assert one_of("x", LONG) == f"x IN ({', '.join(LONG)})"
    assert one_of("x", LONG, negate=True).startswith("x NOT IN ('a', 'c', ")
    assert one_of("x", LONG[:SCANNED_ITEMS]).startswith("coalesce(x IN (")
