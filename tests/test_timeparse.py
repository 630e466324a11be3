"""Every timestamp style the sources write parses to the same instant, in Python and in SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import duckdb
import pytest

from incidentlab.timeparse import parse_ts, register_macros

INSTANT = datetime(2026, 3, 1, 9, 15, 2, tzinfo=UTC)
SAME_INSTANT = [
    "2026-03-01T09:15:02Z",
    "2026-03-01T09:15:02+00:00",
    "2026-03-01T09:15:02.000Z",
    "2026-03-01T09:15:02.000000+00:00",
    "2026-03-01T09:15:02.000000000Z",
    "2026-03-01T10:15:02+01:00",
    "2026-03-01T09:15:02+00:00Z",
    "2026-03-01T09:15:02.000+0000",
]


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    register_macros(connection)
    yield connection
    connection.close()


@pytest.mark.parametrize("raw", SAME_INSTANT)
def test_same_instant(raw, con):
    assert parse_ts(raw) == (INSTANT, "exact")
    assert con.execute("SELECT il_ts_utc(?)", [raw]).fetchone()[0] == INSTANT


@pytest.mark.parametrize(("raw", "micros"), [
    ("2026-03-01T09:15:02.4Z", 400000),
    ("2026-03-01T09:15:02.481Z", 481000),
    ("2026-03-01T09:15:02.481516Z", 481516),
    ("2026-03-01T09:15:02.481516789Z", 481516),
])
def test_fractional_digits(raw, micros, con):
    expected = INSTANT.replace(microsecond=micros)
    assert parse_ts(raw)[0] == expected
    assert con.execute("SELECT il_ts_utc(?)", [raw]).fetchone()[0] == expected


def test_naive_values(con):
    assert parse_ts("2026-03-01 09:15:02") == (INSTANT, "assumed_utc")
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_ts("2026-03-01 10:15:02,000", naive="local", tz=berlin) == (
        INSTANT, "assumed_local")
    assert parse_ts("2026-03-01 10:15:02", naive="local") == (None, "missing")
    assert con.execute(
        "SELECT il_ts_local('2026-03-01 10:15:02,000', 'Europe/Berlin')").fetchone()[0] == INSTANT
    assert con.execute("SELECT il_ts_local('2026-03-01 10:15:02', NULL)").fetchone()[0] is None
    assert con.execute(
        "SELECT il_ts_quality('2026-03-01 09:15:02', il_ts_utc('2026-03-01 09:15:02'), "
        "'assumed_utc')").fetchone()[0] == "assumed_utc"


@pytest.mark.parametrize("value", [1772356502, 1772356502000, 1772356502000000,
                                   1772356502000000000])
def test_epoch_units_by_magnitude(value, con):
    assert parse_ts(value) == (INSTANT, "exact")
    assert con.execute("SELECT il_epoch(?)", [value]).fetchone()[0] == INSTANT


@pytest.mark.parametrize("raw", ["", None, "yesterday", "2026-13-45T99:00:00Z", True])
def test_unusable(raw):
    assert parse_ts(raw) == (None, "missing")
