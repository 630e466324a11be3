"""Per-file overhead: N one-event files against one file holding the same N events, same run.

    python benchmarks/many_files.py [--files 10000]

Prints both ingest times, their ratio (target <= 10x), and the re-ingest of the unchanged files.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from incidentlab.ingest import ingest


def line(index: int) -> str:
    return json.dumps({"timestamp": f"2026-03-01T10:{index // 60 % 60:02d}:{index % 60:02d}Z",
                       "level": "warn" if index % 7 == 0 else "info", "service": "agent",
                       "message": f"tool call {index} finished"}) + "\n"


def timed(paths: list[Path], db: Path) -> tuple[float, int]:
    start = time.perf_counter()
    summary = ingest(paths, db)
    seconds = time.perf_counter() - start
    assert summary.ok, [f.message for f in summary.files if f.message][:3]
    return seconds, summary.event_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="incidentlab-many-") as folder:
        root = Path(folder)
        many = root / "many"
        many.mkdir()
        for index in range(args.files):
            (many / f"agent-{index:05d}.jsonl").write_text(line(index))
        one = root / "one" / "agent.jsonl"
        one.parent.mkdir()
        one.write_text("".join(line(index) for index in range(args.files)))
        single, events_one = timed([one], root / "one.duckdb")
        split, events_many = timed([many], root / "many.duckdb")
        again, _ = timed([many], root / "many.duckdb")
    assert events_one == events_many == args.files
    print(f"one file, {args.files} events      : {single:7.2f} s")
    print(f"{args.files} files, one event each : {split:7.2f} s  "
          f"({split / single:.1f}x one file; target <= 10x)")
    print(f"re-ingest, all unchanged     : {again:7.2f} s  ({again / single:.1f}x one file)")


if __name__ == "__main__":
    main()
