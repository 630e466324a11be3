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
    return DemoResult(bundle=bundle, db=db, summary=summary)
