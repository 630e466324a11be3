"""`report`, `batch` and `export`: postmortem notebooks rendered to HTML, and event slices out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from ..reports.query import Filters
from ..scope import Scope
from .output import EXIT_OK, EXIT_PROBLEMS, console, err_console, handle_errors, print_json
from .scope_options import (
    DB_OPTION,
    REDACT_OPTION,
    listing_options,
    scope_options,
    scope_parameters,
)


def complete_notebooks(ctx: click.Context, param: click.Parameter, incomplete: str
                       ) -> list[Any]:
    """Shell completion for --notebook: the shipped notebooks' names, short names and `all`."""
    from click.shell_completion import CompletionItem

    try:
        from ..reports.paths import list_notebooks

        stems = list_notebooks()
    except Exception:  # completion must never fail loudly
        return []
    names = [*stems, *(s.split("_", 1)[1] for s in stems), "all"]
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def _merge_scope(values: dict[str, Any], scope_params: dict[str, Any]) -> dict[str, Any]:
    """The scope options joined to the -p values; the same name both ways is a usage error."""
    both = sorted(set(values) & set(scope_params))
    if both:
        raise UsageError(f"{', '.join(both)} given both as an option and as -p",
                         hint="give each once (the options are the same as -p NAME=VALUE)")
    return {**values, **scope_params}


@click.command("report")
@click.option("--db", type=click.Path(dir_okay=False),
              help="DuckDB file of the incident (required unless --list-params).")
@click.option("--out", type=click.Path(file_okay=False),
              help="Folder for the executed notebook and the HTML (required unless "
                   "--list-params).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Notebook parameter (repeatable); see --list-params.")
@click.option("--notebook", default="05_postmortem", show_default=True,
              shell_complete=complete_notebooks,
              help="Notebook to run: 01_overview, 02_timeline, 03_replay, 04_alerts, "
                   "05_postmortem (or its short name, e.g. timeline), or `all`.")
@click.option("--list-params", is_flag=True,
              help="Show the notebook's parameters and exit (needs no --db or --out).")
@REDACT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
@scope_parameters
def report_command(db: str | None, out: str | None, params: tuple[str, ...], notebook: str,
                   list_params: bool, no_redact: bool, as_json: bool,
                   scope_params: dict[str, Any]) -> None:
    """Execute a report notebook with papermill and write the .ipynb and a self-contained HTML.

    The HTML has no code, works offline (plotly.js is inlined once), escapes every value from the
    evidence and redacts secrets unless --no-redact (or `-p redact=false`). The scope options
    are the same as on every analysis command and the same as `-p start=...`,
    `-p systems=a,b`. Unknown parameter names and unreadable values (a time zone, a time, a
    milestone) are refused before a kernel starts.

    \b
    Example:
      incidentlab report --db demo-out/demo.duckdb --out reports/demo \\
          -p title="Runaway tool loop" -p display_tz=Europe/Berlin --pivot 2026-03-01T09:10:00Z
    """
    from ..reports.params import validate_parameters
    from ..reports.paths import list_notebooks, notebook_path, resolve_db
    from ..reports.render import known_parameters, parse_parameters, render_report, shown_parameters

    stems = list_notebooks() if notebook == "all" else [notebook_path(notebook).stem]
    known = known_parameters(notebook_path(stems[-1]))
    if list_params:
        if as_json:
            print_json({name: {"type": info["inferred_type_name"], "default": info["default"],
                               "help": info["help"]} for name, info in known.items()})
            return
        for name, info in known.items():
            console.print(f"[bold]{name}[/bold]: {info['inferred_type_name']} = {info['default']}"
                          f"  [dim]{info['help']}[/dim]", highlight=False)
        return
    if not db or not out:
        missing = " and ".join(f"--{n}" for n, v in (("db", db), ("out", out)) if not v)
        raise UsageError(f"report needs {missing}",
                         hint="e.g. incidentlab report --db incident.duckdb --out postmortem/")
    values = _merge_scope(parse_parameters(params, known), scope_params)
    if "db" in values:
        raise UsageError("pass the database with --db, not -p db=...")
    if no_redact:
        if values.get("redact") is True:
            raise UsageError("--no-redact and -p redact=true contradict each other")
        values["redact"] = False
    validate_parameters(values)
    resolve_db(db)  # fail before starting a kernel
    shown = shown_parameters(values)
    results = []
    for stem in stems:
        if not as_json:
            err_console.print(f"rendering {stem} with {shown or 'default parameters'}",
                              highlight=False)
        result = render_report(db, out, values, notebook=stem)
        results.append({"notebook": result.notebook, "ipynb": str(result.ipynb),
                        "html": str(result.html), "seconds": round(result.seconds, 2),
                        "parameters": shown, "severity": result.summary.get("severity")})
        if not as_json:
            console.print(f"[green]wrote[/green] {result.html}  ({result.seconds:.1f}s; notebook "
                          f"{result.ipynb})", highlight=False)
    if as_json:
        print_json(results[0] if len(results) == 1 else results)


@click.command("batch")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder: one subfolder per incident plus index.html.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Incidents rendered in parallel (one process each).")
@REDACT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@handle_errors
@scope_parameters
def batch_command(spec: str, out: str, jobs: int, no_redact: bool, as_json: bool,
                  scope_params: dict[str, Any]) -> None:
    """Render a report for every incident listed in SPEC (YAML or TOML).

    A failing incident never stops the others; index.html lists each with status, severity and
    milestones. Exit 0 when all rendered, 1 when any failed. The scope options and --no-redact
    apply to every incident (over the spec's values); an incident whose parameters cannot be
    read (a time zone, a time, a milestone) fails before its kernel starts.

    \b
    SPEC example (YAML):
      notebook: 05_postmortem        # optional
      defaults: {db: demo-out/demo.duckdb, display_tz: UTC}
      incidents:
        - {incident_id: loop-0301, title: Tool loop, pivot: "2026-03-01T09:10:00Z"}
        - {incident_id: denial-0302, systems: [codingbuddy], severity: SEV3}
    """
    from ..reports.batch import run_batch

    def step(outcome: Any) -> None:
        if not as_json:
            mark = "[green]ok[/green]" if outcome.status == "ok" else "[red]FAILED[/red]"
            err_console.print(f"{mark} {outcome.incident_id} ({outcome.seconds:.1f}s)",
                              highlight=False)

    overrides = {**scope_params, **({"redact": False} if no_redact else {})}
    result = run_batch(spec, out, jobs=jobs, progress=step, overrides=overrides)
    if as_json:
        print_json([o.__dict__ for o in result.outcomes])
    else:
        ok = len(result.outcomes) - len(result.failed)
        console.print(f"{ok} of {len(result.outcomes)} incidents rendered in "
                      f"{result.seconds:.1f}s; index: {result.index}", highlight=False)
        for outcome in result.failed:
            console.print(f"[red]failed[/red] {outcome.incident_id}: {outcome.error}",
                          highlight=False, soft_wrap=True)
    sys.exit(EXIT_PROBLEMS if result.failed else EXIT_OK)


@click.command("export")
@DB_OPTION
@click.option("--format", "fmt", required=True,
              type=click.Choice(["timesketch", "jsonl", "csv", "parquet"]),
              help="timesketch: JSONL with message/datetime/timestamp_desc; parquet: a folder "
                   "partitioned by system and date.")
@click.option("--out", required=True, type=click.Path(), help="Output file (folder for parquet).")
@listing_options
@click.option("--limit", type=click.IntRange(min=1),
              help="At most this many events, oldest first  [default: all]")
@REDACT_OPTION
@click.option("--redact", "redact_flag", is_flag=True, hidden=True,
              help="Accepted for old scripts: redaction is the default.")
@click.option("--rules", type=click.Path(exists=True, dir_okay=False),
              help="Rules file whose [redaction] patterns are masked too (default: the shipped "
                   "rules).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
@scope_options
def export_command(db: str, scope: Scope, fmt: str, out: str, event_types: tuple[str, ...],
                   min_severity: str | None, limit: int | None, no_redact: bool,
                   redact_flag: bool, rules: str | None, overwrite: bool, as_json: bool) -> None:
    """Export a filtered slice of events with every canonical column.

    The filters are the timeline's: the scope options, --type and --min-severity. Secrets and
    e-mail addresses are masked in every format unless --no-redact; CSV and JSONL write control
    characters (ANSI escape sequences and the like) as visible \\xNN text. Events without a
    timestamp cannot go to Timesketch; they are counted, never dropped silently.
    """
    from ..reports.export import export_events

    if no_redact and redact_flag:
        raise UsageError("--redact and --no-redact contradict each other",
                         hint="drop one (redaction is the default)")
    filters = Filters(scope, tuple(event_types), min_severity, limit)
    result = export_events(db, fmt, Path(out), filters, redact=not no_redact,
                           overwrite=overwrite, rules_path=rules)
    if as_json:
        print_json({"scope": scope.to_dict(), **result.to_dict()})
        return
    console.print(f"[green]wrote[/green] {result.rows} events to {result.path} ({fmt})",
                  highlight=False)
    if result.skipped_no_time:
        console.print(f"[yellow]{result.skipped_no_time} events without a timestamp were not "
                      "exported[/yellow] (Timesketch requires a datetime); use --format jsonl "
                      "to include them", highlight=False)


COMMANDS = [report_command, batch_command, export_command]
