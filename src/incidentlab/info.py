"""What an incident database holds: loads, coverage per system, quarantined records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .store import SCHEMA_VERSION, connect

# Times a loader took from the file's mtime (derived, no raw time text): a copy moves them.
MTIME_SQL = "coalesce(ts_quality = 'derived' AND ts_raw IS NULL, false)"
RAW_READ, RAW_SHOWN = 65536, 120


def _rows(con: Any, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def usage_summary(con: Any) -> list[dict[str, Any]]:
    """Tokens and cost per system, each call counted once (see analysis/usage.py)."""
    from .analysis.usage import usage

    frame = usage(con, by=("system",))
    return [
        {"system": row["system"], "total_tokens": row["total_tokens"],
         "estimated_tokens": row["estimated_tokens"], "cost_usd": row["cost_usd"],
         "points": row["points"], "files": len(row["files"]), "notes": row["notes"]}
        for row in frame.iter_rows(named=True)
    ]


def database_info(db: str | Path) -> dict[str, Any]:
    con = connect(db, read_only=True)
    try:
        counts = con.execute(
            "SELECT count(*) FILTER (WHERE NOT is_mirror), count(*) FILTER (WHERE is_mirror) "
            "FROM events"
        ).fetchone()
        return {
            "db": str(db),
            "schema_version": SCHEMA_VERSION,
            "events": counts[0],
            "mirror_events": counts[1],
            "metrics": con.execute("SELECT count(*) FROM metrics").fetchone()[0],
            "quarantined": con.execute("SELECT count(*) FROM _load_warnings").fetchone()[0],
            "failed_loads": con.execute("SELECT count(*) FROM _loads WHERE status <> 'ok'"
                                        ).fetchone()[0],
            # a time taken from a file's mtime is not evidence of when: it never sets the range
            "systems": _rows(
                con,
                "SELECT system, count(*) AS events, count(DISTINCT stream) AS streams, "
                f"min(ts) FILTER (WHERE NOT {MTIME_SQL}) AS ts_min, "
                f"max(ts) FILTER (WHERE NOT {MTIME_SQL}) AS ts_max, "
                f"count(*) FILTER (WHERE {MTIME_SQL}) AS mtime_events "
                "FROM timeline_events GROUP BY system ORDER BY system",
            ),
            "mtime_files": _rows(
                con,
                "SELECT source_path AS path, system, count(*) AS events, min(ts) AS mtime "
                f"FROM timeline_events WHERE {MTIME_SQL} GROUP BY ALL ORDER BY path",
            ),
            "loads": _rows(
                con,
                "SELECT loader, path, sha256, records_read, event_rows, metric_rows, quarantined, "
                "status, CASE WHEN status <> 'ok' THEN facts->>'error' END AS error, tz, "
                "finished_at FROM _loads ORDER BY path",
            ),
            "warnings": _rows(
                con,
                # Redacted whole (see `redacted`), cut afterwards: a cut first could keep the
                # body of a secret whose start or end marker falls past the cut.
                f"SELECT source_path, record_no, reason, left(raw, {RAW_READ}) AS raw "
                "FROM _load_warnings ORDER BY source_path, record_no LIMIT 20",
            ),
            "usage": usage_summary(con),
        }
    finally:
        con.close()


def redacted(info: dict[str, Any], redactor: Any | None) -> dict[str, Any]:
    """The info with quarantined records' text and failed loads' errors redacted (when a
    redactor is given), then quarantined text cut to RAW_SHOWN characters."""
    clean = redactor.text if redactor is not None else (lambda text: text)
    warnings = [{**w, "reason": clean(w["reason"]),
                 "raw": (clean(w["raw"]) or "")[:RAW_SHOWN] if w["raw"] is not None else None}
                for w in info["warnings"]]
    loads = [{**load, "error": clean(load["error"])} for load in info["loads"]]
    return {**info, "warnings": warnings, "loads": loads}
