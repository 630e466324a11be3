"""Report render time on the demo and on a ~1M-event database, in the same run; the batch speed-up.

Builds the demo database (`incidentlab demo`'s bundle, ingested) and a copy of it with --events
generated canonical events added (benchmarks/analysis.py's generator: 5 systems, 1000-event
streams, failures sprinkled through 14 hours, so the largest incident holds them all). Renders
each notebook on both, alternating, best of --runs, and prints the times and their ratio; then
times every section of the postmortem in-process on both (where a render spends its time), and
`batch --jobs 2` against `--jobs 1` on the demo. The last line is the README's performance row.
Usage: .venv/bin/python benchmarks/render.py [--events 1000000] [--runs 2] [--notebooks all]
       [--incidents 4] [--keep DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

from incidentlab.demo.run import run_demo
from incidentlab.reports import sections
from incidentlab.reports.batch import run_batch
from incidentlab.reports.paths import notebook_path
from incidentlab.reports.render import render_report
from incidentlab.store import connect

NOTEBOOKS = ["01_overview", "02_timeline", "03_replay", "04_alerts", "05_postmortem"]
HERE = Path(__file__).resolve().parent
# no per-cell lines (and still runnable against a checkout from before `progress`)
QUIET = {"progress": False} if "progress" in inspect.signature(render_report).parameters else {}


def generator() -> str:
    """benchmarks/analysis.py's GENERATE statement (one generator for both benchmarks)."""
    spec = importlib.util.spec_from_file_location("bench_analysis", HERE / "analysis.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.GENERATE


def build(root: Path, n: int) -> tuple[Path, Path]:
    """The demo database and a copy with `n` generated events added."""
    demo = run_demo(root / "demo", render=False).db
    big = root / "big.duckdb"
    shutil.copy(demo, big)
    con = connect(big)
    try:
        con.execute(generator(), {"n": n, "streams": max(n // 1000, 1)})
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return demo, big


def events(db: Path) -> int:
    con = connect(db, read_only=True)
    try:
        return con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    finally:
        con.close()


def render_times(dbs: dict[str, Path], notebook: str, runs: int, out: Path) -> dict[str, float]:
    """Best of `runs` wall times of one notebook per database, the databases alternating."""
    best = {name: float("inf") for name in dbs}
    for run in range(runs):
        for name, db in dbs.items():
            started = time.perf_counter()
            render_report(db, out / f"{name}-{notebook}-{run}", {"incident_id": "bench"},
                          notebook=notebook, **QUIET)
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def section_times(db: Path, notebook: str = "05_postmortem") -> list[tuple[str, float]]:
    """Seconds of `context` and of each section call of the notebook, in-process."""
    cells = json.loads(notebook_path(notebook).read_text())["cells"]
    calls = ["".join(c["source"]).strip() for c in cells if c["cell_type"] == "code"]
    names = [c.split("(")[0].removeprefix("sections.") for c in calls if c.startswith("sections.")]
    started = time.perf_counter()
    ctx = sections.context(db=str(db))
    times = [("context", time.perf_counter() - started)]
    try:
        for name in names:
            started = time.perf_counter()
            result = getattr(sections, name)(ctx)
            if hasattr(result, "_repr_mimebundle_"):
                result._repr_mimebundle_()
            times.append((name, time.perf_counter() - started))
    finally:
        ctx.con.close()
    return times


def batch_speedup(db: Path, root: Path, incidents: int) -> dict[int, float]:
    zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "defaults": {"db": str(db)},
        "incidents": [{"incident_id": f"inc-{n}", "display_tz": zones[n % len(zones)]}
                      for n in range(incidents)],
    }))
    timings = {}
    for jobs in (1, 2):
        result = run_batch(spec, root / f"jobs{jobs}", jobs=jobs)
        if result.failed:
            raise SystemExit(f"error: {len(result.failed)} incidents failed: "
                             f"{result.failed[0].error}")
        timings[jobs] = result.seconds
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2, help="Best of this many renders.")
    parser.add_argument("--notebooks", default="all",
                        help="Comma-separated notebook names, or all.")
    parser.add_argument("--incidents", type=int, default=4,
                        help="Batch size for the --jobs comparison (0: skip it).")
    parser.add_argument("--keep", type=Path, help="Build (or reuse) the databases in this folder.")
    args = parser.parse_args()
    notebooks = NOTEBOOKS if args.notebooks == "all" else [
        n.strip() for n in args.notebooks.split(",") if n.strip()]
    folder = None if args.keep else tempfile.TemporaryDirectory(prefix="il-render-")
    root = args.keep or Path(folder.name)
    root.mkdir(parents=True, exist_ok=True)
    if (root / "big.duckdb").exists() and (root / "demo" / "demo.duckdb").exists():
        demo, big = root / "demo" / "demo.duckdb", root / "big.duckdb"
    else:
        started = time.perf_counter()
        demo, big = build(root, args.events)
        print(f"built the databases in {time.perf_counter() - started:.1f} s")
    dbs = {"demo": demo, "big": big}
    sizes = {name: events(db) for name, db in dbs.items()}
    print(f"demo: {sizes['demo']:,} events; big: {sizes['big']:,} events (the demo plus "
          f"generated ones); best of {args.runs} renders each, alternating")
    print()
    print("| notebook | demo | big | ratio |")
    print("|---|---|---|---|")
    results = {}
    for notebook in notebooks:
        best = render_times(dbs, notebook, args.runs, root / "out")
        results[notebook] = best
        print(f"| {notebook} | {best['demo']:.1f} s | {best['big']:.1f} s | "
              f"{best['big'] / best['demo']:.2f}x |", flush=True)
    print()
    print("postmortem sections in-process (seconds; context = parameters, snapshot, incidents):")
    profile = {name: dict(section_times(db)) for name, db in dbs.items()}
    ranked = sorted(profile["big"], key=lambda k: -profile["big"][k])
    for name in ranked:
        print(f"  {name:<16} demo {profile['demo'][name]:6.2f}  big {profile['big'][name]:6.2f}")
    print(f"  {'total':<16} demo {sum(profile['demo'].values()):6.2f}  "
          f"big {sum(profile['big'].values()):6.2f}")
    speedup = ""
    if args.incidents:
        timings = batch_speedup(demo, root, args.incidents)
        for jobs, seconds in timings.items():
            print(f"batch of {args.incidents} (demo) with --jobs {jobs}: {seconds:.1f} s")
        speedup = (f"; batch of {args.incidents}: `--jobs 2` is {timings[1] / timings[2]:.1f}x "
                   "faster than `--jobs 1`")
    if "05_postmortem" in results:
        pm = results["05_postmortem"]
        print()
        print(f"| one postmortem render; batch of {args.incidents} | demo "
              f"({sizes['demo']:,} events) {pm['demo']:.1f} s, {sizes['big']:,} events "
              f"{pm['big']:.1f} s ({pm['big'] / pm['demo']:.2f}x; target 2x){speedup}. "
              "`benchmarks/render.py` |")
    if folder is not None:
        folder.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
