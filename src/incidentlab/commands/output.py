"""What every command prints through: consoles, tables, JSON, one-line errors and exit codes.

Its own module under the CLI layer, so commands never import `incidentlab.cli` (which imports
them). JSON is the same on every command: times are ISO 8601 with offset
(`2026-03-01T12:00:00+00:00`), and every duration is a number of seconds under its own key with
a human form beside it under `<key>_human` (`1h 02m 03s`).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from functools import wraps
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..errors import IncidentLabError

# Piped output is read by people too (CI logs, `| less`): do not squeeze tables into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2

# Keys whose numbers are durations in seconds (besides `seconds` and `*_seconds`).
DURATION_KEYS = frozenset({"time_to_detect", "time_to_mitigate", "time_to_resolve"})


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """IncidentLabError -> `error: <message>` on stderr and its exit code; --traceback shows more."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except IncidentLabError as exc:
            if click.get_current_context().find_root().params.get("traceback"):
                raise
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)

    return wrapper


def human_duration(seconds: float | None) -> str | None:
    """12.3s / 4m 05s / 1h 02m 03s / 2d 03h 04m; None stays None."""
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return None
    sign, value = ("-" if seconds < 0 else ""), abs(float(seconds))
    if value < 60:
        return f"{sign}{round(value, 1):g}s"
    minutes, sec = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{sign}{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m {sec:02d}s"
    return f"{sign}{minutes}m {sec:02d}s"


def _is_duration_key(key: Any) -> bool:
    return isinstance(key, str) and (key == "seconds" or key.endswith("_seconds")
                                     or key in DURATION_KEYS)


def json_ready(data: Any) -> Any:
    """The one JSON form: ISO 8601 times, durations as seconds plus `<key>_human`."""
    if isinstance(data, dict):
        out: dict[Any, Any] = {}
        for key, value in data.items():
            if isinstance(value, timedelta):
                value = value.total_seconds()
                if not _is_duration_key(key):
                    out[key] = value
                    out[f"{key}_human"] = human_duration(value)
                    continue
            out[key] = json_ready(value)
            if (_is_duration_key(key) and f"{key}_human" not in data
                    and (value is None or (isinstance(value, int | float)
                                           and not isinstance(value, bool)))):
                out[f"{key}_human"] = human_duration(value)
        return out
    if isinstance(data, list | tuple):
        return [json_ready(v) for v in data]
    if isinstance(data, datetime | date | time):
        return data.isoformat()
    if isinstance(data, timedelta):
        return data.total_seconds()
    return data


def print_json(data: Any) -> None:
    click.echo(json.dumps(json_ready(data), indent=2, default=str))


def print_table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*["" if row.get(c) is None else str(row.get(c)) for c in columns])
    console.print(table)
