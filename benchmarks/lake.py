"""DuckDB over the Parquet lake against DuckDB over the database file: replay and alert rules on
the same generated events, and how the lake's cost grows from N to N x scale events.

Generates N events with the generator of benchmarks/analysis.py (imported, in a child process)
into a DuckDB file, writes it to a lake with `incidentlab lake write`, and prints per job the
best of --runs runs on (a) the file and (b) the lake, and the ratio lake/file. Replay runs as
the product runs it: on a lake, in batches of whole streams (lake/batches.py).

With --scale K (K > 1) it also appends K shifted copies of those events (new load, streams,
event ids and times each: K x N distinct events, written straight from the file into Parquet by
DuckDB COPY, chunk by chunk) to a large lake, and the first copy alone to a lake of N events of
the same shape (its keys carry the same suffixes). Linear growth means the large lake costs what
K runs over N events cost: per job, --runs-large rounds of K runs over the N-event copy back to
back, one run over the large lake, K runs over the copy again, each set in a fresh child process
(a process that has just held a large run's memory runs later ones slower). The K short runs
keep the machine busy as long as the large one: this machine runs sustained work a fifth or more
slower than short bursts (ten identical 10M-event replays in a row: 4.9 s first, 6.4 s last),
so one short run against a long one would pass that off as growth. Prints per round the time
per 10M events in both, their ratio (the growth: 1.0 is linear), the CPU time's ratio and the
peak RSS of each.
--spark adds Apache Spark on the N-event lake (`lake.connect(dir, "spark")`) and prints Spark/DuckDB.

Usage: python benchmarks/lake.py [--events N] [--scale K] [--runs 3] [--runs-large 1] [--spark]
                                 [--workdir DIR] [--keep]
The issue's case: --events 10000000 --scale 10 (needs ~25 GB under --workdir; check df -h).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
import analysis as generator  # benchmarks/analysis.py: the event generator and best-of-N

from incidentlab import lake, store
from incidentlab.analysis.metrics import evaluate_rules
from incidentlab.analysis.replay import check
from incidentlab.lake import batches
from incidentlab.lake.write import append

# As the product runs them (CLI and API): replay on a lake in batches of whole streams.
JOBS: dict[str, Callable[[Any], Any]] = {
    "replay": lambda con: check(con, parts=batches.parts(con)),
    "alerts": evaluate_rules,
}
TABLES = ["_loads", "events", "metrics", "_load_warnings"]


def make_db(db: Path, n: int) -> None:
    """N generated events plus the one `_loads` row the lake keys them by."""
    subprocess.run([sys.executable, generator.__file__, "--generate-only", "--db", str(db),
                    "--events", str(n)], check=True)
    con = store.connect(db)
    try:
        con.execute("INSERT INTO _loads (load_id, loader, system, path, sha256, status, event_rows) "
                    "SELECT 'bench', 'bench.generated', 'bench', ?, ?, 'ok', count(*) FROM events",
                    [str(db), hashlib.sha256(f"generated {n}".encode()).hexdigest()])
        con.execute("CHECKPOINT")
    finally:
        con.close()


def timed(func: Callable[[], Any]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def measure(con: Any, runs: int) -> dict[str, float]:
    out = {}
    for job, run in JOBS.items():
        out[job], _result = generator.best(lambda run=run: run(con), runs)
        print(f"    {job}: {out[job]:.2f} s", flush=True)
    return out


def append_shifted(db: Path, out: Path, chunk: int, n: int) -> None:
    """Chunk `chunk` of the large lake: the file's events as a new load, new streams and ids,
    shifted past the chunks before it; DuckDB writes them straight into Parquet."""
    con = duckdb.connect(config=dict(store.NO_EXTENSION_DOWNLOADS))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"ATTACH '{db}' AS src (READ_ONLY)")
        tag = f"c{chunk:03d}"
        shift = f"to_microseconds({chunk * n * 50_000})"  # the generator's 50 ms apart
        replaced = {"event_id": f"'{tag}-' || event_id", "load_id": f"'bench-{tag}'",
                    "stream": f"stream || '-{tag}'", "correlation_id": f"correlation_id || '-{tag}'",
                    "ts": f"ts + {shift}"}
        columns = [c for c, _t in store.EVENT_COLUMNS]
        select = ", ".join(f"{replaced.get(c, c)} AS {c}" for c in columns)
        con.execute(f"CREATE TEMP VIEW events AS SELECT {select} FROM src.events")
        con.execute("CREATE TEMP VIEW metrics AS SELECT * FROM src.metrics")
        con.execute("CREATE TEMP VIEW _load_warnings AS SELECT * FROM src._load_warnings")
        con.execute(f"CREATE TEMP VIEW _loads AS SELECT * REPLACE ('bench-{tag}' AS load_id, "
                    f"sha256 || '-{tag}' AS sha256) FROM src._loads")
        append(con, out, source=f"{db} shifted as {tag}", tables=TABLES)
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--scale", type=int, default=1, help="Also a lake of events x scale.")
    parser.add_argument("--runs", type=int, default=3, help="Best of this many runs per job.")
    parser.add_argument("--runs-large", type=int, default=1,
                        help="Rounds per job of (K x N, large, K x N) for the growth.")
    parser.add_argument("--spark", action="store_true", help="Also Spark on the N-event lake.")
    parser.add_argument("--workdir", type=Path, help="Folder for the database and lakes.")
    parser.add_argument("--keep", action="store_true", help="Keep the database and the lakes.")
    parser.add_argument("--time-job", choices=list(JOBS), help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time_job:
        time_job(args.time_job, args.lake, args.repeat)
        return
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="il-lake-bench-", dir=args.workdir))
    n = args.events
    db, small, large = work / "bench.duckdb", work / "lake", work / "lake-large"
    try:
        print(f"{n:,} generated events -> {db}")
        print(f"  generated in {timed(lambda: make_db(db, n)):.1f} s "
              f"({db.stat().st_size / 2**20:,.0f} MiB)")
        print(f"  lake written in {timed(lambda: lake.write_lake(db, small)):.1f} s "
              f"({sum(p.stat().st_size for p in small.rglob('*.parquet')) / 2**20:,.0f} MiB, "
              f"{len(list((small / 'events').rglob('*.parquet')))} event files)")
        print(f"best of {args.runs} runs\n  (a) DuckDB over the file")
        con = store.connect(db, read_only=True)
        try:
            on_file = measure(con, args.runs)
        finally:
            con.close()
        print("  (b) DuckDB over the lake")
        con = lake.connect(small, "duckdb")
        try:
            on_lake = measure(con, args.runs)
        finally:
            con.close()
        rows = [(job, on_file[job], on_lake[job]) for job in JOBS]
        print(f"\n| job ({n:,} events) | DuckDB file | DuckDB lake | lake/file |\n|---|---|---|---|")
        for job, a, b in rows:
            print(f"| {job} | {a:.2f} s | {b:.2f} s | {b / a:.2f}x |")
        if args.spark:
            spark_vs(small, on_lake, args.runs)
        if args.scale > 1:
            grow(db, large, n, args.scale, args.runs_large)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"\npeak RSS of this process: {peak:.2f} GiB")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def grow(db: Path, large: Path, n: int, scale: int, runs_large: int) -> None:
    """Per job and round: `scale` runs over the N-event copy, one over the large lake, `scale`
    over the copy again, each set in its own child process; the growth divides the large run by
    the mean of the two sets around it."""
    total = n * scale
    copy = large.parent / "lake-first-copy"
    print(f"\n{total:,} events: {scale} shifted copies appended to {large}")
    started = time.perf_counter()
    for chunk in range(scale):
        seconds = timed(lambda chunk=chunk: append_shifted(db, large, chunk, n))
        print(f"  chunk {chunk + 1}/{scale} appended in {seconds:.1f} s", flush=True)
    size = sum(p.stat().st_size for p in large.rglob("*.parquet")) / 2**30
    print(f"  written in {time.perf_counter() - started:.0f} s ({size:.1f} GiB)")
    append_shifted(db, copy, 0, n)
    print(f"  the first copy alone -> {copy}; per job {runs_large} round(s) of: {scale} runs over "
          f"{n:,} events, 1 over {total:,}, {scale} over {n:,}, each set in a child process")
    per = 10_000_000
    rows = []
    for job in JOBS:
        for round_no in range(1, runs_large + 1):
            before, big, after = (child(job, copy, scale), child(job, large, 1),
                                  child(job, copy, scale))
            print(f"    {job} round {round_no}: {scale} x {n:,} {before['wall']:.2f} s, "
                  f"{total:,} {big['wall']:.2f} s, {scale} x {n:,} {after['wall']:.2f} s", flush=True)
            rows.append((job, round_no, before, big, after))
    print(f"\n| job | round | per 10M, {scale} runs of {n:,} (before, after) | per 10M, one run of "
          f"{total:,} | growth | CPU growth | peak RSS, {n:,} / {total:,} |\n"
          "|---|---|---|---|---|---|---|")
    for job, round_no, before, big, after in rows:
        small_rate = (before["wall"] + after["wall"]) / 2 * per / total
        large_rate = big["wall"] * per / total
        cpu = big["cpu"] / ((before["cpu"] + after["cpu"]) / 2)
        print(f"| {job} | {round_no} | {small_rate:.2f} s ({before['wall'] * per / total:.2f}, "
              f"{after['wall'] * per / total:.2f}) | {large_rate:.2f} s | "
              f"{large_rate / small_rate:.2f}x | {cpu:.2f}x | "
              f"{max(before['rss'], after['rss']):.2f} / {big['rss']:.2f} GiB |")


def child(job: str, lake_dir: Path, repeat: int) -> dict[str, float]:
    """`repeat` runs of a job on a lake, back to back in a fresh process: their wall and CPU
    seconds in all, and the process's peak RSS (GiB)."""
    done = subprocess.run([sys.executable, __file__, "--time-job", job, "--lake", str(lake_dir),
                           "--repeat", str(repeat)], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def time_job(job: str, lake_dir: Path, repeat: int) -> None:
    con = lake.connect(lake_dir, "duckdb")
    # Window functions over many rows may not fit in memory: DuckDB spills next to the lake.
    con.execute(f"SET temp_directory = '{lake_dir.parent / 'spill'}'")
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(repeat):
        JOBS[job](con)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    print(json.dumps({"wall": wall, "cpu": cpu, "rss": peak_rss()}))


def peak_rss() -> float:
    """This process's peak RSS in GiB since it started (VmHWM: ru_maxrss would count the memory
    of the parent it was forked from)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def spark_vs(small: Path, on_lake: dict[str, float], runs: int) -> None:
    print("\n  (c) Spark over the lake")
    try:
        started = time.perf_counter()
        con = lake.connect(small, "spark")
    except Exception as exc:  # report and go on: the DuckDB numbers stand on their own
        print(f"    not available: {exc}")
        return
    print(f"    session and views in {time.perf_counter() - started:.1f} s")
    try:
        on_spark = measure(con, runs)
    finally:
        close = getattr(con, "close", None)
        if close is not None:
            close()
    print("\n| job | DuckDB lake | Spark lake | Spark/DuckDB |\n|---|---|---|---|")
    for job in JOBS:
        print(f"| {job} | {on_lake[job]:.2f} s | {on_spark[job]:.2f} s | "
              f"{on_spark[job] / on_lake[job]:.1f}x |")


if __name__ == "__main__":
    main()
