"""The scope options every analysis command shares (--start .. --correlation-id), built into one Scope."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from ..scope import Scope

_OPTIONS = (
    click.option("--start", help="Window start (ISO time, naive = UTC)."),
    click.option("--end", help="Window end (ISO time, naive = UTC)."),
    click.option("--pivot", help="Center the window on this time (with --span)."),
    click.option("--span", "span_minutes", type=click.FloatRange(min=0, min_open=True),
                 help="Minutes either side of --pivot  [default: 30]"),
    click.option("--system", "systems", multiple=True, help="Only these systems (repeatable)."),
    click.option("--project", "projects", multiple=True,
                 help="Only these projects (repeatable)."),
    click.option("--stream", "streams", multiple=True,
                 help="Only these streams: sessions, runs, workflows (repeatable)."),
    click.option("--correlation-id", help="Only events with this correlation id."),
)
_NAMES = ("start", "end", "pivot", "span_minutes", "systems", "projects", "streams",
          "correlation_id")


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

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper
