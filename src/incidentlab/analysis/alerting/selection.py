"""The rows the alert rules of one kind look at, selected for all of them in one scan.

Every event rule's selector (event types, raw types, systems, deferrals, `where`) is evaluated
once per row in one pass; the rows any rule selects are kept in a temp table with a bit per rule
(`_il_m<k>`), so a rule's rows are `WHERE (_il_m<k> & bit) <> 0` over that table: the same rows
as the rule's own scan would give (exact by construction). Only the columns the rules read after
selection are kept, and a wide column (attrs, message, ...) only on the rows of the rules that
read it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import duckdb

from ...errors import UsageError
from ...membership import one_of
from ...scope import Scope
from .._sql import quote

ROWS = "_il_rows"
ACTIVITY = "_il_activity"
CALLS = "_il_calls"
# The calls table's columns over no rows (for a rule that selects none: no lookup is built).
NO_CALLS = ("(SELECT NULL::VARCHAR AS stream, NULL::VARCHAR AS correlation_id, "
            "NULL::VARCHAR AS tool_name, NULL::VARCHAR AS call_args WHERE false)")
# Columns the engine itself reads from a rule's rows (ordering, pairing, call lookup, stops).
ENGINE_COLUMNS = ("ts", "event_id", "position", "source", "stream", "correlation_id", "name",
                  "event_type")
# Rule options whose SQL runs over the selected rows; the selector options (event_types,
# raw_types, system(s), defer_to, where) run in the scan and need no column afterwards.
ROW_OPTIONS = ("group_by", "key", "distinct", "numerator", "run_where", "partition_by", "opener",
               "closer", "item", "owner", "value", "anchor", "follower")
DEFAULTS = {"duration": {"item": "name"}, "outlier": {"value": "duration_ms"},
            "consecutive": {"key": "event_type"}}
BITS = 62  # rules per mask column (BIGINT, sign bit unused)


def systems(rule: dict[str, Any]) -> list[str]:
    return list(rule.get("systems") or ([rule["system"]] if rule.get("system") else []))


def selector(rule: dict[str, Any]) -> str:
    """The rows a rule looks at: event types (prefix with `.*`), raw names, system, extra SQL.

    Systems a rule defers to (`defer_to`, resolved by load_rules) are left out.
    """
    alternatives = _alternatives(rule)
    parts = [" OR ".join(alternatives)] if alternatives else []
    rest = _rest(rule)
    return " AND ".join([*(f"({p})" for p in parts), *([rest] if rest else [])]) or "true"


def _rest(rule: dict[str, Any], systems_too: bool = True) -> str:
    """The selector without its event / raw types: systems (unless told), deferrals, `where`
    ('' if none)."""
    parts = []
    names = systems(rule)
    if names and systems_too:
        parts.append(one_of("system", [quote(s) for s in names]))
    deferred = rule.get("_defer_systems") or []
    if deferred:
        parts.append(one_of("system", [quote(s) for s in deferred], negate=True))
    if rule.get("where"):
        parts.append(rule["where"])
    return " AND ".join(f"({p})" for p in parts)


def _alternatives(rule: dict[str, Any]) -> list[str]:
    types = rule.get("event_types", [])
    exact = [quote(t) for t in types if not t.endswith(".*")]
    out = [one_of("event_type", exact)] if exact else []
    out += [f"starts_with(event_type, {quote(t[:-1])})" for t in types if t.endswith(".*")]
    raw = [quote(t) for t in rule.get("raw_types", [])]
    out += [one_of("event_type_raw", raw)] if raw else []
    return out


def _row_text(rule: dict[str, Any]) -> str:
    """The SQL a rule evaluates over its selected rows (options and their defaults)."""
    parts: list[str] = []
    for option in ROW_OPTIONS:
        value = rule.get(option, DEFAULTS.get(rule["kind"], {}).get(option))
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(str(v) for v in value)
    return "\n".join(parts)


def reads(rule: dict[str, Any], column: str) -> bool:
    return re.search(rf"(?<![\w$]){re.escape(column)}(?![\w$])", _row_text(rule), re.I) is not None


class Selection:
    """The evaluation context: the window, the scope's SQL, the shared tables of one run.

    `materialize`: select each kind's rows into a temp table in one scan (select()) and read
    every rule's rows from it; off (the default), each rule's rows stream from its own scan of
    timeline_events, whose filters DuckDB pushes into the scan. Measured at 10M generated
    events (benchmarks/analysis.py), the streaming scans were as fast or faster and need no
    memory for the selection, so they are the default; both give the same rows.
    """

    materialize = False

    def __init__(self, con: duckdb.DuckDBPyConnection, scope: Scope, start: datetime,
                 end: datetime, data_end: datetime) -> None:
        self.con, self.scope = con, scope
        self.start, self.end, self.data_end = start, end, data_end
        # The window is $start/$end in every query; these are the rest of the scope.
        self.events_scope = scope.sql(window=False)
        self.metrics_scope = scope.metrics_sql(window=False)
        self.masks: dict[str, str] = {}  # rule id -> SQL condition over ROWS
        self.activity: dict[str, int] = {}  # absence rule id -> its columns in ACTIVITY
        self.spans: dict[str, str] = {}  # duration rule id -> temp table of its spans
        self.calls: str | None = None
        self.empty: set[str] = set()  # ids of the rules that select no row (find_empty)
        self.rules: list[dict[str, Any]] = []
        self.tables: list[str] = []
        # The temp tables are read by queries that order what they need: keeping their rows
        # in insertion order is only cost (about half the selection's time at 10M rows).
        [(self._ordered,)] = con.execute(
            "SELECT current_setting('preserve_insertion_order')").fetchall()
        con.execute("SET preserve_insertion_order = false")

    @property
    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "data_end": self.data_end}

    def execute(self, sql: str) -> None:
        self.con.execute(sql, {k: v for k, v in self.params.items() if f"${k}" in sql} or None)

    def _create(self, table: str, sql: str) -> None:
        self.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}")
        self.tables.append(table)

    # --- the one scan -------------------------------------------------------------------------

    def select(self, rules: list[dict[str, Any]]) -> None:
        """Select the rows of every event rule given (the rules of one kind) in one pass.

        A row's candidate rules come from its event type and raw type (with its system, for
        rules bound to systems) by joins with small tables (key -> bits of the rules that list
        it) and from the rules' type prefixes; only a candidate rule's remaining conditions
        (deferrals, `where`) are evaluated on the row, so the cost is a few hash probes per row
        plus each rule's own SQL on its own types' rows, not every selector on every row.
        """
        self.release()
        self.rules = [r for r in rules if r["kind"] != "metric"]
        if not self.rules or not self.materialize:
            return
        names = [d[0] for d in self.con.execute("SELECT * FROM timeline_events LIMIT 0").description]
        chunks = [self.rules[i:i + BITS] for i in range(0, len(self.rules), BITS)]
        # (type, system or None) -> bits per chunk, for event types, raw types and prefixes: a
        # rule bound to systems lists (type, system) pairs, so its system test is the join's.
        keyed: dict[str, dict[tuple[str, str | None], list[int]]] = {
            "exact": {}, "raw": {}, "prefix": {}}
        always = [0] * len(chunks)
        pure = [0] * len(chunks)  # rules decided by the join alone (no deferral, no where)
        terms: list[list[str]] = [[] for _ in chunks]
        bit_of: dict[str, tuple[int, int]] = {}
        for k, chunk in enumerate(chunks):
            for i, rule in enumerate(chunk):
                bit = 1 << i
                bit_of[rule["id"]] = (k, bit)
                self.masks[rule["id"]] = f"(_il_m{k} & {bit}) <> 0"
                bound: list[str | None] = list(systems(rule)) or [None]
                alternatives = [("prefix", t[:-1]) if t.endswith(".*") else ("exact", t)
                                for t in rule.get("event_types", [])]
                alternatives += [("raw", t) for t in rule.get("raw_types", [])]
                for table, t in alternatives:
                    for system in bound:
                        keyed[table].setdefault((t, system), [0] * len(chunks))[k] |= bit
                rest = _rest(rule, systems_too=not alternatives)
                if not alternatives:
                    always[k] |= bit
                if rest:
                    terms[k].append(f"CASE WHEN (_il_c{k} & {bit}) <> 0 AND {rest} "
                                    f"THEN {bit} ELSE 0 END")
                else:
                    pure[k] |= bit
        width = range(len(chunks))
        ctes, joins, lookups = [], [], []
        for table, column in (("exact", "event_type"), ("raw", "event_type_raw")):
            for bound in (False, True):
                entries = {key: bits for key, bits in keyed[table].items()
                           if (key[1] is not None) == bound}
                if not entries:
                    continue
                name = f"_il_{table}{'_s' if bound else ''}"
                rows = ", ".join(
                    f"({quote(t)}, {quote(system) + ', ' if bound else ''}"
                    f"{', '.join(str(b) for b in bits)})"
                    for (t, system), bits in sorted(entries.items(), key=str))
                heads = ["t", *(["s"] if bound else []), *(f"c{k}" for k in width)]
                ctes.append(f"{name}({', '.join(heads)}) AS (VALUES {rows})")
                on = f"{name}.t = e.{column}" + (f" AND {name}.s = e.system" if bound else "")
                joins.append(f"LEFT JOIN {name} ON {on}")
                lookups.append(name)
        candidates = []
        for k in width:
            parts = [f"coalesce({name}.c{k}, 0)" for name in lookups]
            for (p, system), bits in sorted(keyed["prefix"].items(), key=str):
                if bits[k]:
                    test = f"starts_with(e.event_type, {quote(p)})" + (
                        f" AND e.system = {quote(system)}" if system is not None else "")
                    parts.append(f"CASE WHEN {test} THEN {bits[k]} ELSE 0 END")
            parts.append(str(always[k]))
            candidates.append(f"({' | '.join(parts)}) AS _il_c{k}")
        # Rows no rule can select are left out by the scan itself (when every rule names types).
        typed = ""
        if not any(always):
            exact = sorted({t for t, _s in keyed["exact"]})
            raw = sorted({t for t, _s in keyed["raw"]})
            alts = [one_of("event_type", [quote(t) for t in exact])] if exact else []
            alts += [one_of("event_type_raw", [quote(t) for t in raw])] if raw else []
            alts += [f"starts_with(event_type, {quote(p)})"
                     for p in sorted({t for t, _s in keyed["prefix"]})]
            typed = f"AND ({' OR '.join(alts)})"
        for k in width:
            if pure[k]:
                terms[k].append(f"(_il_c{k} & {pure[k]})")
        masks = [f"({' + '.join(terms[k])})::BIGINT AS _il_m{k}" for k in width]
        kept = []
        for column in names:
            readers = [r for r in self.rules if reads(r, column)]
            if column in ENGINE_COLUMNS or len(readers) == len(self.rules):
                kept.append(column)
            elif readers:
                held = [0] * len(chunks)
                for rule in readers:
                    k, bit = bit_of[rule["id"]]
                    held[k] |= bit
                test = " OR ".join(f"(_il_m{k} & {held[k]}) <> 0" for k in width if held[k])
                kept.append(f"CASE WHEN {test} THEN {column} END AS {column}")
        sql = f"""
            {'WITH ' + ', '.join(ctes) if ctes else ''}
            SELECT {', '.join(kept)}, {', '.join(f'_il_m{k}' for k in width)}
            FROM (SELECT *, {', '.join(masks)}
                  FROM (SELECT e.*, {', '.join(candidates)}
                        FROM (SELECT * FROM timeline_events
                              WHERE ts IS NOT NULL AND ts >= $start AND ts <= $end
                                AND {self.events_scope} {typed}) e
                        {' '.join(joins)}))
            WHERE {' OR '.join(f'_il_m{k} <> 0' for k in width)}"""
        try:
            self._create(ROWS, sql)
        except duckdb.Error as exc:
            self._blame(exc)

    def release(self) -> None:
        """Drop the selected rows of the last select(), and the calls looked up for them (the
        calls of the whole scope, when not materialized, serve every kind: kept until close)."""
        dropped = (ROWS, CALLS) if self.materialize else (ROWS,)
        for table in dropped:
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
        self.tables = [t for t in self.tables if t not in dropped]
        self.masks, self.rules = {}, []
        if self.materialize:
            self.calls = None

    def _blame(self, exc: duckdb.Error) -> None:
        """Name the rule whose selector fails (each tried alone), or say the scan failed."""
        for rule in self.rules:
            try:
                self.execute(f"SELECT count(*) FROM timeline_events WHERE ts >= $start "
                             f"AND ts <= $end AND {self.events_scope} AND ({selector(rule)})")
            except duckdb.Error as own:
                raise failed(rule, own) from exc
        raise UsageError(f"alert rules failed in SQL: {str(exc).splitlines()[0]}",
                         hint="check the rules file's expressions") from exc

    def find_empty(self, rules: list[dict[str, Any]]) -> None:
        """The event rules none of whose event types (or raw types) occurs in range on a system
        they look at: each rule's own selector, without its `where`, over the distinct (system,
        type, raw type) of the events in range (one aggregate, then a scan of a few rows).
        Their points are none, so their queries need not read the events (or look calls up).
        A rule without types, and absence rules (a group with no row is their firing), are
        never among them."""
        probed = [r for r in rules if r["kind"] not in ("absence", "metric")
                  and (r.get("event_types") or r.get("raw_types"))]
        if not probed:
            return
        raw = sorted({t for r in probed for t in r.get("raw_types", [])})
        listed = (f"CASE WHEN {one_of('event_type_raw', [quote(t) for t in raw])} "
                  "THEN event_type_raw END" if raw else "NULL::VARCHAR")
        found = ", ".join(f"count(*) FILTER (WHERE {selector({**r, 'where': None})}) > 0"
                          for r in probed)
        [selects] = self.con.execute(
            f"WITH seen AS (SELECT DISTINCT system, event_type, {listed} AS event_type_raw "
            f"FROM timeline_events WHERE ts IS NOT NULL AND ts >= $start AND ts <= $end "
            f"AND {self.events_scope}) SELECT {found} FROM seen",
            {"start": self.start, "end": self.end}).fetchall()
        self.empty = {r["id"] for r, any_row in zip(probed, selects, strict=True) if not any_row}

    def bound_activity(self, rules: list[dict[str, Any]]) -> None:
        """Activity bounds (first and last non-derived time) of every absence rule, one pass."""
        absence = [r for r in rules if r["kind"] == "absence"]
        if not absence:
            return
        columns = []
        for i, rule in enumerate(absence):
            activity = rule.get("activity") or (
                f"system = {quote(rule['system'])}" if rule.get("system") else "true")
            self.activity[rule["id"]] = i
            columns.append(f"min(CASE WHEN ({activity}) THEN ts END) AS lo_{i}, "
                           f"max(CASE WHEN ({activity}) THEN ts END) AS hi_{i}")
        sql = (f"SELECT {', '.join(columns)} FROM timeline_events WHERE ts >= $start "
               f"AND ts <= $end AND ts_quality <> 'derived' AND {self.events_scope}")
        try:
            self._create(ACTIVITY, sql)
        except duckdb.Error as exc:
            for rule in absence:
                try:
                    self.execute(sql.replace("SELECT ", f"SELECT lo_{self.activity[rule['id']]} "
                                             "FROM (SELECT ", 1) + ")")
                except duckdb.Error:
                    raise failed(rule, exc) from exc
            raise

    # --- per rule -----------------------------------------------------------------------------

    def rows(self, rule: dict[str, Any], group: str) -> str:
        """The rule's selected rows in the evaluation range, with its group column.

        `with_call` (or the older `with_tool_name`) adds, from the call with the same stream and
        correlation id (tool.proposed / tool.call): `tool`, the row's name or the call's
        (CodingBuddy ToolResult rows carry none), and `call_args`, the call's message (its
        arguments as the loader wrote them) with runs of white space collapsed. With
        `call_where` (SQL over tool_name and call_args, the message only trimmed) only rows
        whose call matches are kept.
        """
        # A rule that selects no row keeps its SQL (bound, so a broken expression still fails)
        # over no rows: the planner drops the scan.
        empty = "false AND " if rule["id"] in self.empty else ""
        if self.materialize:
            rows = f"SELECT *, {group} AS grp FROM {ROWS} WHERE {empty}{self.masks[rule['id']]}"
        else:
            rows = (f"SELECT *, {group} AS grp FROM timeline_events WHERE {empty}ts IS NOT NULL "
                    f"AND ts >= $start AND ts <= $end AND ({selector(rule)}) "
                    f"AND {self.events_scope}")
        if not (rule.get("with_call") or rule.get("with_tool_name")):
            return rows
        calls, join = (NO_CALLS if empty else self.calls_table()), "LEFT JOIN"
        if rule.get("call_where"):
            calls, join = f"(SELECT * FROM {calls} WHERE {rule['call_where']})", "JOIN"
        # White space is collapsed on the joined rows only (a regex over every call is the cost).
        return f"""
            SELECT r.*, coalesce(r.name, t.tool_name) AS tool,
                   regexp_replace(t.call_args, '\\s+', ' ', 'g') AS call_args
            FROM ({rows}) r {join} {calls} t
              ON t.stream = r.stream AND t.correlation_id = r.correlation_id"""

    def calls_table(self) -> str:
        """(stream, correlation_id) -> tool_name, call_args of the tool calls (in scope, at any
        time) that some `with_call` rule looks up, built once: a rule that reads neither the
        call's arguments nor a call filter needs the call only where its row has no name."""
        if self.calls is None and not self.materialize:
            self._create(CALLS, f"""
                SELECT stream, correlation_id, any_value(name) AS tool_name,
                       any_value(trim(message)) AS call_args
                FROM timeline_events
                WHERE event_type IN ('tool.proposed', 'tool.call') AND correlation_id IS NOT NULL
                  AND {self.events_scope}
                GROUP BY stream, correlation_id""")
            self.calls = CALLS
        if self.calls is None:
            wanted = []
            for rule in self.rules:
                if not (rule.get("with_call") or rule.get("with_tool_name")):
                    continue
                whole = rule.get("call_where") or reads(rule, "call_args")
                wanted.append(self.masks[rule["id"]] + ("" if whole else " AND name IS NULL"))
            keys = " OR ".join(f"({w})" for w in wanted) or "false"
            [(needed,)] = self.con.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {ROWS} WHERE {keys} LIMIT 1)").fetchall()
            if not needed:  # no row looks a call up: no scan of the calls
                keys = "false"
            self._create(CALLS, f"""
                SELECT c.stream, c.correlation_id, any_value(c.name) AS tool_name,
                       any_value(trim(c.message)) AS call_args
                FROM timeline_events c
                JOIN (SELECT DISTINCT stream, correlation_id FROM {ROWS}
                      WHERE ({keys}) AND stream IS NOT NULL AND correlation_id IS NOT NULL) k
                  ON c.stream = k.stream AND c.correlation_id = k.correlation_id
                WHERE c.event_type IN ('tool.proposed', 'tool.call') AND {'true' if needed else 'false'}
                  AND {self.scope.sql('c', window=False)}
                GROUP BY c.stream, c.correlation_id""")
            self.calls = CALLS
        return self.calls

    def close(self) -> None:
        for table in [*self.spans.values(), *self.tables]:
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
        self.con.execute(f"SET preserve_insertion_order = {'true' if self._ordered else 'false'}")


def failed(rule: dict[str, Any], exc: duckdb.Error) -> UsageError:
    return UsageError(
        f"rule {rule['id']} ({rule['kind']}) failed in SQL: {str(exc).splitlines()[0]}",
        hint="check its where / key / numerator expressions in the rules file",
    )
