"""The one CLI vocabulary: the options every command that reads a database or filters shares.

`scope_options` (--start .. --correlation-id) builds one Scope, on every analysis command, on
`export`, and as parameters on `report` and `batch`; `listing_options` (--type, --min-severity)
narrow an event listing (`timeline`, `export`); `--db`, `--json` and `--no-redact` read the same
everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from ..scope import DEFAULT_SPAN_MINUTES, Scope

SEVERITIES = ["debug", "info", "warning", "error", "critical"]

DB_OPTION = click.option(
    "--db", required=True, type=click.Path(dir_okay=False), help="DuckDB file of the incident."
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
REDACT_OPTION = click.option(
    "--no-redact", is_flag=True,
    help="Show secrets and e-mail addresses unmasked (every output is redacted by default)."
)

_OPTIONS = (
    click.option("--start", help="Window start (ISO 8601 time, naive = UTC)."),
    click.option("--end", help="Window end (ISO 8601 time, naive = UTC)."),
    click.option("--pivot", help="Center the window on this time (with --span)."),
    click.option("--span", "span_minutes", type=click.FloatRange(min=0, min_open=True),
                 help=f"Minutes either side of --pivot  [default: {DEFAULT_SPAN_MINUTES:g}]"),
    click.option("--system", "systems", multiple=True, help="Only these systems (repeatable)."),
    click.option("--project", "projects", multiple=True,
                 help="Only these projects (repeatable)."),
    click.option("--stream", "streams", multiple=True,
                 help="Only these streams: sessions, runs, workflows (repeatable)."),
    click.option("--correlation-id", help="Only events with this correlation id."),
)
_NAMES = ("start", "end", "pivot", "span_minutes", "systems", "projects", "streams",
          "correlation_id")
# What a scope option is called as a report / batch parameter (lists are comma-separated).
PARAMETER_NAMES = {"start": "start", "end": "end", "pivot": "pivot",
                   "span_minutes": "span_minutes", "systems": "systems", "projects": "projects",
                   "streams": "streams", "correlation_id": "correlation_id"}


def _add(options: tuple[Any, ...], wrapper: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def scope_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the scope options; the command receives them as one `scope` argument (a Scope).

    Put it below `handle_errors`, so a bad value (an unreadable time) is reported like any
    other usage error.
    """

    @wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _NAMES}
        kwargs["scope"] = Scope.build(**{k: v or None for k, v in values.items()})
        return command(**kwargs)

    return _add(_OPTIONS, wrapper)


def scope_parameters(command: Callable[..., Any]) -> Callable[..., Any]:
    """The same options for commands that pass them on as notebook parameters (report, batch):
    the command receives `scope_params`, a dict of the given ones in parameter form, checked by
    building a Scope from them first."""

    @wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _NAMES}
        given = {k: v for k, v in values.items() if v not in (None, ())}
        Scope.build(**given)  # a bad time or span fails here, before any kernel starts
        kwargs["scope_params"] = {
            PARAMETER_NAMES[k]: (",".join(v) if isinstance(v, tuple) else v)
            for k, v in given.items()}
        return command(**kwargs)

    return _add(_OPTIONS, wrapper)


def listing_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--type (repeatable, `security.*` matches a prefix) and --min-severity; the command
    receives `event_types` and `min_severity`. `--event-type` is a hidden alias of --type."""

    @wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        alias = kwargs.pop("event_types_alias", ()) or ()
        kwargs["event_types"] = tuple(kwargs.get("event_types") or ()) + tuple(alias)
        return command(**kwargs)

    return _add((
        click.option("--type", "event_types", multiple=True,
                     help="Only these event types; `security.*` matches a prefix (repeatable; "
                          "docs/taxonomy.md)."),
        click.option("--event-type", "event_types_alias", multiple=True, hidden=True,
                     help="Old name of --type."),
        click.option("--min-severity", type=click.Choice(SEVERITIES),
                     help="Only events at or above this severity."),
    ), wrapper)
