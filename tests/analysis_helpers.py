"""Build small canonical event stores for analysis tests, without any loader."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from incidentlab.store import EVENT_COLUMNS, METRIC_COLUMNS, connect

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
_POLARS = {
    "VARCHAR": pl.Utf8, "JSON": pl.Utf8, "BIGINT": pl.Int64, "DOUBLE": pl.Float64,
    "BOOLEAN": pl.Boolean, "TIMESTAMPTZ": pl.Datetime("us", "UTC"),
}


def at(seconds: float = 0, minutes: float = 0) -> datetime:
    return T0 + timedelta(seconds=seconds, minutes=minutes)


def make_db(tmp_path: Path, name: str = "x.duckdb") -> duckdb.DuckDBPyConnection:
    return connect(tmp_path / name)


def insert(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert event dicts; missing columns get defaults (positions count up per stream)."""
    positions: dict[tuple, int] = defaultdict(int)
    existing = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    full = []
    for i, row in enumerate(rows):
        r = dict(row)
        r.setdefault("system", "generic")
        r.setdefault("source", "test")
        r.setdefault("stream", "s1")
        key = (r["system"], r["source"], r["stream"])
        positions[key] += 1
        r.setdefault("position", positions[key])
        r.setdefault("record_no", r["position"])
        r.setdefault("event_id", f"e{existing + i + 1}")
        r.setdefault("load_id", "test")
        r.setdefault("source_path", f"{r['source']}.jsonl")
        r.setdefault("ts", at(seconds=existing + i))
        r.setdefault("ts_quality", "exact" if r["ts"] is not None else "missing")
        r.setdefault("event_type", "log")
        r.setdefault("severity", "info")
        r.setdefault("is_mirror", False)
        attrs = r.get("attrs", {})
        r["attrs"] = attrs if isinstance(attrs, str) else json.dumps(attrs)
        full.append(r)
    schema = {name: _POLARS[typ] for name, typ in EVENT_COLUMNS}
    df = pl.DataFrame([{c: r.get(c) for c in schema} for r in full], schema=schema)
    con.register("_new_events", df.to_arrow())
    con.execute("INSERT INTO events SELECT * FROM _new_events")
    con.unregister("_new_events")
    return full


def insert_metrics(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    schema = {name: _POLARS[typ] for name, typ in METRIC_COLUMNS}
    full = []
    for i, row in enumerate(rows):
        r = {"load_id": "test", "system": "generic", "source": "test", "source_path": "m.db",
             "record_no": i + 1, "ts": at(seconds=i), "ts_quality": "exact", "labels": "{}"}
        r.update(row)
        full.append({c: r.get(c) for c in schema})
    con.register("_new_metrics", pl.DataFrame(full, schema=schema).to_arrow())
    con.execute("INSERT INTO metrics SELECT * FROM _new_metrics")
    con.unregister("_new_metrics")


def seq_stream(n: int, *, stream: str = "s1", system: str = "tapps",
               source: str = "workflow_events") -> list[dict[str, Any]]:
    """A valid stream: seq 1..n, one second apart, positions in file order."""
    return [
        {"system": system, "source": source, "stream": stream, "seq": i, "position": i,
         "record_no": i, "ts": at(seconds=i), "event_id": f"{stream}-{i}"}
        for i in range(1, n + 1)
    ]
