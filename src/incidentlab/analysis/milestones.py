"""Milestones of one incident (started, detected, mitigated, resolved), each citing its evidence.

The definitions are in docs/milestones.md. A derived milestone's time is exactly the time of the
event it cites; when the evidence has none, the milestone is "not determined" with the reason.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ..scope import Scope
from ._sql import frame, to_ts
from .incidents import SIGNAL_SQL, TIMED_SQL, cited_events, incidents, select

MILESTONES = ("started", "detected", "mitigated", "resolved")
DURATIONS = {"time_to_detect": "detected", "time_to_mitigate": "mitigated",
             "time_to_resolve": "resolved"}
EVIDENCE, OVERRIDE, UNKNOWN = "evidence", "override", "not determined"
PAGING = ("page", "critical")
MILESTONE_SCHEMA = {
    "milestone": pl.Utf8, "ts": pl.Datetime("us", "UTC"), "basis": pl.Utf8,
    "event_id": pl.Utf8, "system": pl.Utf8, "source": pl.Utf8, "record_no": pl.Int64,
    "evidence": pl.Utf8, "incident_id": pl.Utf8,
}
# An event that says the system is working: a success, or a plain record with no failure.
HEALTHY_SQL = (f"(NOT {SIGNAL_SQL} AND (outcome = 'ok' OR (outcome IS NULL "
               "AND coalesce(severity, 'info') IN ('debug', 'info'))))")
# Recovery evidence, by kind: what a responder accepts as "it works again".
RECOVERY = {
    "restart": "event_type IN ('component.start', 'project.start', 'watcher.start')",
    "reload": "event_type IN ('assets.reloaded', 'watcher.reload')",
    "resume": "event_type IN ('session.resume', 'conversation.resume', 'loop.resume')",
    "passing test": "event_type = 'test.pass' OR (event_type = 'verify.run' AND outcome = 'ok')",
    "completed": ("event_type IN ('session.end', 'run.end', 'workflow.end', 'conversation.end', "
                  "'task.end', 'subagent.end') AND outcome = 'ok'"),
}
NO_SIGNAL = ("no failure signal in scope (no event of severity warning or worse, no failed, "
             "timed-out or denied outcome, no alert evidence)")
_COLUMNS = "ts, event_id, system, source, record_no, event_type, message"


class _Window:
    """The caller's scope cut to the incident's failures, as one condition over timed events."""

    def __init__(self, incident: dict[str, Any], scope: Scope) -> None:
        self.scope = scope.narrowed(incident["first_ts"], incident["end_ts"])
        self.sql = f"{TIMED_SQL} AND {self.scope.sql()}"
        self.params: list[Any] = []

    def first(self, con: duckdb.DuckDBPyConnection, condition: str, params: list[Any],
              *, last: bool = False) -> dict[str, Any] | None:
        order = "ts DESC, event_id DESC" if last else "ts, event_id"
        sql = (f"SELECT {_COLUMNS} FROM timeline_events WHERE {self.sql} AND ({condition}) "
               f"ORDER BY {order} LIMIT 1")
        cursor = con.execute(sql, [*self.params, *params])
        rows = cursor.fetchall()
        if not rows:
            return None
        return dict(zip([d[0] for d in cursor.description], rows[0], strict=True))


def milestones(
    con: duckdb.DuckDBPyConnection,
    scope: Scope | None = None,
    *,
    incident: dict[str, Any] | str | None = None,
    overrides: dict[str, Any] | None = None,
    rules_path: str | Path | None = None,
    alerts: pl.DataFrame | None = None,
    detect_level: str = "page",
    quiet_minutes: float = 30,
    **fields: Any,
) -> pl.DataFrame:
    """started / detected / mitigated / resolved of one incident, each with the event it cites.

    `incident` is a row of `incidents()` or its id; by default the largest incident in the
    scope (`start`, `end`, `systems`, `projects`, `streams`, `correlation_id`). `alerts` are the
    rule firings inside the incident window (evaluated here when not given). `detect_level`
    "page" takes the first paging firing as detection when one paged, else the first warning;
    "warn" takes the first firing of any level. Overrides (ISO times, naive = UTC) replace a
    milestone and are marked `override`; later milestones are then searched from it.
    """
    scope = Scope.of(scope, **fields)
    chosen = incident if isinstance(incident, dict) else select(
        incidents(con, scope, quiet_minutes=quiet_minutes, rules_path=rules_path), incident)
    if chosen is None:
        return undetermined(NO_SIGNAL, overrides)
    window = _Window(chosen, scope)
    if alerts is None:
        from .metrics import evaluate_rules

        alerts = evaluate_rules(con, window.scope, rules_path=rules_path)
    found = _derive(con, window, alerts, detect_level, overrides or {})
    return _frame(found, overrides, chosen["incident_id"])


def undetermined(reason: str, overrides: dict[str, Any] | None = None) -> pl.DataFrame:
    """The milestone frame when no incident can be analysed: every milestone not determined
    (overrides still apply)."""
    return _frame({m: _unknown(reason) for m in MILESTONES}, overrides, None)


def _derive(con: duckdb.DuckDBPyConnection, window: _Window, alerts: pl.DataFrame,
            detect_level: str, overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cited = cited_events(con, alerts, "_il_milestone_cited")
    try:
        signal = f"({SIGNAL_SQL} OR event_id IN (SELECT event_id FROM {cited}))"
        found: dict[str, dict[str, Any]] = {}
        first = window.first(con, signal, [])
        found["started"] = (_cite(first, "first failure signal of the incident: "
                                  f"{_what(first)}") if first else
                            _unknown("no failure signal in the incident window"))
        firing, found["detected"] = _detection(con, window, alerts, detect_level)
        # The failing systems: those the detecting rule cites, else those with signals.
        systems = firing["systems"] if firing else _signal_systems(con, window, signal)
        found["mitigated"] = _mitigation(con, window, alerts, firing, systems, signal)
        since = (to_ts(overrides["mitigated"]) if overrides.get("mitigated")
                 else found["mitigated"]["ts"])
        found["resolved"] = _resolution(con, window, systems, since)
        return found
    finally:
        con.execute(f"DROP TABLE IF EXISTS {cited}")


def _detection(con: duckdb.DuckDBPyConnection, window: _Window, alerts: pl.DataFrame,
               detect_level: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The first firing's threshold crossing: the first event it cites at or after it fired."""
    crossings = _crossings(con, window, alerts)
    if crossings.is_empty():
        return None, _unknown("no alert rule fired on evidence in this incident")
    paging = crossings.filter(pl.col("level").is_in(PAGING))
    usable = paging if detect_level == "page" and not paging.is_empty() else crossings
    firing = usable.sort(["ts", "level_rank", "rule"], descending=[False, True, False]).row(
        0, named=True)
    note = "" if firing["level"] in PAGING or detect_level != "page" else " (no rule paged)"
    text = (f"rule {firing['rule']} ({firing['level']}{note}, group {firing['group']}) crossed "
            f"its threshold; first evidence it cites at or after {firing['first_fired']}: "
            f"{_what(firing)}")
    return firing, _cite(firing, text)


def _crossings(con: duckdb.DuckDBPyConnection, window: _Window,
               alerts: pl.DataFrame) -> pl.DataFrame:
    if alerts is None or alerts.is_empty():
        return pl.DataFrame()
    firings = alerts.with_row_index("firing").select(
        "firing", "rule", "group", "level", "first_fired", "cleared", "event_ids")
    con.register("_il_firings", firings.to_arrow())
    try:
        sql = f"""
        WITH cited AS (SELECT firing, unnest(event_ids) AS event_id FROM _il_firings),
        hits AS (
            SELECT c.firing, e.* FROM cited c JOIN timeline_events e USING (event_id)
            WHERE {window.sql}
        )
        SELECT f.firing, f.rule, f."group", f.level, f.first_fired, f.cleared,
               CASE f.level WHEN 'critical' THEN 3 WHEN 'page' THEN 2 ELSE 1 END AS level_rank,
               h.ts, h.event_id, h.system, h.source, h.record_no, h.event_type, h.message,
               s.systems
        FROM _il_firings f
        JOIN (SELECT firing, list(DISTINCT system ORDER BY system) AS systems
              FROM hits GROUP BY firing) s USING (firing)
        JOIN (SELECT h.* FROM hits h JOIN _il_firings f USING (firing)
              WHERE h.ts >= f.first_fired
              QUALIFY row_number() OVER (PARTITION BY firing ORDER BY h.ts, h.event_id) = 1
        ) h USING (firing)"""
        return frame(con, sql, window.params)
    finally:
        con.unregister("_il_firings")


def _mitigation(con: duckdb.DuckDBPyConnection, window: _Window, alerts: pl.DataFrame,
                firing: dict[str, Any] | None, systems: list[str], signal: str
                ) -> dict[str, Any]:
    """The first healthy event of the failing systems after their last failure signal, once the
    detecting rule has cleared (every level of it, for its group)."""
    if not systems:
        return _unknown("no failure signal in the incident window")
    cleared = None
    if firing is not None:
        same = alerts.filter((pl.col("rule") == firing["rule"])
                             & (pl.col("group") == firing["group"]))
        if same["cleared"].null_count():
            return _unknown(f"rule {firing['rule']} (group {firing['group']}) still fires when "
                            "the evidence of this incident ends")
        cleared = same["cleared"].max()
    inside = f"system IN ({', '.join('?' for _ in systems)})"
    last = window.first(con, f"{signal} AND {inside}", list(systems), last=True)
    if last is None:
        return _unknown("no failure signal from the failing systems")
    condition = f"{HEALTHY_SQL} AND {inside} AND ts > ?"
    params: list[Any] = [*systems, last["ts"]]
    if cleared is not None:
        condition += " AND ts >= ?"
        params.append(cleared)
    found = window.first(con, condition, params)
    after = f"the last failure signal ({last['ts']}, event {last['event_id']})"
    if cleared is not None:
        after += f" and rule {firing['rule']} cleared ({cleared})"  # type: ignore[index]
    if found is None:
        return _unknown(f"no healthy event from {', '.join(systems)} after {after}")
    return _cite(found, f"first healthy event from {', '.join(systems)} after {after}: "
                        f"{_what(found)}")


def _resolution(con: duckdb.DuckDBPyConnection, window: _Window, systems: list[str],
                since: datetime | None) -> dict[str, Any]:
    """The first recovery evidence (RECOVERY) of the failing systems at or after mitigation."""
    if since is None:
        return _unknown("mitigation not determined, so nothing counts as recovery after it")
    condition = " OR ".join(f"({sql})" for sql in RECOVERY.values())
    condition = (f"({condition}) AND NOT {SIGNAL_SQL} AND ts >= ? "
                 f"AND system IN ({', '.join('?' for _ in systems)})")
    found = window.first(con, condition, [since, *systems])
    kinds = ", ".join(RECOVERY)
    if found is None:
        return _unknown(f"no recovery evidence ({kinds}) after mitigation in this incident")
    return _cite(found, f"first recovery evidence after mitigation: {_what(found)}")


def _signal_systems(con: duckdb.DuckDBPyConnection, window: _Window, signal: str) -> list[str]:
    sql = (f"SELECT DISTINCT system FROM timeline_events WHERE {window.sql} AND {signal} "
           "ORDER BY system")
    return [r[0] for r in con.execute(sql, window.params).fetchall()]


def _what(row: dict[str, Any]) -> str:
    message = (row.get("message") or "").replace("\n", " ")
    message = message if len(message) <= 120 else message[:119] + "…"
    return f"{row.get('system')} {row.get('event_type')} {message}".strip()


def _cite(row: dict[str, Any], text: str) -> dict[str, Any]:
    return {"ts": row["ts"], "basis": EVIDENCE, "event_id": row["event_id"],
            "system": row["system"], "source": row["source"], "record_no": row["record_no"],
            "evidence": text}


def _unknown(reason: str) -> dict[str, Any]:
    return {"ts": None, "basis": UNKNOWN, "event_id": None, "system": None, "source": None,
            "record_no": None, "evidence": reason}


def _frame(found: dict[str, dict[str, Any]], overrides: dict[str, Any] | None,
           incident_id: str | None) -> pl.DataFrame:
    rows = []
    for name in MILESTONES:
        row = dict(found[name])
        if overrides and overrides.get(name):
            said = (f"the evidence gives {row['ts']} (event {row['event_id']})"
                    if row["ts"] is not None else f"from the evidence: {row['evidence']}")
            row = {**_unknown(""), "ts": to_ts(overrides[name], name), "basis": OVERRIDE,
                   "evidence": f"set by the report author; {said}"}
        rows.append({"milestone": name, **row, "incident_id": incident_id})
    return pl.DataFrame(rows, schema=MILESTONE_SCHEMA)


def durations(milestones_df: pl.DataFrame) -> dict[str, Any]:
    """TTD / TTM / TTR in seconds from `started`, only between determined milestones in order.

    `violations` names each pair out of order (started <= detected <= mitigated <= resolved);
    a duration whose milestone is undetermined or out of order is None, with the reason in
    `notes`. `in_order` is True when no pair is out of order.
    """
    rows = {r["milestone"]: r for r in milestones_df.iter_rows(named=True)}
    at = {m: rows[m]["ts"] for m in MILESTONES if m in rows and rows[m]["ts"] is not None}
    violations, broken = [], set()
    present = [m for m in MILESTONES if m in at]
    for a, b in itertools.pairwise(present):
        if at[b] < at[a]:
            violations.append(f"{b} ({at[b]}) is before {a} ({at[a]})")
            broken.update((a, b))
    out: dict[str, Any] = {"in_order": not violations, "violations": violations, "notes": {}}
    for key, name in DURATIONS.items():
        if "started" not in at or name not in at:
            missing = "started" if "started" not in at else name
            reason = rows[missing]["evidence"] if missing in rows else "no row"
            out[key], out["notes"][key] = None, f"{missing}: {reason}"
        elif {name, "started"} & broken:
            out[key], out["notes"][key] = None, "not shown: milestones out of order"
        else:
            out[key] = (at[name] - at["started"]).total_seconds()
    return out
