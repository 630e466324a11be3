"""Grouping accuracy of text-log templates through the product's own ingest, on the Loghub 2k logs.

Each raw `<name>_2k.log` is ingested by `incidentlab.ingest` exactly as `incidentlab ingest FILE
--db DB --tz UTC` would (no loader, format, mask or threshold chosen per dataset: the loader
infers each file's line grammar itself); every line then belongs to the template of its record
(`events.event_type_raw`). Grouping accuracy (Zhu et al. / He et al.) is measured against the
original Loghub ground truth (`*_structured.csv`) and, where logpai/loghub-2.0 has one, the
corrected ground truth (`*_structured_corrected.csv`), next to Drain's published figure (He et
al., "Tools and Benchmarks for Automated Log Parsing", ICSE-SEIP 2019; listed in SOURCES.md).

The samples are research-only and never copied into the project: they are read from
../shared/realdata (relative to the repository) when present. Usage:

    python benchmarks/loghub.py [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from incidentlab.ingest import ingest
from incidentlab.store import connect

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "realdata"

# Drain's published grouping accuracy per dataset (SOURCES.md in the shared real data).
PUBLISHED = {
    "HDFS": 0.998, "Spark": 0.920, "Zookeeper": 0.967, "OpenStack": 0.733, "Linux": 0.690,
    "Apache": 1.000, "OpenSSH": 0.788, "BGL": 0.963, "HPC": 0.887, "Thunderbird": 0.955,
    "Windows": 0.997, "Android": 0.911, "Proxifier": 0.527, "Mac": 0.787,
}


def grouping_accuracy(predicted: Sequence[object], truth: Sequence[str]) -> float:
    """Share of lines whose predicted group is exactly the set of lines of their true group."""
    pred_groups: dict[object, set[int]] = defaultdict(set)
    true_groups: dict[str, set[int]] = defaultdict(set)
    for i, (p, t) in enumerate(zip(predicted, truth, strict=True)):
        pred_groups[p].add(i)
        true_groups[t].add(i)
    correct = 0
    for lines in pred_groups.values():
        labels = {truth[i] for i in lines}
        if len(labels) == 1 and true_groups[labels.pop()] == lines:
            correct += len(lines)
    return correct / len(truth) if truth else 0.0


def read_truth(path: Path) -> dict[int, str]:
    """Ground-truth EventId by line number (LineId, 1-based)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return {int(row["LineId"]): row["EventId"] for row in csv.DictReader(handle)}


def product_groups(log: Path, workdir: Path) -> tuple[dict[int, str], str, int]:
    """Template id per line of `log` as ingested by the product; (ids, loader, records)."""
    db = workdir / f"{log.stem}.duckdb"
    summary = ingest([log], db, tz="UTC")
    (outcome,) = summary.files
    groups: dict[int, str] = {}
    con = connect(db, read_only=True)
    try:
        rows = con.execute(
            "SELECT record_no, CAST(json_extract_string(attrs, '$.line_end') AS INTEGER), "
            "event_type_raw FROM events ORDER BY record_no").fetchall()
        quarantined = con.execute("SELECT record_no FROM _load_warnings").fetchall()
    finally:
        con.close()
    for first, last, tid in rows:
        for line in range(first, (last or first) + 1):
            groups[line] = tid
    for (line,) in quarantined:
        groups.setdefault(line, f"quarantined:{line}")
    return groups, str(outcome.loader), outcome.records_read


def run(data: Path) -> list[tuple[str, float, float | None, int]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="loghub-bench-") as tmp:
        for name in PUBLISHED:
            log = data / "loghub" / name / f"{name}_2k.log"
            if not log.exists():
                continue
            groups, loader, _ = product_groups(log, Path(tmp))
            if loader != "generic.textlog":
                raise SystemExit(f"{log}: claimed by {loader}, not the text-log loader")
            truth = read_truth(log.with_name(f"{name}_2k.log_structured.csv"))
            lines = sorted(truth)
            predicted = [groups.get(n, f"unloaded:{n}") for n in lines]
            original = grouping_accuracy(predicted, [truth[n] for n in lines])
            corrected_path = data / "loghub-2.0" / name / f"{name}_2k.log_structured_corrected.csv"
            corrected = None
            if corrected_path.exists():
                fixed = read_truth(corrected_path)
                corrected = grouping_accuracy(predicted, [fixed[n] for n in lines])
            results.append((name, original, corrected, len(groups)))
    return results


def table(rows: list[tuple[str, float, float | None, int]]) -> list[str]:
    out = ["| dataset | Drain (published) | GA original | GA corrected | >= Drain |",
           "|---|---|---|---|---|"]
    for name, orig, corr, _ in rows:
        corr_text = f"{corr:.3f}" if corr is not None else "-"
        reached = "yes" if round(orig, 3) >= PUBLISHED[name] else "no"
        out.append(f"| {name} | {PUBLISHED[name]:.3f} | {orig:.3f} | {corr_text} | {reached} |")
    n = len(rows)
    corrs = [c for _, _, c, _ in rows if c is not None]
    mean_corr = f"{sum(corrs) / len(corrs):.3f} ({len(corrs)})" if corrs else "-"
    reached = sum(1 for name, orig, _, _ in rows if round(orig, 3) >= PUBLISHED[name])
    out.append(f"| mean ({n}) | {sum(PUBLISHED[r[0]] for r in rows) / n:.3f} | "
               f"{sum(r[1] for r in rows) / n:.3f} | {mean_corr} | {reached} of {n} |")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    if not (args.data / "loghub").is_dir():
        print(f"Loghub samples not found under {args.data / 'loghub'}; nothing to benchmark "
              "(they are kept out of the project: see /work/shared/realdata/SOURCES.md)")
        return 0
    rows = run(args.data)
    print(f"data: {args.data}  (ingest FILE --tz UTC, the loader's own defaults)")
    print("\n".join(table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
