"""`findings` (coded observations about agent runs, with their evidence) and `check` (a CI verdict)."""

from __future__ import annotations

import sys
from typing import Any

import click
import polars as pl

from .. import store
from ..analysis import findings as findings_mod
from ..redaction import Redactor
from ..scope import Scope
from .output import EXIT_PROBLEMS, console, handle_errors, json_ready, print_json, print_table
from .scope_options import DB_OPTION, JSON_OPTION, REDACT_OPTION, scope_options

LEVEL_CHOICE = click.Choice(list(findings_mod.LEVELS))


def _run(db: str, scope: Scope, detectors: tuple[str, ...], min_level: str | None) -> pl.DataFrame:
    con = store.connect(db, read_only=True)
    try:
        return findings_mod.find(con, scope, detectors=list(detectors) or None, min_level=min_level)
    finally:
        con.close()


def _json_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [json_ready(row) for row in frame.to_dicts()]


@click.command("findings")
@DB_OPTION
@click.option("--detector", "detectors", multiple=True, metavar="NAME",
              help="Only this detector (repeatable); `--detector list` names them.")
@click.option("--min-level", type=LEVEL_CHOICE, default=None,
              help="Only findings at this level or above.")
@REDACT_OPTION
@JSON_OPTION
@handle_errors
@scope_options
def findings_command(db: str, scope: Scope, detectors: tuple[str, ...], min_level: str | None,
                     no_redact: bool, as_json: bool) -> None:
    """Coded findings about agent runs: each with its MAST or TRAIL code, the link to the code's
    definition, its time and the ids of the events it cites (docs/findings.md).

    Loop findings (step repetition) carry the tokens, cost and time spent inside the loop, or
    "not in evidence" when the evidence holds none.
    """
    if "list" in detectors:
        rows = [{"detector": d.name, "code": d.code, "taxonomy": d.taxonomy, "level": d.level,
                 "finds": getattr(d, "description", d.code_name)} for d in findings_mod.DETECTORS]
        if as_json:
            print_json(rows)
        else:
            print_table(rows, ["detector", "code", "taxonomy", "level", "finds"], title="Detectors")
        return
    frame = _run(db, scope, detectors, min_level)
    shown = frame if no_redact else Redactor().frame(frame)
    if as_json:
        print_json({"scope": scope.to_dict(), "findings": _json_rows(shown)})
        return
    if shown.is_empty():
        console.print(f"No findings in scope ({scope.describe()}).", highlight=False)
        return
    print_table(finding_rows(shown), ["time", "level", "code", "run", "finding", "evidence", "link"],
                title=f"Findings ({scope.describe()})")


def finding_rows(shown: pl.DataFrame) -> list[dict[str, Any]]:
    """Findings as table rows: time, level, code, run, finding (with a loop's cost), evidence."""
    rows = []
    for row in shown.to_dicts():
        cost = ""
        if row["detector"] == "step_repetition":
            cost = (f"{row['tokens']:,} tokens" if row["tokens"] is not None
                    else "tokens not in evidence")
            cost += f", ${row['cost_usd']:.4f}" if row["cost_usd"] is not None else ", cost not in evidence"
            if row["duration_ms"] is not None:
                cost += f", {row['duration_ms'] / 1000:.0f} s"
        rows.append({
            "time": row["ts"].isoformat() if row["ts"] else "no time in evidence",
            "level": row["level"], "code": f"{row['taxonomy']} {row['code']}",
            "run": f"{row['system']} {row['stream'] or ''}".strip(),
            "finding": f"{row['title']}: {row['detail']}" + (f" [{cost}]" if cost else ""),
            "evidence": ", ".join(row["event_ids"][:6]) + (
                f" (+{len(row['event_ids']) - 6})" if len(row["event_ids"]) > 6 else ""),
            "link": row["code_url"],
        })
    return rows


def verdicts(frame: pl.DataFrame, fail_on: str) -> list[dict[str, Any]]:
    """One row per run (system, stream) with findings: counts per level and the verdict."""
    threshold = findings_mod.LEVEL_RANK[fail_on]
    out = []
    for (system, stream), group in frame.group_by(["system", "stream"], maintain_order=True):
        counts = {level: group.filter(pl.col("level") == level).height
                  for level in findings_mod.LEVELS}
        failing = any(counts[level] for level in findings_mod.LEVELS
                      if findings_mod.LEVEL_RANK[level] >= threshold)
        out.append({"system": system, "stream": stream, "verdict": "fail" if failing else "pass",
                    **counts})
    return sorted(out, key=lambda r: (r["verdict"] != "fail", r["system"] or "", r["stream"] or ""))


@click.command("check")
@DB_OPTION
@click.option("--fail-on", type=LEVEL_CHOICE, default="error", show_default=True,
              help="Exit non-zero when a run has a finding at this level or above.")
@click.option("--detector", "detectors", multiple=True, metavar="NAME",
              help="Only this detector (repeatable).")
@REDACT_OPTION
@JSON_OPTION
@handle_errors
@scope_options
def check_command(db: str, scope: Scope, fail_on: str, detectors: tuple[str, ...],
                  no_redact: bool, as_json: bool) -> None:
    """A health verdict for CI: one line per run with findings (verdict and counts per level);
    exits 1 when any run in scope has a finding at or above --fail-on, 0 otherwise.

    Runs without findings are not listed (nothing was found in them, which is not proof that
    nothing went wrong: the detectors read only what the evidence holds).
    """
    frame = _run(db, scope, detectors, None)
    rows = verdicts(frame, fail_on)
    if not no_redact:  # run ids are the only text shown; a stream named after a secret is masked
        redactor = Redactor()
        rows = [{**r, "stream": redactor.text(r["stream"])} for r in rows]
    failed = [r for r in rows if r["verdict"] == "fail"]
    if as_json:
        print_json({"scope": scope.to_dict(), "fail_on": fail_on,
                    "verdict": "fail" if failed else "pass", "runs": rows})
    else:
        for r in rows:
            counts = ", ".join(f"{r[level]} {level}" for level in findings_mod.LEVELS if r[level])
            console.print(f"{r['verdict'].upper():4}  {r['system']} {r['stream'] or ''}  {counts}",
                          highlight=False, soft_wrap=True)
        console.print(f"{'FAIL' if failed else 'PASS'}: {len(failed)} of {len(rows)} run(s) with "
                      f"findings have one at {fail_on} or above ({scope.describe()}).",
                      highlight=False, soft_wrap=True)
    if failed:
        sys.exit(EXIT_PROBLEMS)


COMMANDS = [findings_command, check_command]
