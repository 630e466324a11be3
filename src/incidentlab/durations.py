"""Durations as the report and the CLI tables write them: 1h 02m 03s, 4m 05s, or "not determined"."""

from __future__ import annotations

from typing import Any


def fmt_duration(value: Any) -> str:
    """Seconds or a timedelta as 1h 02m 03s / 4m 05s; "not determined" for None."""
    if value is None:
        return "not determined"
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else float(value)
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {sec:02d}s" if hours else f"{minutes}m {sec:02d}s"
