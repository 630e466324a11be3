"""Ingest rate of a 1M-event CodingBuddy events.jsonl against a bare DuckDB read_json, same run.

Usage: python benchmarks/ingest_codingbuddy.py [--events N] [--runs N] [--keep DIR] [--parts]
Target (DESIGN §9): ingest rate >= 0.5 x the bare read_json rate, peak RSS <= 1.5 GiB at 5M events.
Bare, ingest and the write floor take turns in this process; each figure is the best of --runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import duckdb

from incidentlab.ingest import file_sha256, ingest
from incidentlab.loaders.base import LoadContext
from incidentlab.loaders.codingbuddy.events import EventsJsonlLoader
from incidentlab.store import EVENT_COLUMNS, connect

KINDS = ["ChatTurn", "ToolProposed", "ToolApproved", "ToolResult", "UsageUpdated"]


def write_events(path: Path, count: int, seed: int = 7) -> None:
    """Interleaved sessions, ~350 bytes a line, the JSONL shape of FORMATS §1.1."""
    rng = random.Random(seed)
    sessions = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(50)]
    seq = dict.fromkeys(sessions, 0)
    filler = "x" * 150
    with path.open("w") as out:
        for i in range(count):
            session = sessions[rng.randrange(len(sessions))]
            seq[session] += 1
            kind = KINDS[i % len(KINDS)]
            invocation = str(uuid.UUID(int=rng.getrandbits(128)))
            payload = {
                "ChatTurn": {"message": {"role": "assistant", "content": filler}},
                "ToolProposed": {"proposal": {"invocation_id": invocation, "call": {
                    "name": "bash.run", "args": {"cmd": filler[:100]}, "requires_approval": True},
                    "approved": True}},
                "ToolApproved": {"invocation_id": invocation, "note": filler},
                "ToolResult": {"result": {"invocation_id": invocation, "success": True,
                                          "output": {"stdout": filler}}},
                "UsageUpdated": {"unit": {"Model": "deepseek-chat"}, "model": "deepseek-chat",
                                 "input_tokens": 5120, "cache_hit_tokens": 4096,
                                 "cache_miss_tokens": 1024, "output_tokens": 310, "pad": filler},
            }[kind]
            seconds = i // 100
            at = f"2026-03-01T{9 + seconds // 3600 % 12:02d}:{seconds // 60 % 60:02d}:" \
                 f"{seconds % 60:02d}.{i % 1000000:06d}Z"
            out.write(json.dumps({"seq_no": seq[session], "at": at, "session_id": session,
                                  "kind": {"type": kind, "payload": payload}},
                                 separators=(",", ":")) + "\n")


def bare_read_json(path: Path, db: Path) -> float:
    con = duckdb.connect(str(db))
    start = time.perf_counter()
    con.execute(
        "CREATE TABLE raw AS SELECT * FROM read_json(?, format='newline_delimited', "
        "columns={'seq_no': 'UBIGINT', 'at': 'VARCHAR', 'session_id': 'VARCHAR', 'kind': 'JSON'})",
        [str(path)],
    )
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def _mb(path: Path) -> int:
    return round(path.stat().st_size / 1e6)


def write_floor(ingested: Path, db: Path, drop: tuple[str, ...] = ()) -> float:
    """Seconds to only write the ingest's finished rows (already projected, held in memory),
    less the columns in `drop` (left NULL).

    No ingest of this file can beat it, so bare / floor bounds the reachable ratio from above.
    """
    con = connect(db)  # the store's own events table, its column compression included
    kept = ", ".join(f'"{name}"' for name, _type in EVENT_COLUMNS if name not in drop)
    con.execute("ATTACH ? AS done (READ_ONLY)", [str(ingested)])
    con.execute(f"CREATE TEMP TABLE finished AS SELECT {kept} FROM done.events")
    con.execute("DETACH done")
    con.execute("SET preserve_insertion_order = false")  # as the ingest writes big files
    start = time.perf_counter()
    con.execute(f"INSERT INTO events ({kept}) SELECT * FROM finished")
    con.execute("CHECKPOINT")
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def floor_in_child(ingested: Path, db: Path, drop: list[str] | None = None) -> float:
    """write_floor in a child process: the rows it holds in memory are not this process's RSS."""
    return float(subprocess.run(
        [sys.executable, __file__, "--floor-of", str(ingested), str(db),
         *(["--drop", ",".join(drop)] if drop else [])],
        check=True, capture_output=True, text=True).stdout)


# Columns that hold one value per load or a handful of values per file: what writing them costs
# is DuckDB's per-column cost of appending and compressing, not their bytes.
LOW_CARDINALITY = ["load_id", "system", "source", "source_path", "ts_quality", "project",
                   "event_type", "event_type_raw", "actor", "name", "outcome", "severity",
                   "duration_ms", "error_code", "error_category", "is_mirror"]


def parts(source: Path, ingested: Path, runs: int) -> list[tuple[str, float]]:
    """(part, best seconds) of where an ingest of `source` spends its time, each timed alone."""
    con = connect(ingested.parent / "parts.duckdb")
    ctx = LoadContext(con, source)
    columns = [name for name, _type in EVENT_COLUMNS]

    def project() -> None:  # every canonical column the loader projects, into a count sink
        events = EventsJsonlLoader().load(ctx).events
        counts = ", ".join(f'count("{c}")' for c in events.columns)
        events.aggregate(counts).fetchall()

    def write(keep: list[str]) -> float:
        return floor_in_child(ingested, ingested.parent / "part.duckdb",
                              [c for c in columns if c not in keep])

    timed = {
        "sha256 of the file (before the insert starts)": lambda: file_sha256(source),
        "read, parse and project the lines, not written": project,
    }
    out = []
    for what, call in timed.items():
        best = float("inf")
        for _ in range(runs):
            started = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - started)
        out.append((what, best))
    con.close()
    out.append(("write only attrs (the whole line, zstd)", min(write(["attrs"]) for _ in range(runs))))
    out.append((f"write only the {len(LOW_CARDINALITY)} constant or low-cardinality columns",
                min(write(LOW_CARDINALITY) for _ in range(runs))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="best of this many (default 3)")
    parser.add_argument("--keep", type=Path, help="write files here instead of a temp folder")
    parser.add_argument("--parts", action="store_true",
                        help="also time the parts of an ingest alone (sha256, parsing, columns written)")
    parser.add_argument("--floor-of", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--drop", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_of:
        print(write_floor(*args.floor_of, drop=tuple(filter(None, args.drop.split(",")))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        source = root / "ws" / ".codingbuddy" / "events.jsonl"
        source.parent.mkdir(parents=True, exist_ok=True)
        write_events(source, args.events)
        os.sync()  # the file's pages are written back now, not while the runs below write
        size = source.stat().st_size
        print(f"events.jsonl: {args.events:,} events, {size / 1e6:.0f} MB, "
              f"{size / args.events:.0f} bytes a line")
        bare = ours = floor = float("inf")
        for _ in range(args.runs):
            for db in ("bare", "ingest", "floor"):  # a kept folder may hold an earlier run's
                for suffix in (".duckdb", ".duckdb.wal"):
                    (root / (db + suffix)).unlink(missing_ok=True)
            bare = min(bare, bare_read_json(source, root / "bare.duckdb"))
            start = time.perf_counter()
            summary = ingest([source], root / "ingest.duckdb")
            ours = min(ours, time.perf_counter() - start)
            assert summary.files[0].event_rows == args.events, summary.files[0]
            floor = min(floor, floor_in_child(root / "ingest.duckdb", root / "floor.duckdb"))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
        bare_rate, our_rate = args.events / bare, args.events / ours
        print(f"bare read_json into a table : {bare:6.2f} s  {bare_rate:>10,.0f} events/s "
              f"(best of {args.runs})")
        print(f"incidentlab ingest          : {ours:6.2f} s  {our_rate:>10,.0f} events/s "
              "(sha256, canonical projection, provenance, quarantine check)")
        print(f"ratio ingest / bare         : {our_rate / bare_rate:.2f}  (target >= 0.50)")
        print(f"peak RSS, bare and ingest   : {peak:.2f} GiB  (target <= 1.5 GiB at 5M events)")
        print(f"database size               : bare {_mb(root / 'bare.duckdb')} MB, "
              f"ingest {_mb(root / 'ingest.duckdb')} MB")
        print(f"write floor                 : {floor:6.2f} s  (only writing the finished events rows; "
              f"no ingest can beat it; best of {args.runs})")
        print(f"ceiling ratio bare / floor  : {bare / floor:.2f}")
        if args.parts:
            print(f"\nparts of the ingest, each alone (best of {args.runs}):")
            for what, seconds in parts(source, root / "ingest.duckdb", args.runs):
                print(f"  {what:<58}: {seconds:6.2f} s")


if __name__ == "__main__":
    main()
