"""Reading time and severity values of generic structured logs (through timeparse)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ...timeparse import has_zone, parse_ts

EPOCH_UNITS = {"epoch_s": 1.0, "epoch_ms": 1e3, "epoch_us": 1e6, "epoch_ns": 1e9}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
# 1973-03-03 in seconds: smaller numbers are counters or dates like 081109, not epochs
MIN_EPOCH_SECONDS = 1e8


class NaiveTime(Exception):
    """A zone-less time with neither --tz nor `naive = "utc"` in the mapping."""

    def __init__(self, raw: str) -> None:
        super().__init__(raw)
        self.raw = raw


def _as_number(value: Any) -> float | None:
    """A finite number from a number or numeric text; NaN, infinities and giants are not."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str) and not _NUMBER.match(value.strip()):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def plausible(value: Any) -> bool:
    """Whether a value reads as a timestamp at all (for detection; zone not required)."""
    number = _as_number(value)
    if number is not None:
        return abs(number) >= MIN_EPOCH_SECONDS
    return isinstance(value, str) and parse_ts(value, naive="utc")[0] is not None


def read_time(
    value: Any, time_format: str | None, naive: str, tz: ZoneInfo | None
) -> tuple[datetime | None, str]:
    """(UTC time or None, ts_quality); raises NaiveTime when a local time cannot be placed."""
    if value is None or value == "":
        return None, "missing"
    fmt = (time_format or "auto").strip()
    number = _as_number(value)
    if fmt in EPOCH_UNITS:
        return (None, "missing") if number is None else parse_ts(number / EPOCH_UNITS[fmt])
    if fmt in ("auto", "iso", "epoch") and number is not None:
        if fmt == "iso" or abs(number) < MIN_EPOCH_SECONDS:
            return None, "missing"
        return parse_ts(number)
    if fmt not in ("auto", "iso", "epoch"):
        try:
            parsed = datetime.strptime(str(value).strip(), fmt)
        except (ValueError, OverflowError):
            return None, "missing"
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC), "exact"
        return _naive(parsed.isoformat(), str(value), naive, tz)
    text = str(value).strip()
    if has_zone(text):
        return parse_ts(text)
    return _naive(text, text, naive, tz)


def _naive(iso: str, raw: str, naive: str, tz: ZoneInfo | None) -> tuple[datetime | None, str]:
    if parse_ts(iso, naive="utc")[0] is None:
        return None, "missing"
    if naive == "utc":
        return parse_ts(iso, naive="utc")
    if tz is None:
        raise NaiveTime(raw)
    return parse_ts(iso, naive="local", tz=tz)


_WORDS = (("emerg", "critical"), ("alert", "critical"), ("crit", "critical"),
          ("fatal", "critical"), ("panic", "critical"), ("err", "error"), ("severe", "error"),
          ("warn", "warning"), ("notice", "info"), ("info", "info"), ("debug", "debug"),
          ("trace", "debug"), ("verbose", "debug"))
_SYSLOG = ("critical", "critical", "critical", "error", "warning", "info", "info", "debug")


def severity(value: Any) -> str | None:
    """Level words (any case, prefixes like DEBUG5), syslog 0-7, or pino/bunyan 10-60."""
    if value is None or value == "":
        return None
    number = _as_number(value)
    if number is not None:
        n = int(number)
        if 0 <= n <= 7:
            return _SYSLOG[n]
        if 10 <= n <= 60:
            return ("debug", "debug", "info", "warning", "error", "critical")[min(n // 10, 6) - 1]
        return None
    word = str(value).strip().lower()
    for prefix, name in _WORDS:
        if word.startswith(prefix):
            return name
    return None


def http_severity(status: Any) -> str | None:
    number = _as_number(status)
    if number is None:
        return None
    return "error" if number >= 500 else "warning" if number >= 400 else "info"
