"""Selecting the rows of N streams: the IN list inside the scan (`coalesce(x IN (...), false)`)
against the plain IN list DuckDB turns into a hash join, on generated events (the generator of
benchmarks/analysis.py), in the same process; and the form incidentlab.membership.one_of writes.

Usage: python benchmarks/membership.py [--events N] [--db PATH] [--sizes 10,100,1000,5000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import analysis as generator  # benchmarks/analysis.py: the event generator

from incidentlab.membership import SCANNED_ITEMS, one_of
from incidentlab.store import connect

COLUMNS = "system, source, stream, seq, ts, position, record_no, event_id, event_type, is_mirror"


def timed(con, where: str) -> tuple[float, int]:
    started = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TEMP TABLE picked AS SELECT {COLUMNS} FROM timeline_events "
                f"WHERE {where}")
    seconds = time.perf_counter() - started
    return seconds, con.execute("SELECT count(*) FROM picked").fetchall()[0][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, help="An existing generated database to reuse.")
    parser.add_argument("--sizes", default="10,100,1000,5000")
    args = parser.parse_args()
    folder = None if args.db else tempfile.TemporaryDirectory(prefix="il-bench-")
    db = args.db or Path(folder.name) / "bench.duckdb"
    if not db.exists():
        generator.generate(db, args.events)
    con = connect(db, read_only=True)
    streams = [r[0] for r in con.execute(
        "SELECT DISTINCT stream FROM events ORDER BY stream").fetchall()]
    [(events,)] = con.execute("SELECT count(*) FROM events").fetchall()
    print(f"{events:,} events, {len(streams):,} streams; one_of scans lists of up to "
          f"{SCANNED_ITEMS}\n")
    print("| streams | in the scan | plain IN (hash join) | scan / plain | one_of |")
    print("|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        items = [f"'{s}'" for s in streams[:size]]
        scanned, n_scanned = timed(con, f"coalesce(stream IN ({', '.join(items)}), false)")
        plain, n_plain = timed(con, f"stream IN ({', '.join(items)})")
        assert n_scanned == n_plain
        chosen = "scan" if one_of("stream", items).startswith("coalesce") else "plain"
        print(f"| {size:,} | {scanned:.2f} s | {plain:.2f} s | {scanned / plain:.1f}x | {chosen} |")


if __name__ == "__main__":
    main()
