"""`demo`: build, ingest and check the embedded demo incident."""

from __future__ import annotations

from pathlib import Path

import click

from ..demo.run import run_demo
from .output import console, handle_errors, print_json


@click.command("demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              show_default=True, help="Folder for the bundle, the database and the report.")
@click.option("--seed", type=int, default=7, show_default=True, help="Randomness of the story.")
@click.option("--scale", type=int, default=1, show_default=True,
              help="Multiplies the background traffic; the planted anomalies stay the same.")
@click.option("--no-report", is_flag=True, help="Skip rendering the HTML postmortem.")
@click.option("--json", "as_json", is_flag=True, help="Print what was made as JSON.")
@handle_errors
def demo_command(out: Path, seed: int, scale: int, no_report: bool, as_json: bool) -> None:
    """Write a realistic multi-system incident, ingest it and show where everything is.

    The bundle holds the artifacts of CodingBuddy, Jido.Code.Server, coding-loops,
    curriculum-builder and TappsCodingAgents in their on-disk formats, plus manifest.json: the
    ground truth of what was planted (replay violations, alerts, failure modes, secrets).
    """
    result = run_demo(out, seed=seed, scale=scale, render=not no_report)
    totals = result.summary.to_dict()["totals"]
    made = {
        "bundle": str(result.bundle.root / "evidence"),
        "manifest": str(result.bundle.manifest_path),
        "database": str(result.db),
        "ingest": totals,
        "unclaimed": result.summary.unclaimed,
        "checks": result.checks,
        "report": str(result.report) if result.report else None,
    }
    if as_json:
        print_json(made)
        return
    console.print(f"[bold]Demo incident[/bold] (seed {seed}, scale {scale})")
    console.print(f"  evidence : {made['bundle']}", highlight=False)
    console.print(f"  manifest : {made['manifest']}", highlight=False)
    console.print(
        f"  database : {made['database']}  ({totals['event_rows']} events from "
        f"{totals['loaded']} files, {totals['quarantined']} quarantined, "
        f"{totals['unclaimed']} unclaimed, {totals['failed']} failed)", highlight=False)
    for name, value in result.checks.items():
        console.print(f"  {name:<9}: {value}", highlight=False)
    if result.report:
        console.print(f"  report   : {result.report}", highlight=False)
    console.print(f"Next: incidentlab info --db {made['database']}", highlight=False)


COMMANDS = [demo_command]
