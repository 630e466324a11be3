"""`report`, `batch` and `export`: postmortem notebooks rendered to HTML, and event slices out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..cli import EXIT_OK, EXIT_PROBLEMS, console, err_console, handle_errors, print_json
from ..errors import UsageError
from ..reports.query import Filters

DB_OPTION = click.option(
    "--db", required=True, type=click.Path(dir_okay=False), help="DuckDB file of the incident."
)


def _filter_options(func: Any) -> Any:
    """The timeline filters, shared with `timeline`: window or pivot slice, then narrowing."""
    options = [
        click.option("--start", help="Window start, ISO 8601 (UTC when no zone is given)."),
        click.option("--end", help="Window end, ISO 8601."),
        click.option("--pivot", help="Centre of a slice, ISO 8601 (overrides --start/--end)."),
        click.option("--span", "span_minutes", type=float, default=30, show_default=True,
                     help="Minutes either side of --pivot."),
        click.option("--system", "systems", multiple=True, help="Only this system (repeatable)."),
        click.option("--project", "projects", multiple=True, help="Only this project (repeatable)."),
        click.option("--stream", "streams", multiple=True, help="Only this stream (repeatable)."),
        click.option("--correlation-id", help="Only events with this correlation id."),
        click.option("--event-type", "event_types", multiple=True,
                     help="Only this event type (repeatable; see docs/taxonomy.md)."),
        click.option("--min-severity",
                     type=click.Choice(["debug", "info", "warning", "error", "critical"]),
                     help="Only events at or above this severity."),
        click.option("--limit", type=int, help="At most this many events."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command("report")
@DB_OPTION
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for the executed notebook and the HTML.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Notebook parameter (repeatable); see --list-params.")
@click.option("--notebook", default="05_postmortem", show_default=True,
              help="Notebook to run: 01_overview, 02_timeline, 03_replay, 04_alerts, "
                   "05_postmortem (or its short name, e.g. timeline), or `all`.")
@click.option("--list-params", is_flag=True, help="Show the notebook's parameters and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def report_command(db: str, out: str, params: tuple[str, ...], notebook: str, list_params: bool,
                   as_json: bool) -> None:
    """Execute a report notebook with papermill and write the .ipynb and a self-contained HTML.

    The HTML has no code, works offline (plotly.js is inlined once), escapes every value from the
    evidence and redacts secrets unless `-p redact=false`. Unknown parameter names are an error.

    \b
    Example:
      incidentlab report --db demo-out/demo.duckdb --out reports/demo \\
          -p title="Runaway tool loop" -p display_tz=Europe/Berlin -p pivot=2026-03-01T09:10:00Z
    """
    from ..reports.paths import list_notebooks, notebook_path, resolve_db
    from ..reports.render import known_parameters, parse_parameters, render_report, shown_parameters

    stems = list_notebooks() if notebook == "all" else [notebook_path(notebook).stem]
    known = known_parameters(notebook_path(stems[-1]))
    if list_params:
        for name, info in known.items():
            console.print(f"[bold]{name}[/bold]: {info['inferred_type_name']} = {info['default']}"
                          f"  [dim]{info['help']}[/dim]", highlight=False)
        return
    values = parse_parameters(params, known)
    if "db" in values:
        raise UsageError("pass the database with --db, not -p db=...")
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
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@handle_errors
def batch_command(spec: str, out: str, jobs: int, as_json: bool) -> None:
    """Render a report for every incident listed in SPEC (YAML or TOML).

    A failing incident never stops the others; index.html lists each with status, severity and
    milestones. Exit 0 when all rendered, 1 when any failed.

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

    result = run_batch(spec, out, jobs=jobs, progress=step)
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
@_filter_options
@click.option("--no-redact", is_flag=True,
              help="Write secrets and e-mail addresses unmasked (every format is redacted by "
                   "default).")
@click.option("--redact", "redact_flag", is_flag=True, hidden=True,
              help="Accepted for old scripts: redaction is the default.")
@click.option("--rules", type=click.Path(exists=True, dir_okay=False),
              help="Rules file whose [redaction] patterns are masked too (default: the shipped "
                   "rules).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def export_command(db: str, fmt: str, out: str, no_redact: bool, redact_flag: bool,
                   rules: str | None, overwrite: bool, as_json: bool, **filters: Any) -> None:
    """Export a filtered slice of events with every canonical column.

    Secrets and e-mail addresses are masked in every format unless --no-redact; CSV and JSONL
    write control characters (ANSI escape sequences and the like) as visible \\xNN text.
    Events without a timestamp cannot go to Timesketch; they are counted, never dropped silently.
    """
    from ..reports.export import export_events

    if no_redact and redact_flag:
        raise UsageError("--redact and --no-redact contradict each other",
                         hint="drop one (redaction is the default)")
    result = export_events(db, fmt, Path(out), Filters.build(**filters), redact=not no_redact,
                           overwrite=overwrite, rules_path=rules)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(f"[green]wrote[/green] {result.rows} events to {result.path} ({fmt})",
                  highlight=False)
    if result.skipped_no_time:
        console.print(f"[yellow]{result.skipped_no_time} events without a timestamp were not "
                      "exported[/yellow] (Timesketch requires a datetime); use --format jsonl "
                      "to include them", highlight=False)


COMMANDS = [report_command, batch_command, export_command]
