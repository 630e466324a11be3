"""Thin command line over the library: parse, call, print; errors become one line and an exit code."""

from __future__ import annotations

import click

from ._version import __version__
from .commands.diff_cmds import diff_command
from .commands.output import (  # re-exported: older code imported the helpers from here
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    console,
    err_console,
    handle_errors,
    print_json,
    print_table,
)

__all__ = ["EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "console", "err_console", "handle_errors",
           "main", "print_json", "print_table"]


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
    from .commands import findings_cmds, register

    register(main)
    for command in findings_cmds.COMMANDS:
        main.add_command(command)


_register_commands()
main.add_command(diff_command)
