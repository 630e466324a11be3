"""Thin command line over the library: parse, call, print; errors become one line and an exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from . import __version__
from .errors import IncidentLabError

# Piped output is read by people too (CI logs, `| less`): do not squeeze tables into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


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


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def print_table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*["" if row.get(c) is None else str(row.get(c)) for c in columns])
    console.print(table)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="incidentlab")
@click.option("--traceback", is_flag=True, help="Show the full traceback on errors.")
def main(traceback: bool) -> None:
    """Post-incident forensics for AI coding-agent systems.

    Ingest the artifacts an incident left behind into one DuckDB file, then rebuild the timeline,
    check replay integrity, evaluate the runbooks' alert rules and render a postmortem.

    \b
    Typical session:
      incidentlab ingest ./evidence --db incident.duckdb
      incidentlab info --db incident.duckdb
      incidentlab timeline --db incident.duckdb --limit 50
    """


def _register_commands() -> None:
    from .commands import register

    register(main)


_register_commands()
