"""Match the incident's evidence to the runbooks' failure modes and suggest a SEV1-3 severity."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ..errors import UsageError
from ..membership import one_of
from ..scope import Scope
from ._sql import Where, frame, quote
from .catalogs import read_entries
from .metrics import cite_event, evaluate_rules, load_rules

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
EVIDENCE_SHOWN = 5
MODE_SCHEMA = {
    "mode": pl.Utf8, "system": pl.Utf8, "title": pl.Utf8, "score": pl.Float64,
    "n_events": pl.Int64, "first_seen": pl.Datetime("us", "UTC"),
    "last_seen": pl.Datetime("us", "UTC"), "evidence_event_ids": pl.List(pl.Utf8),
    "evidence": pl.Utf8, "severity": pl.Utf8, "severity_reason": pl.Utf8,
    "runbook_section": pl.Utf8, "recovery_steps": pl.List(pl.Utf8),
}


@dataclass
class Classification:
    modes: pl.DataFrame
    severity: str | None
    severity_reason: str


def catalog_path() -> Path:
    return Path(str(resources.files("incidentlab") / "rules" / "failure_modes.toml"))


def load_catalog(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The failure modes of a catalog file and the files it includes (`include = [...]`,
    relative to it; the shipped catalog includes the generic modes, generic_modes.toml).

    A mode's `defer_to` names modes whose systems it leaves to them (resolved here into
    `_defer_systems`); a named mode that is not loaded defers nothing.
    """
    source = Path(path) if path else catalog_path()
    modes = read_entries(source, "mode", "failure-mode catalog")
    seen: set[str] = set()
    for mode in modes:
        if not mode.get("id") or mode["id"] in seen:
            raise UsageError(f"{source}: mode without id or duplicate id {mode.get('id')!r}",
                             hint="give every [[mode]] a unique id")
        seen.add(mode["id"])
        if mode.get("severity") not in SEVERITY_ORDER:
            raise UsageError(f"{source}: mode {mode.get('id')} has no SEV1-3 severity",
                             hint="set severity = 'SEV1' | 'SEV2' | 'SEV3'")
    systems = {m["id"]: m.get("system") for m in modes}
    for mode in modes:
        mode["_defer_systems"] = sorted(
            {systems[m] for m in mode.get("defer_to", []) if systems.get(m)})
    return modes


TEXT = "coalesce(message, '') || ' ' || coalesce(error_code, '')"  # what patterns read


def signature_sql(mode: dict[str, Any], patterns: bool = True) -> str:
    """The SQL condition that makes an event evidence for a mode (`patterns` False: without its
    text patterns, the part the prefilter of _matches must test mode by mode)."""
    any_of = []
    if mode.get("event_types"):
        any_of.append(one_of("event_type", [quote(t) for t in mode["event_types"]]))
    if mode.get("raw_types"):
        any_of.append(one_of("event_type_raw", [quote(t) for t in mode["raw_types"]]))
    if mode.get("error_codes"):
        codes = ", ".join(quote(c.lower()) for c in mode["error_codes"])
        any_of.append(f"lower(error_code) IN ({codes})")
    if mode.get("categories"):
        cats = ", ".join(quote(c.lower()) for c in mode["categories"])
        any_of.append(f"lower(error_category) IN ({cats})")
    if mode.get("patterns") and patterns:  # one pass of one expression over the text
        any_of.append(f"regexp_matches({TEXT}, {quote(_either(mode['patterns']))}, 'i')")
    parts = []
    if mode.get("system"):
        parts.append(f"system = {quote(mode['system'])}")
    deferred = mode.get("_defer_systems") or []
    if deferred:
        parts.append(one_of("system", [quote(s) for s in deferred], negate=True))
    if any_of:
        parts.append(" OR ".join(any_of))
    if not any_of and (not mode.get("where") or (mode.get("patterns") and not patterns)):
        return "false"
    if mode.get("where"):
        parts.append(mode["where"])
    return " AND ".join(f"({p})" for p in parts)


def _either(patterns: list[str]) -> str:
    return "|".join(f"(?:{pattern})" for pattern in patterns)


def classify(
    con: duckdb.DuckDBPyConnection, scope: Scope | None = None, *,
    catalog_path: str | Path | None = None, rules_path: str | Path | None = None,
    alerts: pl.DataFrame | None = None, **fields: Any,
) -> Classification:
    """Rank the failure modes the evidence in scope matches (score = severity-weighted count).

    A mode matches events by its signature, or (`rules = [...]`) by the evidence of those alert
    rules when they fired in the scope (a doom loop is a pattern, not one event). `alerts`: the
    firings of `rules_path`'s rules in this same scope, when the caller has them already (each
    rule fires the same alone or with the others, so they are not evaluated again).
    """
    scope = Scope.of(scope, **fields)
    window = Where().add(scope.sql())
    catalog = load_catalog(catalog_path)
    fired = _rule_evidence(con, catalog, scope, rules_path, alerts)
    rows = [_row(con, mode, window, stats, fired.get(mode["id"], []))
            for mode, stats in _matches(con, catalog, window, fired)]
    modes = pl.DataFrame(rows, schema=MODE_SCHEMA)
    if not modes.height:
        return Classification(modes, None, "no failure mode of the runbooks matched the evidence")
    modes = modes.sort(["score", "mode"], descending=[True, False])
    worst = min(modes["severity"].to_list(), key=SEVERITY_ORDER.__getitem__)
    drivers = modes.filter(pl.col("severity") == worst).sort("score", descending=True)
    lead = drivers.row(0, named=True)
    first = lead["evidence"].split("; ")[0] if lead["evidence"] else "?"
    reason = (
        f"{worst} ({SEV_DEFINITIONS[worst]}, CodingBuddy playbook): {lead['mode']} — "
        f"{lead['severity_reason']}; {lead['n_events']} event(s), first {first}"
    )
    if drivers.height > 1:
        reason += f"; also {', '.join(drivers['mode'].to_list()[1:4])}"
    return Classification(modes, worst, reason)


def _rule_evidence(
    con: duckdb.DuckDBPyConnection, catalog: list[dict[str, Any]], scope: Scope,
    rules_path: str | Path | None, fired: pl.DataFrame | None = None,
) -> dict[str, list[str]]:
    """mode id -> event ids of the alerts of the rules it names (one evaluation for all)."""
    wanted = {rid for mode in catalog for rid in mode.get("rules", [])}
    if not wanted:
        return {}
    if fired is not None:
        alerts = fired.filter(pl.col("rule").is_in(sorted(wanted))) if fired.height else fired
    else:
        rules = [r for r in load_rules(rules_path) if r["id"] in wanted]
        alerts = evaluate_rules(con, scope, rules=rules) if rules else None
    ids: dict[str, list[str]] = {}
    if alerts is None or not alerts.height:
        return ids
    by_rule: dict[str, list[str]] = {}
    for row in alerts.iter_rows(named=True):
        by_rule.setdefault(row["rule"], []).extend(row["event_ids"])
    for mode in catalog:
        found = [i for rid in mode.get("rules", []) for i in by_rule.get(rid, [])]
        if found:
            ids[mode["id"]] = sorted(set(found))
    return ids


def _condition(mode: dict[str, Any], alert_ids: list[str], patterns: bool = True) -> str:
    """A mode's evidence: its signature (`patterns` False: without its text patterns), or one of
    the events its rules' firings cite."""
    signature = signature_sql(mode, patterns)
    if not alert_ids:
        return signature
    return f"({signature}) OR event_id IN ({', '.join(quote(i) for i in alert_ids)})"


def _matches(con: duckdb.DuckDBPyConnection, catalog: list[dict[str, Any]], window: Where,
             fired: dict[str, list[str]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(mode, its evidence's statistics) for every mode with evidence in scope: one scan, each
    row matched against every mode's condition (a row of several modes counts for each), then
    aggregated by mode, in catalog order."""
    if not catalog:
        return []
    conditions = [_condition(mode, fired.get(mode["id"], [])) for mode in catalog]
    marks = ", ".join(f"CASE WHEN {c} THEN {i} END" for i, c in enumerate(conditions))
    branches = f"""
        SELECT unnest(list_filter([{marks}], lambda m: m IS NOT NULL)) AS mode_no,
               event_id, ts, ts_quality, stream, project, system, severity
        FROM timeline_events {window.sql()} AND ({_prefilter(catalog, fired)})
          AND ({" OR ".join(f"({c})" for c in conditions)})"""
    stats = frame(con, f"""
        SELECT mode_no, count(*) AS n, {WEIGHT_SQL} AS score, min(ts) AS first_seen,
               max(ts) AS last_seen, count(DISTINCT stream) AS streams,
               count(DISTINCT project) AS projects,
               string_agg(DISTINCT system, ',' ORDER BY system) AS systems,
               list(event_id ORDER BY ts NULLS LAST, event_id)[1:{MAX_EVIDENCE}] AS ids,
               list(ts ORDER BY ts NULLS LAST, event_id)[1:{EVIDENCE_SHOWN}] AS times,
               list(ts_quality ORDER BY ts NULLS LAST, event_id)[1:{EVIDENCE_SHOWN}] AS qualities
        FROM ({branches}) GROUP BY mode_no ORDER BY mode_no""",
        window.params)
    return [(catalog[row["mode_no"]], row) for row in stats.iter_rows(named=True)]


def _prefilter(catalog: list[dict[str, Any]], fired: dict[str, list[str]]) -> str:
    """A condition every mode's evidence meets (and few other rows): the text of the row against
    the patterns of all modes at once, or a mode's other terms. Each mode's own pattern then runs
    only on the rows this keeps, where a pattern per mode over every row of its system was most
    of the scan's cost."""
    patterns = [p for mode in catalog for p in mode.get("patterns", [])]
    terms = [f"regexp_matches({TEXT}, {quote(_either(patterns))}, 'i')"] if patterns else []
    terms += [c for c in (_condition(mode, fired.get(mode["id"], []), patterns=False)
                          for mode in catalog) if c != "false"]
    return " OR ".join(f"({t})" for t in terms) or "false"


def _row(con: duckdb.DuckDBPyConnection, mode: dict[str, Any], window: Where,
         stats: dict[str, Any], alert_ids: list[str]) -> dict[str, Any]:
    """The mode's row, from the statistics of its evidence."""
    where = Where()
    where.parts, where.params = [*window.parts, _condition(mode, alert_ids)], list(window.params)
    severity, reason = _mode_severity(con, mode, where, stats)
    return {
        "mode": mode["id"], "system": mode.get("system") or stats["systems"],
        "title": mode.get("title"), "score": float(stats["score"]), "n_events": stats["n"],
        "first_seen": stats["first_seen"], "last_seen": stats["last_seen"],
        "evidence_event_ids": stats["ids"], "evidence": _evidence(stats),
        "severity": severity, "severity_reason": reason,
        "runbook_section": _section(mode), "recovery_steps": list(mode.get("recovery", [])),
    }


def _evidence(stats: dict[str, Any]) -> str:
    pairs = [cite_event(i, t, q)
             for i, t, q in zip(stats["ids"], stats["times"], stats["qualities"], strict=False)]
    more = stats["n"] - len(pairs)
    return "; ".join(pairs) + (f"; +{more} more" if more > 0 else "")


def _section(mode: dict[str, Any]) -> str:
    if not mode.get("runbook"):
        return "no runbook line: a toolkit mode (see its recovery steps)"
    return f"{mode['runbook']}:{mode['line']} {mode.get('quote', '')}"


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
