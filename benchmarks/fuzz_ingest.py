"""Mutation fuzzing through the product's ingest path: prints cases run and records lost (target 0).

    python benchmarks/fuzz_ingest.py [--cases 10000] [--seed 1] [--loader NAME] [--show 20]

Seeds are the test fixtures plus a freshly written demo bundle (all five systems, SQLite included);
each case is a copy of one seed damaged byte by byte or value by value (tests/fuzzing.py).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from incidentlab.demo import build_bundle  # noqa: E402

import fuzzing  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--loader", action="append", help="only seeds of this loader (repeatable)")
    parser.add_argument("--show", type=int, default=20, help="problems to print")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="incidentlab-fuzz-") as folder:
        work = Path(folder)
        bundle = build_bundle(work / "demo", seed=args.seed, scale=1)
        pool = fuzzing.seeds([fuzzing.FIXTURES, bundle.root / "evidence"])
        if args.loader:
            pool = [s for s in pool if s.loader in args.loader]
        if not pool:
            print("no seeds", file=sys.stderr)
            return 2
        per_seed = -(-args.cases // len(pool))  # at least --cases in all
        total = fuzzing.Tally()
        by_loader: Counter[str] = Counter()
        started = time.perf_counter()
        for index, seed in enumerate(pool):
            tally = fuzzing.run_cases(seed, per_seed, work / "run", rng)
            total.add(tally)
            if not tally.clean:
                by_loader[seed.loader] += tally.files_failed + tally.bad_record_no + (
                    1 if tally.records_lost else 0) + tally.unusable_db
            print(f"\r{index + 1}/{len(pool)} seeds, {total.cases} cases", end="", file=sys.stderr)
        print(file=sys.stderr)
        seconds = time.perf_counter() - started
    print(f"cases {total.cases} over {len(pool)} seeds in {seconds:.0f} s")
    print(f"files failed {total.files_failed}, records lost {total.records_lost}, "
          f"wrong record_no {total.bad_record_no}, unusable databases {total.unusable_db}")
    for loader, count in by_loader.most_common():
        print(f"  {loader}: {count}")
    for line in total.problems[: args.show]:
        print("  " + line[:300])
    return 0 if total.clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
