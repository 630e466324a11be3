"""Time one postmortem render, and the speed-up of `batch --jobs 2` over `--jobs 1`.

Usage: .venv/bin/python benchmarks/render.py [--db demo-out/demo.duckdb] [--incidents 4]
(`make demo` builds the database first.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

from incidentlab.errors import IncidentLabError
from incidentlab.reports.batch import run_batch
from incidentlab.reports.paths import resolve_db
from incidentlab.reports.render import render_report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="demo-out/demo.duckdb")
    parser.add_argument("--incidents", type=int, default=4)
    args = parser.parse_args()
    try:
        db = resolve_db(args.db)
    except IncidentLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        result = render_report(db, root / "one", {"incident_id": "bench"})
        one = time.perf_counter() - started
        size_mb = result.html.stat().st_size / 1e6
        print(f"one report (05_postmortem): {one:.1f}s wall, {result.seconds:.1f}s in "
              f"papermill+nbconvert, HTML {size_mb:.1f} MB")
        zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]
        spec = root / "spec.yaml"
        spec.write_text(yaml.safe_dump({
            "defaults": {"db": str(db)},
            "incidents": [{"incident_id": f"inc-{n}", "display_tz": zones[n % len(zones)]}
                          for n in range(args.incidents)],
        }))
        timings = {}
        for jobs in (1, 2):
            batch = run_batch(spec, root / f"jobs{jobs}", jobs=jobs)
            if batch.failed:
                print(f"error: {len(batch.failed)} incidents failed: {batch.failed[0].error}",
                      file=sys.stderr)
                return 1
            timings[jobs] = batch.seconds
            print(f"batch of {args.incidents} with --jobs {jobs}: {batch.seconds:.1f}s "
                  f"({batch.seconds / args.incidents:.1f}s per incident)")
        print(f"speed-up of --jobs 2 over --jobs 1: {timings[1] / timings[2]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
