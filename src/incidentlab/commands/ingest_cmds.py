"""`ingest`, `detect`, `loaders` and `info`: getting evidence in and seeing what is there."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import IngestStopped
from ..info import database_info, redacted
from ..ingest import IngestSummary, detect_paths, ingest
from ..loaders import all_loaders
from ..loaders.generic.fields import MAPPING_ENV
from ..redaction import make_redactor
from .output import EXIT_OK, EXIT_PROBLEMS, console, err_console, handle_errors, print_json, print_table
from .scope_options import DB_OPTION
from .usage_cmds import usage_row


def complete_loaders(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion for --loader: the registered loaders' names (plugins included)."""
    from click.shell_completion import CompletionItem

    try:
        loaders = all_loaders()
    except Exception:  # completion must never fail loudly
        return []
    return [CompletionItem(loader.name, help=loader.description) for loader in loaders
            if loader.name.startswith(incomplete)]


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=False))
@DB_OPTION
@click.option("--loader", "loader_name", shell_complete=complete_loaders,
              help="Use this loader for every file (see `loaders`).")
@click.option(
    "--tz",
    help="IANA zone for sources that write naive local times (e.g. Tapps logs). "
    "Without it such files are reported, never guessed.",
)
@click.option(
    "--year", type=click.IntRange(1970, 9999),
    help="Year of text-log times written without one (syslog `Dec 10 06:55:46`); by default "
    "it comes from the file's mtime and the records around each time.",
)
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False),
    help="TOML field mapping for generic JSON/CSV logs (same as INCIDENTLAB_MAPPING=FILE; "
    "default: incidentlab-mapping.toml beside the data, else common field names).",
)
@click.option("--force", is_flag=True, help="Reload files already ingested (replaces their rows).")
@click.option(
    "--strict", is_flag=True, help="Exit 1 when any record was quarantined or any file unclaimed."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@handle_errors
def ingest_command(
    paths: tuple[str, ...],
    db: str,
    loader_name: str | None,
    tz: str | None,
    year: int | None,
    mapping: str | None,
    force: bool,
    strict: bool,
    as_json: bool,
) -> None:
    """Load evidence files and folders into the incident database.

    Each file goes to the loader that claims it (see `detect`), in its own transaction: a bad file
    never aborts the others, malformed records are quarantined with their line number, and files
    already ingested (same sha256) are skipped. Exit 0 when all went in, 1 when a file failed or
    needs --tz (or, with --strict, anything was quarantined or unclaimed), 2 on bad usage.
    """
    if mapping:
        # Detection reads the mapping too (it decides what looks like a log), so it is process-wide.
        os.environ[MAPPING_ENV] = str(Path(mapping).resolve())
    show_progress = sys.stderr.isatty() and not as_json
    if show_progress:
        with Progress(
            TextColumn("[bold]ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            transient=True,
            console=err_console,
        ) as bar:
            task = bar.add_task("", total=None)

            def step(done: int, total: int, path: str) -> None:
                bar.update(task, completed=done, total=total, description=path[-60:])

            summary, stopped = _run(paths, db, loader_name, tz, force, step, year)
    else:
        summary, stopped = _run(paths, db, loader_name, tz, force, None, year)
    # --strict means the same on every run: the files given, as the database holds them now
    # (a re-run of unchanged files quarantines nothing new, but their quarantine is still there).
    held = _quarantined_in(db, summary) if strict and not stopped else 0
    if as_json:
        print_json({**summary.to_dict(), **({"stopped": str(stopped)} if stopped else {}),
                    **({"strict": {"quarantined_in_db": held}} if strict else {})})
    else:
        _print_summary(summary, paths)
        if held:
            console.print(f"[red]strict:[/red] {held} quarantined record(s) of these files are "
                          "in the database (`incidentlab info` lists them)", highlight=False)
    if stopped:
        err_console.print(f"[red]error:[/red] {stopped}", highlight=False, soft_wrap=True)
        sys.exit(stopped.exit_code)
    failed = not summary.ok
    strict_fail = strict and (held > 0 or bool(summary.unclaimed))
    sys.exit(EXIT_PROBLEMS if failed or strict_fail else EXIT_OK)


def _run(paths: tuple[str, ...], db: str, loader: str | None, tz: str | None, force: bool,
         step: Any, year: int | None = None) -> tuple[IngestSummary, IngestStopped | None]:
    """The summary, and why the run stopped early (Ctrl-C, disk full) if it did."""
    try:
        return ingest(paths, db, loader=loader, tz=tz, force=force, progress=step,
                      year=year), None
    except IngestStopped as stopped:
        return stopped.summary, stopped  # type: ignore[return-value]


def _quarantined_in(db: str, summary: IngestSummary) -> int:
    """Quarantined records of every file named in this run, including unchanged ones."""
    info = database_info(db)
    paths = {f.path for f in summary.files}
    return sum(load["quarantined"] or 0 for load in info["loads"] if load["path"] in paths)


def _short(path: str, roots: list[str]) -> str:
    for root in roots:
        if path.startswith(root):
            return path[len(root):].lstrip("/") or path
    return path


def _print_summary(summary: IngestSummary, paths: tuple[str, ...]) -> None:
    roots = [str(Path(p).resolve().parent if Path(p).is_file() else Path(p).resolve()) for p in paths]
    rows = [
        {
            "file": _short(f.path, roots),
            "loader": f.loader,
            "status": f.status,
            "events": f.event_rows,
            "other rows": f.metric_rows + sum(f.table_rows.values()) or None,
            "quarantined": f.quarantined or None,
        }
        for f in summary.files
    ]
    if rows:
        print_table(rows, list(rows[0]), title="Ingested files")
    for f in summary.files:
        if f.status in ("failed", "needs_tz", "unreadable", "not_loaded"):
            console.print(f"[red]{f.status}[/red] {_short(f.path, roots)}: {f.message}", highlight=False)
    totals = summary.to_dict()["totals"]
    console.print(
        f"[bold]{totals['loaded']}[/bold] loaded, {totals['unchanged']} unchanged, "
        f"[{'red' if totals['failed'] else 'green'}]{totals['failed']} failed[/], "
        f"{totals['event_rows']} events, {totals['quarantined']} quarantined, "
        f"{totals['unclaimed']} unclaimed, "
        f"[{'red' if totals['unreadable'] else 'green'}]{totals['unreadable']} unreadable[/]"
        f"{', ' + str(totals['not_loaded']) + ' not loaded' if totals['not_loaded'] else ''}; "
        "time range "
        f"{totals['ts_min'] or '-'} .. {totals['ts_max'] or '-'} (UTC)",
        highlight=False,
    )
    if summary.quarantined:
        console.print("  quarantined records: `incidentlab info --db DB` lists them with line numbers")
    if summary.unclaimed:
        console.print("[yellow]No loader claimed these files:[/yellow]")
        for path in summary.unclaimed:
            reason = summary.unclaimed_reasons.get(path)
            console.print(f"  {_short(path, roots)}" + (f": {reason}" if reason else ""),
                          highlight=False)
        console.print("  (force one with --loader NAME; list loaders with `incidentlab loaders`)")
    if summary.unreadable:
        console.print("[red]Could not be read (check permissions and links):[/red]")
        for line in summary.unreadable:
            console.print(f"  {line}", highlight=False)
    console.print(f"database: {summary.db}", highlight=False)


@click.command("detect")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def detect_command(paths: tuple[str, ...], as_json: bool) -> None:
    """Show which loader claims each file (or why none does), without loading anything."""
    report = detect_paths(paths)
    if as_json:
        print_json(report)
        return
    rows: list[dict[str, Any]] = []
    for item in report:
        if item.get("companion"):
            claim = "(SQLite companion, read with its database)"
        else:
            claim = ", ".join(item["loaders"]) or f"UNCLAIMED: {item['reason']}"
        rows.append({"file": item["path"], "loader": claim})
    print_table(rows, ["file", "loader"], title="Detection (first loader wins)")


@click.command("loaders")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def loaders_command(as_json: bool) -> None:
    """List the registered loaders in detection order (built-ins, then plugins)."""
    rows = [
        {
            "name": loader.name,
            "system": loader.system,
            "source": loader.source,
            "version": loader.version,
            "description": loader.description,
        }
        for loader in all_loaders()
    ]
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["name", "system", "source", "version", "description"], title="Loaders")


@click.command("info")
@DB_OPTION
@click.option("--no-redact", is_flag=True,
              help="Show quarantined records and errors unmasked (secrets included).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def info_command(db: str, no_redact: bool, as_json: bool) -> None:
    """Summarize an incident database: sources, time coverage per system, quarantine.

    Quarantined records and load errors are redacted like every other output."""
    info = redacted(database_info(db), None if no_redact else make_redactor(True))
    if as_json:
        print_json(info)
        return
    console.print(
        f"[bold]{db}[/bold]  schema v{info['schema_version']}, {info['events']} events "
        f"({info['mirror_events']} mirror copies), {info['metrics']} metrics, "
        f"{info['quarantined']} quarantined records",
        highlight=False,
    )
    print_table(info["systems"], ["system", "events", "streams", "ts_min", "ts_max",
                                  "mtime_events"],
                title="Coverage per system (UTC; times from file mtime excluded)")
    if info["usage"]:
        print_table([usage_row(row) for row in info["usage"]],
                    ["system", "total_tokens", "cost_usd", "points", "files"],
                    title="Usage per system (each call once; `incidentlab usage` per session)")
    print_table(info["loads"], ["loader", "path", "records_read", "event_rows", "quarantined",
                                "status"], title="Loads")
    if info["mtime_files"]:
        print_table(info["mtime_files"], ["path", "system", "events", "mtime"],
                    title="Event times taken from file mtime (not evidence of when; a copy "
                          "without `cp -p` moves them; left out of time ranges)")
    for load in info["loads"]:
        if load["status"] != "ok":
            console.print(f"[red]{load['status']}[/red] {load['path']}: {load.get('error')}",
                          highlight=False)
    if info["warnings"]:
        print_table(info["warnings"], ["source_path", "record_no", "reason", "raw"],
                    title="Quarantined records (first 20)")


COMMANDS = [ingest_command, detect_command, loaders_command, info_command]
