"""Match the incident's evidence to the runbooks' failure modes and suggest a SEV1-3 severity."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ..errors import UsageError
from ._sql import Where, frame, quote

SEVERITY_ORDER = {"SEV1": 1, "SEV2": 2, "SEV3": 3}
# The CodingBuddy playbook's definitions (000_2b1888b16b525627.txt lines 4-6).
SEV_DEFINITIONS = {
    "SEV1": "data loss, unsafe command execution, or widespread CLI crash",
    "SEV2": "degraded model/runtime behavior with workaround",
    "SEV3": "non-blocking regression",
}
# Evidence weight by severity: one critical event says more than many info lines.
WEIGHT_SQL = ("sum(CASE severity WHEN 'critical' THEN 3 WHEN 'error' THEN 2 WHEN 'warning' "
              "THEN 1 WHEN 'debug' THEN 0.1 ELSE 0.5 END)")
MAX_EVIDENCE = 20
MODE_SCHEMA = {
    "mode": pl.Utf8, "system": pl.Utf8, "title": pl.Utf8, "score": pl.Float64,
    "n_events": pl.Int64, "first_seen": pl.Datetime("us", "UTC"),
    "last_seen": pl.Datetime("us", "UTC"), "evidence_event_ids": pl.List(pl.Utf8),
    "severity": pl.Utf8, "severity_reason": pl.Utf8, "runbook_section": pl.Utf8,
    "recovery_steps": pl.List(pl.Utf8),
}


@dataclass
class Classification:
    modes: pl.DataFrame
    severity: str | None
    severity_reason: str


def load_catalog(path: str | Path | None = None) -> list[dict[str, Any]]:
    source = Path(path) if path else Path(
        str(resources.files("incidentlab") / "rules" / "failure_modes.toml"))
    try:
        modes = tomllib.loads(source.read_text(encoding="utf-8")).get("mode", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read failure-mode catalog {source}: {exc}",
                         hint="check the file path and its TOML syntax") from exc
    for mode in modes:
        if mode.get("severity") not in SEVERITY_ORDER:
            raise UsageError(f"{source}: mode {mode.get('id')} has no SEV1-3 severity",
                             hint="set severity = 'SEV1' | 'SEV2' | 'SEV3'")
    return modes


def signature_sql(mode: dict[str, Any]) -> str:
    """The SQL condition that makes an event evidence for a mode."""
    any_of = []
    if mode.get("event_types"):
        any_of.append(f"event_type IN ({', '.join(quote(t) for t in mode['event_types'])})")
    if mode.get("raw_types"):
        any_of.append(f"event_type_raw IN ({', '.join(quote(t) for t in mode['raw_types'])})")
    if mode.get("error_codes"):
        codes = ", ".join(quote(c.lower()) for c in mode["error_codes"])
        any_of.append(f"lower(error_code) IN ({codes})")
    if mode.get("categories"):
        cats = ", ".join(quote(c.lower()) for c in mode["categories"])
        any_of.append(f"lower(error_category) IN ({cats})")
    for pattern in mode.get("patterns", []):
        any_of.append(
            f"regexp_matches(coalesce(message, '') || ' ' || coalesce(error_code, ''), "
            f"{quote(pattern)}, 'i')"
        )
    parts = []
    if mode.get("system"):
        parts.append(f"system = {quote(mode['system'])}")
    if any_of:
        parts.append(" OR ".join(any_of))
    if mode.get("where"):
        parts.append(mode["where"])
    if not any_of and not mode.get("where"):
        return "false"
    return " AND ".join(f"({p})" for p in parts)


def classify(
    con: duckdb.DuckDBPyConnection, *, start: Any = None, end: Any = None,
    catalog_path: str | Path | None = None,
) -> Classification:
    """Rank the failure modes the evidence matches (score = severity-weighted event count)."""
    window = Where().within("ts", start, end)
    rows = []
    for mode in load_catalog(catalog_path):
        where = Where()
        where.parts, where.params = [*window.parts, signature_sql(mode)], list(window.params)
        stats = frame(con, f"""
            SELECT count(*) AS n, {WEIGHT_SQL} AS score, min(ts) AS first_seen,
                   max(ts) AS last_seen, count(DISTINCT stream) AS streams,
                   count(DISTINCT project) AS projects,
                   list(event_id ORDER BY ts NULLS LAST, event_id)[1:{MAX_EVIDENCE}] AS ids
            FROM timeline_events {where.sql()}""", where.params).row(0, named=True)
        if not stats["n"]:
            continue
        severity, reason = _mode_severity(con, mode, where, stats)
        rows.append({
            "mode": mode["id"], "system": mode.get("system"), "title": mode.get("title"),
            "score": float(stats["score"]), "n_events": stats["n"],
            "first_seen": stats["first_seen"], "last_seen": stats["last_seen"],
            "evidence_event_ids": stats["ids"], "severity": severity,
            "severity_reason": reason,
            "runbook_section": f"{mode['runbook']}:{mode['line']} {mode.get('quote', '')}",
            "recovery_steps": list(mode.get("recovery", [])),
        })
    modes = pl.DataFrame(rows, schema=MODE_SCHEMA)
    if not modes.height:
        return Classification(modes, None, "no failure mode of the runbooks matched the evidence")
    modes = modes.sort(["score", "mode"], descending=[True, False])
    worst = min(modes["severity"].to_list(), key=SEVERITY_ORDER.__getitem__)
    drivers = modes.filter(pl.col("severity") == worst).sort("score", descending=True)
    lead = drivers.row(0, named=True)
    reason = (
        f"{worst} ({SEV_DEFINITIONS[worst]}, CodingBuddy playbook): {lead['mode']} — "
        f"{lead['severity_reason']}; {lead['n_events']} event(s), first "
        f"{lead['evidence_event_ids'][0] if lead['evidence_event_ids'] else '?'}"
    )
    if drivers.height > 1:
        reason += f"; also {', '.join(drivers['mode'].to_list()[1:4])}"
    return Classification(modes, worst, reason)


def _mode_severity(
    con: duckdb.DuckDBPyConnection, mode: dict[str, Any], where: Where, stats: dict[str, Any]
) -> tuple[str, str]:
    severity = mode["severity"]
    reason = mode.get("severity_reason") or f"{mode.get('title', mode['id'])} is {severity}"
    escalate = mode.get("escalate")
    if not escalate:
        return severity, reason
    streams, projects = stats["streams"], stats["projects"]
    if escalate.get("event_types"):
        types = ", ".join(quote(t) for t in escalate["event_types"])
        [(streams, projects)] = con.execute(
            f"SELECT count(DISTINCT stream), count(DISTINCT project) FROM timeline_events "
            f"{where.sql()} AND event_type IN ({types})", where.params).fetchall()
    if (streams >= escalate.get("min_streams", 10**9)
            or projects >= escalate.get("min_projects", 10**9)):
        return escalate["severity"], escalate.get("reason", f"escalated to {escalate['severity']}")
    return severity, reason
