"""Analysis speed on generated canonical events, each job next to a bare DuckDB query doing its core
work on the same table in the same process: replay integrity, alert rules, timeline slices.

Generates N events (default 10M) directly in DuckDB SQL (no Python loops, in a child process so
its memory is not counted): 5 systems, streams of 1000 events interleaved in time (stored in
time order, as ingest keeps them), tool calls paired with results, Tapps steps, coding-loops
tests and heartbeats, a few failures, timeouts, rate limits and 1 dropped event in 100k. Then
opens the file read-only and prints, per job, the best of --runs runs of incidentlab and of the
bare query (taking turns in each run, with the job's floor statements), their ratio, and the
process's peak RSS.
With --by-kind, also the alert rules of each kind evaluated alone (where the alerts' time goes).
With --floors, also a floor per job: plain DuckDB statements that together do the work the job
cannot skip (see floors()), their sum, and the job against that sum.
Usage: python benchmarks/analysis.py [--events N] [--db PATH] [--keep] [--runs 3] [--only JOBS]
                                     [--by-kind] [--floors]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from incidentlab.analysis.alerting.selection import selector
from incidentlab.analysis.metrics import evaluate_rules, load_rules
from incidentlab.analysis.replay import check, declared_checks
from incidentlab.analysis.replay_checks import pair_rows
from incidentlab.analysis.timeline import timeline
from incidentlab.loaders.base import Pairing
from incidentlab.store import connect

GENERATE = """
INSERT INTO events
WITH base AS (
    SELECT i, i % $streams AS s, i // $streams + 1 AS k,
           TIMESTAMPTZ '2026-03-01 00:00:00+00' + to_microseconds(i * 50000) AS ts,
           hash(i) % 100000 AS h
    FROM range($n) t(i)
), typed AS (
    SELECT *,
        CASE s % 5 WHEN 0 THEN 'codingbuddy' WHEN 1 THEN 'jido' WHEN 2 THEN 'tapps'
                   WHEN 3 THEN 'coding_loops' ELSE 'curriculum_builder' END AS system,
        'stream-' || s AS stream
    FROM base WHERE h <> 7  -- one event in 100k lost: sequence gaps to find
)
SELECT
    'e' || i AS event_id, 'bench' AS load_id, system,
    CASE system WHEN 'codingbuddy' THEN 'events_jsonl' WHEN 'jido' THEN 'conversation'
                WHEN 'tapps' THEN 'workflow_events' WHEN 'coding_loops' THEN 'coordination_db'
                ELSE 'events_jsonl' END AS source,
    system || '/' || stream || '.jsonl' AS source_path, k AS record_no, ts, NULL AS ts_raw,
    'exact' AS ts_quality, stream,
    CASE WHEN system IN ('codingbuddy', 'tapps') THEN k END AS seq, k AS position,
    'p' || (s % 20) AS project,
    CASE system
        WHEN 'codingbuddy' THEN stream || ':' || (k - (k - 1) % 3)
        WHEN 'jido' THEN stream || ':' || (k - (k - 1) % 2)
    END AS correlation_id,
    CASE system
        WHEN 'codingbuddy' THEN CASE WHEN h % 1000 = 3 THEN 'llm.rate_limited'
                                     WHEN k % 3 = 1 THEN 'tool.proposed'
                                     WHEN k % 3 = 2 THEN 'tool.result' ELSE 'llm.usage' END
        WHEN 'jido' THEN CASE WHEN h % 5000 = 11 THEN 'policy.denied'
                              WHEN k % 4 = 1 THEN 'tool.call' WHEN k % 4 = 2 THEN 'tool.result'
                              WHEN k % 4 = 3 THEN 'llm.request' ELSE 'llm.response' END
        WHEN 'tapps' THEN CASE WHEN k = 1 THEN 'workflow.start'
                               WHEN k % 2 = 0 THEN 'step.start' ELSE 'step.finish' END
        WHEN 'coding_loops' THEN CASE WHEN k % 10 = 0 THEN 'heartbeat'
                                      WHEN k % 2 = 1 THEN 'test.start' ELSE 'test.pass' END
        ELSE 'log'
    END AS event_type,
    NULL AS event_type_raw,
    CASE system WHEN 'coding_loops' THEN 'loop-' || (s % 3) ELSE 'agent' END AS actor,
    CASE system
        WHEN 'codingbuddy' THEN 'bash.run'
        WHEN 'jido' THEN CASE WHEN k % 4 IN (1, 2) THEN 'fs.read' END
        WHEN 'tapps' THEN 'step-' || (k // 2)
        WHEN 'coding_loops' THEN 'T-' || (k - 1 + k % 2)
    END AS name,
    CASE WHEN h % 50 = 1 AND k % 2 = 0 THEN 'error' WHEN k % 2 = 0 THEN 'ok' END AS outcome,
    CASE WHEN h % 50 = 1 AND k % 2 = 0 THEN 'error' WHEN h % 1000 = 3 THEN 'warning'
         ELSE 'info' END AS severity,
    NULL AS duration_ms, 'generated event ' || i AS message, NULL AS error_code,
    NULL AS error_category, false AS is_mirror,
    CASE WHEN system = 'codingbuddy' AND k % 3 = 1
         THEN '{"kind":{"type":"ToolProposed","payload":{"proposal":{"approved":true}}}}'
         ELSE '{}' END AS attrs
FROM typed
ORDER BY ts
"""


def best(func: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The fastest of `runs` calls, and the last result."""
    [(seconds, result)] = best_of_each([func], runs)
    return seconds, result


def best_of_each(funcs: list[Callable[[], Any]], runs: int) -> list[tuple[float, Any]]:
    """The fastest of `runs` calls of each function, and its last result; the functions take
    turns in each round, so a machine whose speed drifts over minutes slows them alike."""
    times: list[list[float]] = [[] for _ in funcs]
    results: list[Any] = [None] * len(funcs)
    for _ in range(runs):
        for i, func in enumerate(funcs):
            started = time.perf_counter()
            results[i] = func()
            times[i].append(time.perf_counter() - started)
    return [(min(t), r) for t, r in zip(times, results, strict=True)]


def bare(con, sql: str, params: list[Any] | None = None) -> Callable[[], Any]:
    return lambda: con.execute(sql, params).fetchall()


def jobs(con) -> list[tuple[str, Callable[[], Any], str, Callable[[], Any], Callable[[Any], str]]]:
    """(job, incidentlab call, bare baseline description, bare call, result summary)."""
    mid = con.execute("SELECT min(ts) + (max(ts) - min(ts)) / 2 FROM events").fetchall()[0][0]
    # --- replay (measurement lines owned by the replay work) ---
    replay = (
        "replay", lambda: check(con),
        "LAG sequence-gap scan per stream",
        bare(con, """SELECT system, stream, count(*) FROM (
                        SELECT system, stream,
                               seq - lag(seq) OVER (PARTITION BY system, stream ORDER BY position)
                                   AS step
                        FROM timeline_events WHERE seq IS NOT NULL)
                     WHERE step <> 1 GROUP BY ALL"""),
        lambda r: (f"{r.violations.height:,} violations, {(~r.verdicts['passed']).sum():,} of "
                   f"{r.verdicts.height:,} streams fail"),
    )
    # --- end of replay ---
    return [
        replay,
        ("alerts", lambda: evaluate_rules(con),
         "one 5-minute failure-ratio GROUP BY",
         bare(con, """SELECT time_bucket(INTERVAL '5 minutes', ts) AS bucket, system, project,
                             count(*) FILTER (WHERE outcome IN ('error', 'timeout')) / count(*)
                                 AS failure_ratio
                      FROM timeline_events WHERE ts IS NOT NULL GROUP BY ALL"""),
         lambda r: f"{r.height:,} (rule, group, level) rows fired"),
        ("newest-200", lambda: timeline(con, limit=200),
         "ORDER BY ts DESC LIMIT 200",
         bare(con, "SELECT * FROM timeline_events ORDER BY ts DESC LIMIT 200"),
         lambda r: f"{r.height} rows"),
        ("pivot slice", lambda: timeline(con, pivot=mid, span_minutes=5, limit=200),
         "ts in ±5 min ORDER BY ts DESC LIMIT 200",
         bare(con, """SELECT * FROM timeline_events
                      WHERE ts BETWEEN ?::TIMESTAMPTZ - INTERVAL 5 MINUTE
                                   AND ?::TIMESTAMPTZ + INTERVAL 5 MINUTE
                      ORDER BY ts DESC LIMIT 200""", [mid, mid]),
         lambda r: f"{r.height} rows"),
    ]


def by_kind(con, runs: int) -> list[tuple[str, int, float, int]]:
    """(kind, rules, best seconds, rows fired) of the default rules of each kind evaluated
    alone; each includes the fixed costs of one evaluation (its time bounds, cited events)."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    for rule in load_rules():
        kinds.setdefault(rule["kind"], []).append(rule)
    out = []
    for kind, rules in kinds.items():
        seconds, fired = best(lambda rules=rules: evaluate_rules(con, rules=rules), runs)
        out.append((kind, len(rules), seconds, fired.height))
    return sorted(out, key=lambda row: -row[2])


# Kinds whose rules follow each group's rows in order (runs, spans, gaps, sequences, a norm).
ORDERED_KINDS = ("consecutive", "duration", "absence", "sequence", "outlier")


def floors(con) -> list[tuple[str, str, Callable[[], Any]]]:
    """(job, statement, call) of the bare statements that together do the work a job cannot skip.

    Replay: every stream's events in file order, each next to the one before (sequence steps
    and time order of all events, not only those with seq: one window, which does the
    baseline's work too), and one aggregate over the rows of every pairing the loaders declare
    (replay's own row selection, snapshot sources included), per (pairing, source or not,
    stream, key).
    Alerts: the baseline's GROUP BY, standing for all windowed counts; and each rule that
    follows its rows in order sorts them once (one window over the rule's own rows, by stream
    and time).
    Each statement is the plain SQL of that work; the jobs also report rows, cite events and
    check more rules, but a cleverer statement can beat a plain one (replay's own window numbers
    the streams first), so the floor is a yardstick for the targets, not a proof of a bound.
    """
    pairs = [(system, c) for system, c in declared_checks() if isinstance(c, Pairing)]
    out = [
        ("replay", "one window over every event per stream: sequence step and time order",
         bare(con, """SELECT count(*) FILTER (WHERE step <> 1), count(*) FILTER (WHERE back)
                      FROM (SELECT seq - lag(seq) OVER w AS step, ts < lag(ts) OVER w AS back
                            FROM timeline_events
                            WINDOW w AS (PARTITION BY stream ORDER BY position, record_no))""")),
        ("replay", f"one aggregate per key of the {len(pairs)} declared pairings",
         bare(con, f"""SELECT count(*) FROM (
                         SELECT rule_no, part, stream, pair_key,
                                sum(CASE WHEN opens THEN 1 ELSE -1 END) AS d
                         FROM ({pair_rows(pairs, "true", "''")}) GROUP BY ALL) WHERE d <> 0""")),
    ]
    alerts_baseline = next(call for job, _run, _what, call, _summary in jobs(con) if job == "alerts")
    out.append(("alerts", "the baseline's GROUP BY, standing for all windowed counts",
                alerts_baseline))
    for rule in load_rules():
        if rule["kind"] in ORDERED_KINDS:
            out.append(("alerts", f"one window over {rule['id']}'s rows", bare(con, f"""
                SELECT count(*) FROM (SELECT lag(ts) OVER (PARTITION BY stream ORDER BY ts) AS p
                                      FROM timeline_events WHERE {selector(rule)})
                WHERE p IS NOT NULL""")))
    return out


def generate(db: Path, n: int) -> None:
    con = connect(db)
    con.execute(GENERATE, {"n": n, "streams": max(n // 1000, 1)})
    con.execute("CHECKPOINT")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--keep", action="store_true", help="Keep the generated database.")
    parser.add_argument("--runs", type=int, default=3, help="Best of this many runs per job.")
    parser.add_argument("--only", help="Comma-separated jobs (replay, alerts, newest-200, pivot).")
    parser.add_argument("--by-kind", action="store_true",
                        help="Also time the alert rules of each kind alone.")
    parser.add_argument("--floors", action="store_true",
                        help="Also time plain statements of work each job cannot skip.")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(args.db, args.events)
        return
    folder = None if args.db else tempfile.TemporaryDirectory(prefix="il-bench-")
    db = args.db or Path(folder.name) / "bench.duckdb"
    n = args.events
    print(f"{n:,} generated events -> {db}")
    if not db.exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate-only", "--db", str(db),
                        "--events", str(n)], check=True)
        print(f"generated in {time.perf_counter() - started:.1f} s (child process)")
    con = connect(db, read_only=True)
    rows = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    print(f"{rows:,} rows stored ({db.stat().st_size / 2**20:,.0f} MiB); best of {args.runs} runs")
    only = {j.strip() for j in args.only.split(",")} if args.only else None
    table, floor_rows = [], []
    bare_floors = floors(con) if args.floors else []
    for job, run, what, baseline, summary in jobs(con):
        if only and not any(job.startswith(o) for o in only):
            continue
        # the job, its baseline and its floor statements take turns in each round
        own = [(w, call) for j, w, call in bare_floors if j == job]
        timed = best_of_each([run, baseline, *(call for _w, call in own)], args.runs)
        (ours, result), (theirs, _) = timed[:2]
        floor_rows += [(job, w, seconds) for (w, _c), (seconds, _r) in zip(own, timed[2:],
                                                                          strict=True)]
        print(f"  {job}: {summary(result)}", flush=True)
        table.append((job, ours, what, theirs))
    kinds = by_kind(con, args.runs) if args.by_kind else []
    con.close()
    print()
    print("| job | incidentlab | bare DuckDB | ratio |")
    print("|---|---|---|---|")
    for job, ours, what, theirs in table:
        print(f"| {job} | {ours:.2f} s | {what}: {theirs:.2f} s | {ours / theirs:.1f}x |")
    if kinds:
        print("\n| alert rule kind | rules | alone | fired |")
        print("|---|---|---|---|")
        for kind, n, seconds, fired in kinds:
            print(f"| {kind} | {n} | {seconds:.2f} s | {fired:,} |")
    if floor_rows:
        print("\n| job | bare statements it cannot skip | best |")
        print("|---|---|---|")
        for job, what, seconds in floor_rows:
            print(f"| {job} | {what} | {seconds:.2f} s |")
        print("\n| job | floor: the sum of those | floor / baseline | incidentlab / floor |")
        print("|---|---|---|---|")
        for job, ours, _what, theirs in table:
            floor = sum(seconds for j, _w, seconds in floor_rows if j == job)
            if floor:
                print(f"| {job} | {floor:.2f} s | {floor / theirs:.1f}x | {ours / floor:.1f}x |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(f"\npeak RSS of the analyses: {peak:.2f} GiB")
    if folder is not None and not args.keep:
        folder.cleanup()


if __name__ == "__main__":
    main()
