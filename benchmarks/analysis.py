"""Analysis speed on generated canonical events: replay integrity, alert rules, timeline slice.

Generates N events (default 10M) directly in DuckDB SQL (no Python loops): 5 systems, streams
of 1000 events interleaved in time (stored in time order, as ingest keeps them), tool calls
paired with results, Tapps steps, coding-loops tests and heartbeats, a few failures, timeouts,
rate limits and 1 dropped event in 100k. Then opens the file read-only and prints the time of
each analysis. Usage: python benchmarks/analysis.py [--events N] [--db PATH] [--keep]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from incidentlab.analysis.metrics import evaluate_rules
from incidentlab.analysis.replay import check
from incidentlab.analysis.timeline import timeline
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


def timed(label: str, func):
    started = time.perf_counter()
    result = func()
    print(f"{label:<34} {time.perf_counter() - started:8.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--keep", action="store_true", help="Keep the generated database.")
    args = parser.parse_args()
    folder = None if args.db else tempfile.TemporaryDirectory(prefix="il-bench-")
    db = args.db or Path(folder.name) / "bench.duckdb"
    n = args.events
    print(f"{n:,} generated events -> {db}")
    if not db.exists():
        con = connect(db)
        timed("generate (SQL)", lambda: con.execute(
            GENERATE, {"n": n, "streams": max(n // 1000, 1)}))
        con.execute("CHECKPOINT")
        con.close()
    con = connect(db, read_only=True)
    rows = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    print(f"{rows:,} rows stored ({db.stat().st_size / 2**20:,.0f} MiB)")
    report = timed("replay integrity (all streams)", lambda: check(con))
    print(f"  {report.violations.height:,} violations, "
          f"{(~report.verdicts['passed']).sum():,} of {report.verdicts.height:,} streams fail")
    alerts = timed("alert rules (default file)", lambda: evaluate_rules(con))
    print(f"  {alerts.height:,} (rule, group, level) rows fired")
    mid = con.execute("SELECT min(ts) + (max(ts) - min(ts)) / 2 FROM events").fetchall()[0][0]
    slice_ = timed("timeline slice (pivot ±5 min, 200)", lambda: timeline(
        con, pivot=mid, span_minutes=5, limit=200))
    print(f"  {slice_.height} rows")
    timed("timeline newest 200 (no window)", lambda: timeline(con, limit=200))
    con.close()
    if folder is not None and not args.keep:
        folder.cleanup()


if __name__ == "__main__":
    main()
