"""Timestamp parsing shared by loaders: one Python function and the matching DuckDB macros."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from .errors import UsageError

# Zone suffix at the end of an ISO string: Z, +00:00, +0000, or the buggy double "+00:00Z" (Tapps).
_ZONE = re.compile(r"(Z|[+-]\d\d:?\d\d)$", re.IGNORECASE)
_ISO = re.compile(
    r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d(?::\d\d)?)(?:[.,](\d{1,9}))?\s*(Z|[+-]\d\d:?\d\d)?Z?$",
    re.IGNORECASE,
)

# Real zones lie within UTC-12 and UTC+14; a larger offset is damage, not a zone.
MAX_OFFSET_HOURS = 14


def resolve_tz(name: str | None) -> ZoneInfo | None:
    """Turn a --tz value into a ZoneInfo, with an error that says what to type instead."""
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(
            f"unknown time zone {name!r}", hint="use an IANA name such as Europe/Berlin or UTC"
        ) from exc


def has_zone(raw: str) -> bool:
    return bool(_ZONE.search(raw.strip()))


def parse_ts(
    raw: object, *, naive: str = "utc", tz: ZoneInfo | None = None
) -> tuple[datetime | None, str]:
    """Parse a timestamp as the sources write it; return (UTC datetime or None, ts_quality).

    `naive` says what a zone-less value means in this source: "utc" (SQLite datetime('now')) or
    "local" (converted with `tz`, marked assumed_local; without `tz` the value is left unparsed).
    Numbers are unix epochs; the unit (s, ms, us, ns) is told apart by magnitude.
    """
    if raw is None or raw == "":
        return None, "missing"
    if isinstance(raw, bool):
        return None, "missing"
    if isinstance(raw, int | float):
        try:
            moment = _from_epoch(float(raw))
        except OverflowError:  # an integer beyond any double (JSON allows 10**400)
            moment = None
        return (moment, "exact") if moment else (None, "missing")
    text = str(raw).strip()
    match = _ISO.match(text)
    if not match:
        return None, "missing"
    date, clock, frac, zone = match.groups()
    if len(clock) == 5:
        clock += ":00"
    micros = (frac or "").ljust(6, "0")[:6]
    try:
        base = datetime.fromisoformat(f"{date}T{clock}.{micros}")
    except ValueError:
        return None, "missing"
    if zone:
        if zone.upper() == "Z":
            offset = timedelta(0)
        else:
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > MAX_OFFSET_HOURS or minutes > 59:
                return None, "missing"  # no zone is that far from UTC: the value is damaged
            offset = sign * timedelta(hours=hours, minutes=minutes)
        try:
            return (base - offset).replace(tzinfo=UTC), "exact"
        except OverflowError:
            return None, "missing"
    if naive == "local":
        if tz is None:
            return None, "missing"
        try:
            return base.replace(tzinfo=tz).astimezone(UTC), "assumed_local"
        except OverflowError:  # year 1 or 9999 shifted out of the calendar
            return None, "missing"
    return base.replace(tzinfo=UTC), "assumed_utc"


def _from_epoch(value: float) -> datetime | None:
    """A unix epoch in s, ms, us or ns (told apart by magnitude); None when no datetime holds it."""
    if not math.isfinite(value):
        return None
    magnitude = abs(value)
    if magnitude >= 1e17:
        value /= 1e9
    elif magnitude >= 1e14:
        value /= 1e6
    elif magnitude >= 1e11:
        value /= 1e3
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


# SQL twins of parse_ts, registered on every connection by store.connect().
SQL_MACROS = r"""
CREATE OR REPLACE TEMP MACRO il_ts_clean(s) AS
    regexp_replace(regexp_replace(trim(s), '([+-]\d\d:?\d\d)Z$', '\1'), '(\d\d:\d\d:\d\d),(\d)', '\1.\2');
CREATE OR REPLACE TEMP MACRO il_has_zone(s) AS
    regexp_matches(trim(s), '(Z|z|[+-]\d\d:?\d\d)$');
CREATE OR REPLACE TEMP MACRO il_bad_offset(s) AS
    regexp_matches(s, '[+-](1[5-9]|[2-9]\d):?\d\dZ?\s*$|[+-]\d\d:?[6-9]\dZ?\s*$');
CREATE OR REPLACE TEMP MACRO il_ts_utc(s) AS
    CASE WHEN NOT il_bad_offset(s) THEN try_cast(il_ts_clean(s) AS TIMESTAMPTZ) END;
CREATE OR REPLACE TEMP MACRO il_ts_local(s, zone) AS
    CASE WHEN il_bad_offset(s) THEN NULL
         WHEN il_has_zone(s) THEN try_cast(il_ts_clean(s) AS TIMESTAMPTZ)
         WHEN zone IS NULL THEN NULL
         ELSE timezone(zone, try_cast(il_ts_clean(s) AS TIMESTAMP)) END;
CREATE OR REPLACE TEMP MACRO il_ts_quality(s, parsed, naive_quality) AS
    CASE WHEN parsed IS NULL THEN 'missing'
         WHEN il_has_zone(s) THEN 'exact'
         ELSE naive_quality END;
CREATE OR REPLACE TEMP MACRO il_epoch(v) AS
    CASE WHEN isfinite(v) THEN try(to_timestamp(v / CASE WHEN abs(v) >= 1e17 THEN 1e9
        WHEN abs(v) >= 1e14 THEN 1e6 WHEN abs(v) >= 1e11 THEN 1e3 ELSE 1 END)) END;
"""


def register_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SQL_MACROS)
