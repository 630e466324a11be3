"""`incidentlab demo`: write the bundle, ingest it, run the checks, render the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..ingest import IngestSummary, ingest
from . import Bundle, build_bundle
from .story import LOCAL_TZ


@dataclass
class DemoResult:
    bundle: Bundle
    db: Path
    summary: IngestSummary
    checks: dict[str, Any] = field(default_factory=dict)
    report: Path | None = None


def run_demo(out: Path, *, seed: int = 7, scale: int = 1, render: bool = True) -> DemoResult:
    out.mkdir(parents=True, exist_ok=True)
    bundle = build_bundle(out, seed=seed, scale=scale)
    db = out / "demo.duckdb"
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    summary = ingest([bundle.root / "evidence"], db, tz=LOCAL_TZ)
    result = DemoResult(bundle=bundle, db=db, summary=summary)
    result.checks = run_checks(db)
    if render:
        from ..reports.render import render_report  # heavy import (nbconvert): only when asked

        rendered = render_report(db, out / "report", {"incident_id": "demo",
                                                      "title": "Demo: provider rate-limit storm"})
        result.report = rendered.html
    return result


def run_checks(db: Path) -> dict[str, Any]:
    """The headline numbers of the analysis, as `incidentlab demo` prints them."""
    from ..analysis import classify, metrics, replay
    from ..store import connect

    con = connect(db, read_only=True)
    try:
        report = replay.check(con)
        alerts = metrics.evaluate_rules(con)
        verdict = classify.classify(con)
    finally:
        con.close()
    failed = report.verdicts.filter(~report.verdicts["passed"]).height
    levels = alerts["level"].value_counts() if alerts.height else None
    by_level = ", ".join(f"{n} {lvl}" for lvl, n in (levels.iter_rows() if levels is not None else []))
    modes = verdict.modes["mode"].head(3).to_list() if verdict.modes.height else []
    return {
        "replay": f"{failed} of {report.verdicts.height} streams fail "
                  f"({report.violations.height} violations)",
        "alerts": f"{alerts.height} fired ({by_level or 'none'}); `incidentlab alerts` lists them",
        "severity": verdict.severity_reason or "no failure mode matched",
        "modes": ", ".join(modes) or "none matched",
    }
