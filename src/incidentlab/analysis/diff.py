"""Run diff: two event streams aligned step by step, where they diverge, and how they ended.

A run is an `events.stream` (a session, a workflow run, an execution), read from
`timeline_events` in stream order: time (untimed events last), then source file, `position`,
`record_no`, requests before their results, event id. Each event becomes one step with a key:

    (event_type, tool name, detail)

The tool name is `name` (the actor when there is none). For an action (ACTION_TYPES: a tool
call, proposal or request, a skill or subagent start) the detail is its `message` (the
loader's one-line form of the call: the command or the arguments) normalized by
`normalize_arguments`; for any other event it is the `outcome` (ok / error / ...), so results,
messages and state changes match on what happened, not on their text.

The two key sequences are aligned with a longest common subsequence (Myers' O((N+M)·D)
algorithm, linear space, `lcs_pairs`): steps in the LCS are `same`, the steps between two
matches are paired in order as `changed`, and what is left over is `only_a` / `only_b`.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from ..errors import UsageError
from ..redaction import Redactor
from ..scope import Scope
from . import usage as usage_mod
from ._sql import SEVERITY_RANK, SEVERITY_SQL, Where, frame
from .incidents import MTIME_SQL

ACTION_TYPES = frozenset({"tool.call", "tool.proposed", "tool.requested", "tool.approved",
                          "tool.started", "skill.invoke", "subagent.start"})
END_TYPES = frozenset({"run.end", "session.end", "workflow.end", "task.end", "conversation.end",
                       "conversation.stopped", "subagent.end", "subagent.fail",
                       "limit.turns_exceeded", "limit.budget_exceeded"})
# Without an end event, the last state change says where the run stopped.
STATE_TYPES = frozenset({"session.state", "run.state", "stage.transition"})
TEST_TYPES = frozenset({"test.pass", "test.fail"})
ERROR_OUTCOMES = frozenset({"error", "timeout", "denied"})
# Past this many differences in one stretch the search stops and that stretch stays unaligned
# (its steps paired in order as `changed`); the result says so (alignment.exact is False).
# Two unrelated 20k-step runs then cost ~2 s instead of minutes (difflib took 12 s there and
# found less than a tenth of the common steps).
MAX_EDIT_DISTANCE = 2000
NO_TIMED = "not determined (no timed events)"
ONE_TIMED = "not determined (one timed event)"
COLUMNS = ("event_id, ts, ts_quality, ts_raw, system, source, source_path, record_no, position, "
           "event_type, actor, name, outcome, severity, message")
# Requests before their results when a loader gives both one position (SWE-agent steps).
PHASE_SQL = ("CASE WHEN event_type LIKE '%.result' OR event_type LIKE '%.response' "
             "OR event_type LIKE '%.completed' OR event_type LIKE '%.failed' THEN 1 ELSE 0 END")
ORDER = f"ts NULLS LAST, source_path, position, record_no, {PHASE_SQL}, event_id"

# --- the step key ---------------------------------------------------------------------------

_QUOTES = str.maketrans("", "", "'\"`")
_PATH = re.compile(r"\S*/\S*")
_TIMESTAMP = re.compile(
    r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?"
    r"|(?<!\d)\d\d:\d\d:\d\d(?:[.,]\d+)?")
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_HEX = re.compile(r"\b(?:0x)?(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{7,}\b")
_ID = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{16,}\b")
_NUMBER = re.compile(r"(?<![A-Za-z_])\d+(?:\.\d+)?")


def _short_path(token: str) -> str:
    parts = [p for p in token.split("/") if p not in ("", ".")]
    return "/".join(parts[-2:]) if parts else token


def normalize_arguments(text: str | None) -> str:
    """The arguments of a call as the step key compares them, in this order:

    1. quote characters (' " `) removed;
    2. every token holding a `/` keeps its last two path components (empty and `.` ones
       dropped): `/testbed/src/pkg/mod.py` -> `pkg/mod.py`, `tests/./x.py` -> `tests/x.py`, so
       paths under different roots (absolute or relative) compare equal;
    3. ISO dates and times -> `<ts>`, UUIDs -> `<uuid>`, hex strings of 7+ digits with a letter
       and a digit (commit ids, hashes) -> `<hex>`, tokens of 16+ word characters with a letter
       and a digit (call ids, session ids) -> `<id>`, numbers not glued to a letter or `_`
       -> `<n>` (`edit 4:4` -> `edit <n>:<n>`, but `python3` stays);
    4. whitespace runs -> one space, ends stripped.
    """
    if not text:
        return ""
    out = " ".join(text.translate(_QUOTES).split())
    out = _PATH.sub(lambda m: _short_path(m.group(0)), out)
    out = _TIMESTAMP.sub("<ts>", out)
    out = _UUID.sub("<uuid>", out)
    out = _HEX.sub("<hex>", out)
    out = _ID.sub("<id>", out)
    out = _NUMBER.sub("<n>", out)
    return " ".join(out.split())


def step_key(event_type: str | None, name: str | None, actor: str | None, outcome: str | None,
             message: str | None) -> tuple[str, str, str]:
    """(event_type, tool name or actor, normalized arguments for an action / outcome else)."""
    kind = event_type or ""
    detail = normalize_arguments(message) if kind in ACTION_TYPES else (outcome or "")
    return kind, name or actor or "", detail


def key_text(key: tuple[str, str, str]) -> str:
    kind, tool, detail = key
    return " ".join(p for p in (kind, tool) if p) + (f": {detail}" if detail else "")


# --- longest common subsequence (Myers) -----------------------------------------------------


class _TooFar(Exception):
    pass


def _middle_snake(a: Sequence[int], alo: int, ahi: int, b: Sequence[int], blo: int, bhi: int,
                  limit: int) -> tuple[int, int] | None:
    """A split point on an optimal edit path of a[alo:ahi] vs b[blo:bhi] (both non-empty, no
    common first or last element), found by searching from both ends at once (Myers 1986,
    section 4b; laid out as in diff-match-patch's bisect). None: nothing in common."""
    n, m = ahi - alo, bhi - blo
    max_d = (n + m + 1) // 2
    offset, size = max_d, 2 * max_d + 2
    v1, v2 = [-1] * size, [-1] * size
    v1[offset + 1] = v2[offset + 1] = 0
    delta = n - m
    front = delta % 2 != 0
    k1start = k1end = k2start = k2end = 0
    for d in range(max_d):
        if d > limit:
            raise _TooFar
        for k1 in range(-d + k1start, d + 1 - k1end, 2):
            i1 = offset + k1
            x1 = v1[i1 + 1] if k1 == -d or (k1 != d and v1[i1 - 1] < v1[i1 + 1]) else v1[i1 - 1] + 1
            y1 = x1 - k1
            while x1 < n and y1 < m and a[alo + x1] == b[blo + y1]:
                x1 += 1
                y1 += 1
            v1[i1] = x1
            if x1 > n:
                k1end += 2
            elif y1 > m:
                k1start += 2
            elif front:
                i2 = offset + delta - k1
                if 0 <= i2 < size and v2[i2] != -1 and x1 >= n - v2[i2]:
                    return alo + x1, blo + y1
        for k2 in range(-d + k2start, d + 1 - k2end, 2):
            i2 = offset + k2
            x2 = v2[i2 + 1] if k2 == -d or (k2 != d and v2[i2 - 1] < v2[i2 + 1]) else v2[i2 - 1] + 1
            y2 = x2 - k2
            while x2 < n and y2 < m and a[ahi - x2 - 1] == b[bhi - y2 - 1]:
                x2 += 1
                y2 += 1
            v2[i2] = x2
            if x2 > n:
                k2end += 2
            elif y2 > m:
                k2start += 2
            elif not front:
                i1 = offset + delta - k2
                if 0 <= i1 < size and v1[i1] != -1:
                    x1 = v1[i1]
                    y1 = offset + x1 - i1
                    if x1 >= n - x2:
                        return alo + x1, blo + y1
    return None


def lcs_pairs(a: Sequence[Hashable], b: Sequence[Hashable], *,
              max_edit_distance: int = MAX_EDIT_DISTANCE) -> tuple[list[tuple[int, int]], bool]:
    """Index pairs (i, j) of a longest common subsequence of a and b, in order, and whether it
    is exact. Myers' algorithm: O((N+M)·D) time and O(N+M) memory, D = the number of steps
    only one side has. A stretch with more than `max_edit_distance` differences is left
    unaligned (no pairs from it; exact is then False)."""
    ids: dict[Hashable, int] = {}
    xa = [ids.setdefault(k, len(ids)) for k in a]
    xb = [ids.setdefault(k, len(ids)) for k in b]
    pairs: list[tuple[int, int]] = []
    exact = True
    stack = [(0, len(xa), 0, len(xb))]
    while stack:
        alo, ahi, blo, bhi = stack.pop()
        while alo < ahi and blo < bhi and xa[alo] == xb[blo]:
            pairs.append((alo, blo))
            alo, blo = alo + 1, blo + 1
        while alo < ahi and blo < bhi and xa[ahi - 1] == xb[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
            pairs.append((ahi, bhi))
        if alo == ahi or blo == bhi:
            continue
        try:
            split = _middle_snake(xa, alo, ahi, xb, blo, bhi, max_edit_distance // 2)
        except _TooFar:
            exact = False
            continue
        if split is None:
            continue
        x, y = split
        if (x, y) in ((alo, blo), (ahi, bhi)):  # cannot happen on a stripped range; never loop
            raise AssertionError(f"degenerate split {split} of {(alo, ahi, blo, bhi)}")
        stack.append((x, ahi, y, bhi))
        stack.append((alo, x, blo, y))
    pairs.sort()
    return pairs, exact


def align(a: Sequence[Hashable], b: Sequence[Hashable]) -> tuple[list[tuple[int | None, int | None,
                                                                              str]], bool]:
    """Rows (index in a or None, index in b or None, same|changed|only_a|only_b), and exact."""
    pairs, exact = lcs_pairs(a, b)
    rows: list[tuple[int | None, int | None, str]] = []
    i = j = 0
    for pi, pj in [*pairs, (len(a), len(b))]:
        gap_a, gap_b = range(i, pi), range(j, pj)
        for k in range(max(len(gap_a), len(gap_b))):
            ia = gap_a[k] if k < len(gap_a) else None
            jb = gap_b[k] if k < len(gap_b) else None
            rows.append((ia, jb, "changed" if ia is not None and jb is not None
                         else "only_a" if ia is not None else "only_b"))
        if pi < len(a):
            rows.append((pi, pj, "same"))
        i, j = pi + 1, pj + 1
    return rows, exact


# --- reading a run --------------------------------------------------------------------------


def streams_like(con: duckdb.DuckDBPyConnection, run: str) -> list[str]:
    """Streams that start with `run`, else the nearest names (for an error message)."""
    prefixed = [r[0] for r in con.execute(
        "SELECT DISTINCT stream FROM timeline_events WHERE starts_with(stream, ?) ORDER BY 1 "
        "LIMIT 21", [run]).fetchall()]
    if prefixed:
        return prefixed
    names = [r[0] for r in con.execute(
        "SELECT DISTINCT stream FROM timeline_events WHERE stream IS NOT NULL").fetchall()]
    near = difflib.get_close_matches(run, names, n=5, cutoff=0.4)
    inside = sorted(n for n in names if run.lower() in n.lower())[:5]
    return list(dict.fromkeys([*near, *inside]))


def resolve_run(con: duckdb.DuckDBPyConnection, run: str, *, where: str = "the database") -> str:
    """The stream `run` names: itself, or the one stream it is a prefix of."""
    if not run:
        raise UsageError("a run id is empty", hint="give a stream id (a session, run or execution)")
    [(exact,)] = con.execute("SELECT count(*) FROM timeline_events WHERE stream = ?",
                             [run]).fetchall()
    if exact:
        return run
    prefixed = [r[0] for r in con.execute(
        "SELECT DISTINCT stream FROM timeline_events WHERE starts_with(stream, ?) ORDER BY 1 "
        "LIMIT 21", [run]).fetchall()]
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        shown = ", ".join(prefixed[:20]) + (", ..." if len(prefixed) > 20 else "")
        raise UsageError(f"run {run!r} is the start of {len(prefixed)}"
                         f"{'+' if len(prefixed) > 20 else ''} streams in {where}: {shown}",
                         hint="give more of the id")
    near = streams_like(con, run)
    raise UsageError(
        f"no stream {run!r} in {where}" + (f"; near matches: {', '.join(near)}" if near else ""),
        hint="runs are `events.stream` values (a unique prefix is enough); `incidentlab usage "
             "--db DB --by stream` or `incidentlab timeline --db DB` shows them")


def run_events(con: duckdb.DuckDBPyConnection, stream: str, *, event_types: Any = None,
               min_severity: str | None = None) -> pl.DataFrame:
    """The run's events in stream order (module docstring), filtered like the timeline."""
    where = Where().add("stream = ?", stream)
    if event_types:
        types = [event_types] if isinstance(event_types, str) else list(event_types)
        exact = [t for t in types if not t.endswith(".*")]
        prefixes = [t[:-1] for t in types if t.endswith(".*")]
        parts = [f"event_type IN ({', '.join('?' for _ in exact)})"] if exact else []
        parts += ["starts_with(event_type, ?)" for _ in prefixes]
        where.add(" OR ".join(parts), *exact, *prefixes)
    if min_severity is not None:
        where.add(f"{SEVERITY_SQL} >= ?", SEVERITY_RANK.get(min_severity, 0))
    sql = (f"SELECT {COLUMNS}, NOT ({MTIME_SQL}) AND ts IS NOT NULL AS timed "
           f"FROM timeline_events {where.sql()} ORDER BY {ORDER}")
    return frame(con, sql, where.params)


# --- the result -----------------------------------------------------------------------------


@dataclass
class Run:
    """One side of the diff: where it was read from, and its events in stream order."""

    label: str
    stream: str
    db: str
    events: pl.DataFrame
    keys: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def systems(self) -> list[str]:
        return sorted(set(self.events.get_column("system").drop_nulls().to_list()))


def _event(run: Run, index: int | None) -> dict[str, Any] | None:
    """One event as the diff cites it: step (1-based), id, time, what it was, where it is."""
    if index is None or index >= run.events.height:
        return None
    row = run.events.row(index, named=True)
    return {"step": index + 1, "event_id": row["event_id"], "ts": row["ts"],
            "ts_quality": row["ts_quality"], "event_type": row["event_type"],
            "name": row["name"], "actor": row["actor"], "outcome": row["outcome"],
            "message": row["message"], "key": key_text(run.keys[index]),
            "source_path": row["source_path"], "record_no": row["record_no"],
            "position": row["position"]}


def _last(run: Run, predicate: Any) -> tuple[int | None, dict[str, Any] | None]:
    for index in range(run.events.height - 1, -1, -1):
        if predicate(run.events.row(index, named=True)):
            return index, _event(run, index)
    return None, None


def outcome_of(run: Run) -> dict[str, Any]:
    """How the run ended: its final status (last end event), last test result, last error
    (and how many steps came after it) and last event, each a cited event or None + why."""
    n = run.events.height
    _, final = _last(run, lambda r: r["event_type"] in END_TYPES)
    if final is None:
        _, final = _last(run, lambda r: r["event_type"] in STATE_TYPES)
        if final is not None:
            final["basis"] = "last state change (no end event)"
    _, test = _last(run, lambda r: r["event_type"] in TEST_TYPES)
    err_index, error = _last(run, lambda r: r["outcome"] in ERROR_OUTCOMES or (
        r["severity"] in ("error", "critical")))
    out: dict[str, Any] = {
        "final_status": final, "last_test": test, "last_error": error,
        "last_event": _event(run, n - 1) if n else None,
    }
    if final is None:
        out["final_status_note"] = ("not determined (no end event or state change: "
                                    + ", ".join(sorted(END_TYPES | STATE_TYPES)) + ")")
    if test is None:
        out["last_test_note"] = "not determined (no test.pass / test.fail events)"
    if error is None:
        out["last_error_note"] = "no event with an error outcome or severity"
    else:
        out["steps_after_last_error"] = n - 1 - (err_index or 0)
    return out


def _status(outcome: dict[str, Any]) -> str | None:
    final = outcome.get("final_status")
    if final is None:
        return None
    parts = (final["event_type"], final["name"], final["outcome"])
    if final["event_type"] in STATE_TYPES:
        parts = (*parts, final["message"])
    return " ".join(str(p) for p in parts if p)


def compare_outcomes(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs between two outcomes, in words (empty: they ended alike)."""
    out = []
    if _status(a) != _status(b):
        out.append(f"final status: A {_status(a) or 'not determined'}, "
                   f"B {_status(b) or 'not determined'}")
    ta, tb = (o["last_test"] and o["last_test"]["event_type"] for o in (a, b))
    if ta != tb:
        out.append(f"last test: A {ta or 'none'}, B {tb or 'none'}")
    ea, eb = (o["last_error"] is not None and o.get("steps_after_last_error") == 0
              for o in (a, b))
    if ea != eb:
        out.append(f"ends in an error: A {'yes' if ea else 'no'}, B {'yes' if eb else 'no'}")
    return out


def usage_of(con: duckdb.DuckDBPyConnection, stream: str) -> dict[str, Any]:
    """Tokens and cost of one stream (analysis.usage: each call once); None = not in evidence."""
    table = usage_mod.usage(con, Scope(streams=(stream,)), by=("stream",))
    fields = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
              "reasoning_tokens", "total_tokens", "estimated_tokens", "cost_usd")
    if table.is_empty():
        return {**dict.fromkeys(fields), "points": 0, "files": [], "metrics": [],
                "note": "not in evidence (no token or cost metrics for this stream)"}
    row = table.row(0, named=True)
    out = {f: row.get(f) for f in fields}
    out.update(points=row["points"], files=row["files"] or [], metrics=row["metrics"] or [])
    if out["cost_usd"] is None:
        out["note"] = "cost not in evidence"
    return out


def duration_of(run: Run) -> dict[str, Any]:
    """First to last timed event (file mtimes are not evidence of when), cited, or why not."""
    timed = run.events.with_row_index("index").filter(pl.col("timed"))
    untimed = run.events.height - timed.height
    if timed.height < 2:
        note = NO_TIMED if timed.height == 0 else ONE_TIMED
        by_mtime = run.events.filter(pl.col("ts").is_not_null() & ~pl.col("timed")).height
        if by_mtime:
            note = note[:-1] + f"; {by_mtime} timed only by a file's mtime, not evidence of when)"
        return {"seconds": None, "first": None, "last": None, "untimed_events": untimed,
                "note": note}
    by_time = timed.sort("ts", "index")
    first, last = by_time.row(0, named=True), by_time.row(-1, named=True)
    seconds = (last["ts"] - first["ts"]).total_seconds()
    out = {"seconds": seconds, "first": _event(run, first["index"]),
           "last": _event(run, last["index"]), "untimed_events": untimed}
    if untimed:
        out["note"] = f"{untimed} untimed event(s) not counted"
    return out


def _delta(a: Any, b: Any) -> Any:
    return None if a is None or b is None else b - a


def _kinds(run: Run, start: int, statuses: dict[int, str]) -> dict[str, Any]:
    counts = Counter(" ".join(p for p in run.keys[i][:2] if p) for i in range(start, len(run.keys)))
    return {"steps": len(run.keys) - start,
            "unmatched": sum(1 for i in range(start, len(run.keys)) if statuses.get(i) != "same"),
            "kinds": [{"kind": k, "count": c} for k, c in counts.most_common()]}


@dataclass
class RunDiff:
    """Two runs aligned, where they diverge, what each did after, and how they differ."""

    a: Run
    b: Run
    rows: list[tuple[int | None, int | None, str]]
    exact: bool
    outcome_a: dict[str, Any]
    outcome_b: dict[str, Any]
    usage_a: dict[str, Any]
    usage_b: dict[str, Any]
    duration_a: dict[str, Any]
    duration_b: dict[str, Any]

    @property
    def common(self) -> int:
        return sum(1 for r in self.rows if r[2] == "same")

    def first_divergence(self) -> dict[str, Any] | None:
        """The first row that is not `same`: each run's step there (1-based; for the run with
        no step in that row, the step it goes on with), both events, and the kind."""
        for number, (ia, jb, status) in enumerate(self.rows):
            if status == "same":
                continue
            before = self.rows[:number]
            next_a = ia if ia is not None else next(
                (r[0] for r in self.rows[number:] if r[0] is not None), None)
            next_b = jb if jb is not None else next(
                (r[1] for r in self.rows[number:] if r[1] is not None), None)
            return {"row": number + 1, "kind": status,
                    "step_a": None if next_a is None else next_a + 1,
                    "step_b": None if next_b is None else next_b + 1,
                    "event_a": _event(self.a, ia), "event_b": _event(self.b, jb),
                    "common_before": sum(1 for r in before if r[2] == "same")}
        return None

    def after_divergence(self) -> dict[str, Any] | None:
        """Per run, from its step at the divergence to its end: steps, how many of them the
        other run has no match for, and the count of each step kind (event type + tool)."""
        first = self.first_divergence()
        if first is None:
            return None
        sa = {r[0]: r[2] for r in self.rows if r[0] is not None}
        sb = {r[1]: r[2] for r in self.rows if r[1] is not None}
        start_a = (first["step_a"] or self.a.events.height + 1) - 1
        start_b = (first["step_b"] or self.b.events.height + 1) - 1
        return {"a": _kinds(self.a, start_a, sa), "b": _kinds(self.b, start_b, sb)}

    def aligned(self) -> pl.DataFrame:
        """One row per aligned step: status, then step / type / tool / message / event id /
        time of each side (empty where a run has no step)."""
        data: dict[str, list[Any]] = {"row": [], "status": []}
        for side in ("a", "b"):
            for col in ("step", "event_type", "name", "message", "key", "event_id", "ts"):
                data[f"{col}_{side}"] = []
        for number, (ia, jb, status) in enumerate(self.rows, start=1):
            data["row"].append(number)
            data["status"].append(status)
            for side, run, index in (("a", self.a, ia), ("b", self.b, jb)):
                event = _event(run, index) or {}
                for col in ("step", "event_type", "name", "message", "key", "event_id", "ts"):
                    data[f"{col}_{side}"].append(event.get(col))
        schema = {"row": pl.Int64, "status": pl.Utf8}
        for side in ("a", "b"):
            schema.update({f"step_{side}": pl.Int64, f"event_type_{side}": pl.Utf8,
                           f"name_{side}": pl.Utf8, f"message_{side}": pl.Utf8,
                           f"key_{side}": pl.Utf8, f"event_id_{side}": pl.Utf8,
                           f"ts_{side}": pl.Datetime("us", "UTC")})
        return pl.DataFrame(data, schema=schema)

    def alignment(self) -> dict[str, Any]:
        counts = Counter(r[2] for r in self.rows)
        return {"algorithm": "Myers O((N+M)·D) longest common subsequence" if self.exact else
                f"Myers; a stretch of more than {MAX_EDIT_DISTANCE} differences was left "
                "unaligned (its steps paired in order), so this is not a guaranteed LCS",
                "exact": self.exact, "steps_a": self.a.events.height,
                "steps_b": self.b.events.height, "same": counts["same"],
                "changed": counts["changed"], "only_a": counts["only_a"],
                "only_b": counts["only_b"]}

    def to_dict(self, *, rows: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run_a": {"stream": self.a.stream, "db": self.a.db, "systems": self.a.systems,
                      "steps": self.a.events.height},
            "run_b": {"stream": self.b.stream, "db": self.b.db, "systems": self.b.systems,
                      "steps": self.b.events.height},
            "alignment": self.alignment(),
            "first_divergence": self.first_divergence(),
            "after_divergence": self.after_divergence(),
            "outcome": {"a": self.outcome_a, "b": self.outcome_b,
                        "differences": compare_outcomes(self.outcome_a, self.outcome_b)},
            "usage": {"a": self.usage_a, "b": self.usage_b,
                      "delta": {f: _delta(self.usage_a[f], self.usage_b[f])
                                for f in ("input_tokens", "output_tokens", "total_tokens",
                                          "cost_usd")}},
            "duration": {"a": self.duration_a, "b": self.duration_b,
                         "delta_seconds": _delta(self.duration_a["seconds"],
                                                 self.duration_b["seconds"])},
        }
        if out["first_divergence"] is None:
            out["identical"] = "the runs have the same steps (by the step key)"
        if rows:
            out["steps"] = self.aligned().to_dicts()
        return out


def _read(con: duckdb.DuckDBPyConnection, run: str, label: str, db: str, *, event_types: Any,
          min_severity: str | None, redactor: Redactor | None) -> Run:
    stream = resolve_run(con, run, where=db)
    events = run_events(con, stream, event_types=event_types, min_severity=min_severity)
    if events.is_empty():
        raise UsageError(f"run {label} ({stream}) has no events of the types asked for",
                         hint="widen --type or --min-severity")
    if redactor is not None:
        events = redactor.frame(events, columns=["message", "name"])
    keys = [step_key(*r) for r in events.select(
        "event_type", "name", "actor", "outcome", "message").iter_rows()]
    return Run(label=label, stream=stream, db=db, events=events, keys=keys)


def diff_runs(con_a: duckdb.DuckDBPyConnection, run_a: str, run_b: str,
              con_b: duckdb.DuckDBPyConnection | None = None, *, db_a: str = "A",
              db_b: str | None = None, event_types: Any = None, min_severity: str | None = None,
              redactor: Redactor | None = None) -> RunDiff:
    """Align run_a (in con_a) with run_b (in con_b, default con_a); see the module docstring.

    Runs are `events.stream` values or a unique prefix of one. `event_types` (`tool.*` matches
    a prefix) and `min_severity` narrow both runs alike; `redactor` masks message text before
    keys are made, so a secret never shows in a key.
    """
    other = con_b if con_b is not None else con_a
    a = _read(con_a, run_a, "A", db_a, event_types=event_types, min_severity=min_severity,
              redactor=redactor)
    b = _read(other, run_b, "B", db_b or db_a, event_types=event_types,
              min_severity=min_severity, redactor=redactor)
    rows, exact = align(a.keys, b.keys)
    return RunDiff(a=a, b=b, rows=rows, exact=exact, outcome_a=outcome_of(a),
                   outcome_b=outcome_of(b), usage_a=usage_of(con_a, a.stream),
                   usage_b=usage_of(other, b.stream), duration_a=duration_of(a),
                   duration_b=duration_of(b))


def fmt_ts(value: datetime | None) -> str:
    return "untimed" if value is None else value.isoformat()
