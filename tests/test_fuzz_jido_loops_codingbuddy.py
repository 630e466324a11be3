"""Jido, coding-loops and CodingBuddy loaders on damaged evidence: no file fails, nothing is lost."""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentlab.ingest import claimers
from incidentlab.loaders import all_loaders
from incidentlab.loaders.base import LoadContext, LoadResult, read_head
from incidentlab.loaders.coding_loops.common import typed_table
from incidentlab.loaders.jido.telemetry_jsonl import TelemetryJsonlLoader

import fuzzing
from codingbuddy_store_fixture import build_store
from conftest import FIXTURES

FAMILIES = ("jido", "coding_loops", "codingbuddy")
NOT_OURS = {"codingbuddy.events_jsonl"}  # tested in test_fuzz_codingbuddy_events.py
# Loaders that number records per list or per table: two records may share a number.
GROUPED = {"jido.diagnostics", "coding_loops.coordination_db", "coding_loops.test_state",
           "codingbuddy.store_sqlite"}
FUZZ = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
COORDINATION = (FIXTURES / "coding_loops" / "coordination.sql").read_text()
ENVELOPES = [
    json.loads(line)
    for line in (FIXTURES / "codingbuddy/ws/.codingbuddy/events.jsonl").read_text().splitlines()
]
TELEMETRY = FIXTURES / "jido" / "telemetry.jsonl"
UNIFIED = FIXTURES / "coding_loops" / "transcripts" / "exec-9f1b" / "unified.jsonl"
T = "2026-03-01T10:00:00Z"


# ---- evidence builders ------------------------------------------------------------------------


def coordination_db(folder: Path) -> Path:
    path = folder / "coding-loops" / "coordination.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(COORDINATION)
    con.commit()
    con.close()
    return path


def store_sqlite(folder: Path) -> Path:
    path = folder / "app" / ".codingbuddy" / "store.sqlite"
    build_store(path, ENVELOPES)
    return path


def sql_update(path: Path, sql: str, params: tuple[Any, ...] = ()) -> Path:
    con = sqlite3.connect(path)
    con.execute(sql, params)
    con.commit()
    con.close()
    return path


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    return path


# ---- property tests ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[fuzzing.Seed]:
    """The family's fixtures that a loader claims, plus the two SQLite databases."""
    root = tmp_path_factory.mktemp("sqlite-seeds")
    coordination_db(root)
    store_sqlite(root)
    found = [s for s in fuzzing.seeds([FIXTURES / family for family in FAMILIES] + [root])
             if s.loader not in NOT_OURS]
    assert {"coding_loops.coordination_db", "codingbuddy.store_sqlite"} <= {s.loader for s in found}
    return found


load = fuzzing.load_direct
damaged_copy = fuzzing.damaged_copy


def assert_accounted(loader: str, path: Path, result: LoadResult, kind: str) -> None:
    fuzzing.assert_accounted(loader, path, result, kind, frozenset(GROUPED))


@FUZZ
@given(pick=st.integers(0, 10**6), rng_seed=st.integers(0, 2**32 - 1))
def test_damaged_evidence_loads_whole(seeds, tmp_path: Path, pick: int, rng_seed: int) -> None:
    seed = seeds[pick % len(seeds)]
    target = damaged_copy(seed, tmp_path, rng_seed)
    assert_accounted(seed.loader, target, load(seed.loader, target), seed.kind)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pick=st.integers(0, 10**6), rng_seed=st.integers(0, 2**32 - 1))
def test_damaged_evidence_ingests_cleanly(seeds, tmp_path: Path, pick: int, rng_seed: int) -> None:
    """Through the product's ingest path: no failed file, records read = loaded + quarantined."""
    seed = seeds[pick % len(seeds)]
    # one case per database: files of one run may disagree on a domain column's type (writer)
    tally = fuzzing.run_cases(seed, 1, tmp_path / uuid.uuid4().hex[:8], random.Random(rng_seed))
    assert tally.clean, tally.problems


# ---- regressions, one table per failure class -------------------------------------------------

DEEP = "[" * 1100 + "]" * 1100


def _coordination(tmp: Path, sql: str, params: tuple[Any, ...] = ()) -> Path:
    return sql_update(coordination_db(tmp), sql, params)


def _store(tmp: Path, sql: str, params: tuple[Any, ...] = ()) -> Path:
    return sql_update(store_sqlite(tmp), sql, params)


SQLITE_CELLS: list[tuple[str, Callable[[Path], Path], str | None]] = [
    # (case, build the damaged database, reason of the one quarantined row or None: all load)
    ("coordination deep payload",
     lambda t: _coordination(t, "UPDATE events SET payload = ? WHERE rowid = 1", (DEEP,)), None),
    ("coordination invalid UTF-8 payload",
     lambda t: _coordination(t, "UPDATE events SET payload = CAST(? AS TEXT) WHERE rowid = 2",
                             (b'{"test_id": "\xff\xfe"}',)), None),
    ("coordination lone surrogate in a text cell",
     lambda t: _coordination(t, "UPDATE alerts SET message = CAST(? AS TEXT) WHERE rowid = 1",
                             (b"\xed\xa0\x80",)), None),
    ("coordination time no datetime holds",
     lambda t: _coordination(t, "UPDATE alerts SET created_at = 'infinity' WHERE rowid = 1"),
     "alerts rowid 1: alerts.created_at not parseable: 'infinity'"),
    ("store payload with a lone surrogate escape",
     lambda t: _store(t, "UPDATE events SET payload = ? WHERE rowid = 1",
                      ('{"type": "SessionStarted", "payload": {"x": "\\ud800"}}',)), None),
    ("store payload nested too deep",
     lambda t: _store(t, "UPDATE events SET payload = ? WHERE rowid = 1", (DEEP,)),
     "payload is not valid JSON"),
    ("store seq_no that is text",
     lambda t: _store(t, "UPDATE events SET seq_no = 'epoch' WHERE rowid = 2"),
     "seq_no is not a 64-bit integer"),
    ("store at that is a number",
     lambda t: _store(t, "UPDATE events SET at = 1e300 WHERE rowid = 3"),
     "at is not an RFC3339 timestamp"),
    ("store token count that is text",
     lambda t: _store(t, "UPDATE usage_ledger SET input_tokens = 'many' WHERE rowid = 1"),
     "usage_ledger: input_tokens is not a number"),
]


@pytest.mark.parametrize(("case", "build", "reason"), SQLITE_CELLS, ids=[c[0] for c in SQLITE_CELLS])
def test_one_bad_sqlite_cell_costs_at_most_its_row(ingest_into, tmp_path, case, build, reason):
    path = build(tmp_path)
    result = ingest_into(path)
    (outcome,) = result.summary.files
    assert outcome.status == "loaded", outcome.message
    assert result.scalar("SELECT list(reason) FROM _load_warnings") == ([reason] if reason else None)
    assert outcome.records_read > 10  # ingest_into checks read = loaded + quarantined


def _corrupt_a_leaf(path: Path, table: str) -> None:
    """Overwrite one leaf page in the middle of `table`'s B-tree with garbage."""
    con = sqlite3.connect(path)
    try:
        leaves = [r[0] for r in con.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
            [table])]
        size = con.execute("PRAGMA page_size").fetchone()[0]
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table")
    finally:
        con.close()
    data = bytearray(path.read_bytes())
    page = leaves[len(leaves) // 2] - 1
    data[page * size:(page + 1) * size] = b"\xff" * size
    path.write_bytes(bytes(data))


def _many_events(path: Path, count: int, row: Callable[[int], tuple[str, list[Any]]]) -> Path:
    con = sqlite3.connect(path)
    for index in range(count):
        con.execute(*row(index))
    con.commit()
    con.close()
    return path


CORRUPT_PAGES = [
    ("coordination.db", lambda t: _many_events(coordination_db(t), 600, lambda i: (
        "INSERT INTO events (id, timestamp, source, event_type, payload) "
        "VALUES (?, ?, 'pm', 'test_started', ?)",
        [f"bulk-{i}", T, json.dumps({"test_id": f"T-{i}", "pad": "x" * 200})]))),
    ("store.sqlite", lambda t: _many_events(store_sqlite(t), 600, lambda i: (
        "INSERT INTO events(session_id, seq_no, at, kind, payload) VALUES ('s', ?, ?, ?, ?)",
        [100 + i, T, "SessionStarted@v1",
         json.dumps({"type": "SessionStarted", "payload": {"pad": "x" * 200}})]))),
]


@pytest.mark.parametrize(("name", "build"), CORRUPT_PAGES, ids=[c[0] for c in CORRUPT_PAGES])
def test_corrupt_pages_keep_the_readable_rows(ingest_into, tmp_path, name, build):
    path = build(tmp_path)
    _corrupt_a_leaf(path, "events")
    result = ingest_into(path)
    (outcome,) = result.summary.files
    assert outcome.status == "loaded", outcome.message
    assert 500 < outcome.event_rows < 600 + len(ENVELOPES)
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["sqlite_integrity"] != "ok"
    assert facts["sqlite_unreadable"] and facts["sqlite_unreadable"][0].startswith("events: ")


def _lines(path: Path, damage: Callable[[list[str]], list[str]]) -> bytes:
    return "\n".join(damage(path.read_text().splitlines())).encode() + b"\n"


HEADS = [
    # (case, loader, file name, file bytes): detection must decide on the first valid records
    ("telemetry, malformed first line", "jido.telemetry_jsonl", "t.jsonl",
     _lines(TELEMETRY, lambda ls: ['{"event": "tool.failed", "measur', *ls])),
    ("telemetry, NUL bytes first", "jido.telemetry_jsonl", "t.jsonl",
     b"\x00\x00\x00\n" + TELEMETRY.read_bytes()),
    ("telemetry, BOM then a blank line", "jido.telemetry_jsonl", "t.jsonl",
     b"\xef\xbb\xbf\n" + TELEMETRY.read_bytes()),
    ("unified, malformed first line", "coding_loops.unified_transcript", "unified.jsonl",
     _lines(UNIFIED, lambda ls: ["{oops", *ls])),
    ("unified, first line not an object", "coding_loops.unified_transcript", "unified.jsonl",
     _lines(UNIFIED, lambda ls: ["[1, 2]", *ls])),
]


@pytest.mark.parametrize(("case", "loader", "name", "data"), HEADS, ids=[c[0] for c in HEADS])
def test_detection_skips_a_bad_first_line(tmp_path, case, loader, name, data):
    path = write(tmp_path / "evidence" / name, data)
    assert [c.name for c in claimers(path, all_loaders(), read_head(path))][:1] == [loader]


LINE_FILES = [
    # (case, loader, relative path, file bytes, quarantined record numbers)
    ("observe.log with a BOM", "codingbuddy.observe_log", "w/.codingbuddy/observe.log",
     b"\xef\xbb\xbf" + (FIXTURES / "codingbuddy/ws/.codingbuddy/observe.log").read_bytes(), []),
    ("telemetry with a BOM", "jido.telemetry_jsonl", "t.jsonl",
     b"\xef\xbb\xbf" + TELEMETRY.read_bytes(), []),
    ("telemetry with lone CR and whitespace lines", "jido.telemetry_jsonl", "t.jsonl",
     _lines(TELEMETRY, lambda ls: [ls[0], "\r", " \t ", *ls[1:]]), []),
    ("unified with a BOM and a CR line", "coding_loops.unified_transcript", "u/unified.jsonl",
     b"\xef\xbb\xbf" + _lines(UNIFIED, lambda ls: [ls[0], "\r", *ls[1:]]), []),
]


@pytest.mark.parametrize(("case", "loader", "name", "data", "bad"), LINE_FILES,
                         ids=[c[0] for c in LINE_FILES])
def test_line_files_count_only_real_lines(tmp_path, case, loader, name, data, bad):
    path = write(tmp_path / name, data)
    result = load(loader, path)
    assert result.records_read == len(fuzzing.nonblank_lines(path))
    assert sorted(fuzzing.record_nos(result.quarantine)) == bad
    assert_accounted(loader, path, result, "jsonl")


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Any], Any]:
    """A change to a parsed document: the member at `path` becomes `value`."""
    def change(doc: Any) -> Any:
        target = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        return doc
    return change


HUGE = 10**400  # a JSON integer no double holds
RUNTIME = "codingbuddy/ws/.codingbuddy"
SPECS = "coding_loops/loop-1-critical-path/specs"
PATCH = f"{RUNTIME}/patches/01955a31-0b2c-7d4e-8f00-1a2b3c4d5e6f.json"
SNAPSHOT = f"{RUNTIME}/snapshots/01955a32-1111-7222-8333-444455556666.json"
DOCUMENTS = [
    # (case, loader, fixture, change, reasons of the quarantined records)
    ("patch attempts as text", "codingbuddy.patch", PATCH, _set(("apply_attempts",), "epoch"), []),
    ("patch attempts beyond 64 bits", "codingbuddy.patch", PATCH,
     _set(("apply_attempts",), 2**70), []),
    ("patch target files not text", "codingbuddy.patch", PATCH,
     _set(("target_files",), [1.5, ["x"]]), []),
    ("patch conflicts a number", "codingbuddy.patch", PATCH, _set(("conflicts",), 7), []),
    ("patch applied a date", "codingbuddy.patch", PATCH, _set(("applied",), "2026-13-45"), []),
    ("snapshot files a string", "codingbuddy.snapshot", SNAPSHOT, _set(("before",), "x"), []),
    ("snapshot path a list", "codingbuddy.snapshot", SNAPSHOT,
     _set(("before", 0, "path"), ["a"]), []),
    ("snapshot paths of mixed types", "codingbuddy.snapshot", SNAPSHOT,
     _set(("after", 0, "path"), 1), []),
    ("health count beyond a double", "coding_loops.health_json", f"{SPECS}/health.json",
     _set(("progress", "passed"), HUGE), []),
    ("health nested too deep", "coding_loops.health_json", f"{SPECS}/health.json",
     _set(("pid",), "__DEEP__"), ["not a JSON document: JSON nested deeper than 200 levels"]),
    ("test attempts beyond 64 bits", "coding_loops.test_state", f"{SPECS}/test-state.json",
     _set(("tests", 0, "attempts"), 2**70), []),
    ("test notes with a lone surrogate", "coding_loops.test_state", f"{SPECS}/test-state.json",
     _set(("tests", 0, "notes"), "\ud800"), []),
    ("test automatable as text", "coding_loops.test_state", f"{SPECS}/test-state.json",
     _set(("tests", 1, "automatable"), "infinity"), []),
    ("diagnostics event name a nested list", "jido.diagnostics",
     "jido/diagnostics-phase9-p1.json",
     _set(("telemetry", "recent_events", 0, "event"), ["a", ["b"]]),
     ["recent_events[1]: event name missing"]),
    ("diagnostics count beyond 64 bits", "jido.diagnostics", "jido/diagnostics-phase9-p1.json",
     _set(("conversations", 0, "event_count"), 2**70), []),
    ("diagnostics counter beyond a double", "jido.diagnostics",
     "jido/diagnostics-phase9-p1.json", _set(("telemetry", "event_counts", "tool.failed"), HUGE),
     ["event_counts[tool.failed]: count is not a number"]),
    ("timeline duration beyond a double", "jido.incident_timeline", "jido/incident-c1.json",
     _set(("entries", 0, "payload", "data", "duration_ms"), HUGE), []),
    ("conversation duration beyond a double", "jido.conversation_events", "jido/c1-events.json",
     _set((0, "data", "duration_ms"), HUGE), []),
]


@pytest.mark.parametrize(("case", "loader", "fixture", "change", "reasons"), DOCUMENTS,
                         ids=[c[0] for c in DOCUMENTS])
def test_wrong_values_in_documents_cost_at_most_their_record(
    ingest_into, tmp_path, case, loader, fixture, change, reasons
):
    doc = change(json.loads((FIXTURES / fixture).read_text()))
    text = json.dumps(doc).replace('"__DEEP__"', DEEP)
    path = write(tmp_path / fixture, text)
    result = ingest_into(path, loader=loader)
    (outcome,) = result.summary.files
    assert outcome.status == "loaded", outcome.message
    assert result.scalar("SELECT list(reason ORDER BY reason) FROM _load_warnings") == (
        reasons or None)


def _telemetry(change: Callable[[list[bytes]], list[bytes]]) -> bytes:
    return b"\n".join(change(TELEMETRY.read_bytes().splitlines())) + b"\n"


def _record(line: bytes, path: tuple[Any, ...], value: Any) -> bytes:
    """A telemetry line with one member changed (JSON text, NaN and surrogates as escapes)."""
    return json.dumps(_set(path, value)(json.loads(line))).replace('"__DEEP__"', DEEP).encode()


TELEMETRY_LINES = [
    # (case, change to the lines, quarantined line numbers, what the reason or raw must hold)
    ("lone surrogate escape", lambda ls: [ls[0], _record(ls[1], ("metadata", "content"),
                                                          "a\ud800b"), *ls[2:]], [], None),
    ("nested too deep", lambda ls: [ls[0], _record(ls[1], ("metadata", "reason"), "__DEEP__"),
                                    *ls[2:]], [2], "nested deeper than 200"),
    ("invalid UTF-8 inside a string", lambda ls: [ls[0].replace(b'"event":"', b'"x":"\xff",'
                                                                b'"event":"', 1), *ls[1:]],
     [], None),
    ("invalid UTF-8 in a malformed line", lambda ls: [ls[0], b"{\xff broken", *ls[1:]], [2],
     "\\xff"),
    ("time 'infinity'", lambda ls: [_record(ls[0], ("emitted_at",), "infinity"), *ls[1:]], [1],
     "timestamp not parseable"),
    ("time 'epoch'", lambda ls: [_record(ls[0], ("emitted_at",), "epoch"), *ls[1:]], [1],
     "timestamp not parseable"),
    ("epoch beyond year 9999", lambda ls: [_record(ls[0], ("emitted_at",), 1e21), *ls[1:]], [1],
     "timestamp not parseable"),
    ("duration beyond a double", lambda ls: [_record(ls[0], ("measurements", "duration_ms"),
                                                     1e400), *ls[1:]], [], None),
]


@pytest.mark.parametrize(("case", "change", "bad", "holds"), TELEMETRY_LINES,
                         ids=[c[0] for c in TELEMETRY_LINES])
def test_telemetry_lines_duckdb_reads_differently(ingest_into, tmp_path, case, change, bad, holds):
    path = write(tmp_path / "telemetry.jsonl", _telemetry(change))
    result = ingest_into(path, loader="jido.telemetry_jsonl")
    (outcome,) = result.summary.files
    assert outcome.status == "loaded", outcome.message
    warnings = result.rows("SELECT record_no, reason, raw FROM _load_warnings ORDER BY 1")
    assert [w["record_no"] for w in warnings] == bad
    assert outcome.event_rows == len(fuzzing.nonblank_lines(path)) - len(bad)
    if holds:
        assert holds in warnings[0]["reason"] + warnings[0]["raw"]


def _refuse(self: Any, ctx: LoadContext, lines: Any, heavy: list[int]) -> bool:
    raise duckdb.ConversionException("refused")


@pytest.mark.parametrize("leave", [lambda self, ctx, lines, heavy: False, _refuse],
                         ids=["a line read differently", "DuckDB refuses the file"])
def test_telemetry_python_path_gives_the_sql_rows(tmp_path, monkeypatch, leave):
    """The fallback for files DuckDB refuses must load exactly what the vectorized path loads."""
    lines = TELEMETRY.read_bytes().splitlines()
    damaged = [lines[0], b"{not json", b"\r", _record(lines[1], ("emitted_at",), "yesterday"),
               _record(lines[2], ("event",), None), b"[1, 2]", *lines[3:]]
    path = write(tmp_path / "t.jsonl", b"\n".join(damaged) + b"\n")
    fast = load("jido.telemetry_jsonl", path)
    monkeypatch.setattr(TelemetryJsonlLoader, "_stage", leave)
    slow = load("jido.telemetry_jsonl", path)
    assert slow.facts["reader"].startswith("line by line")
    assert (fast.records_read, sorted(fuzzing.record_nos(fast.quarantine))) == (
        slow.records_read, fuzzing.record_nos(slow.quarantine))
    by_line = sorted(fast.events, key=lambda e: e["record_no"])
    for got, want in zip(by_line, slow.events, strict=True):
        assert json.loads(got.pop("attrs")) == want.pop("attrs")
        assert {k: v for k, v in got.items() if v is not None} == {
            k: v for k, v in want.items() if v is not None}


TRANSCRIPT = "coding_loops/loop-1-critical-path/specs/logs/transcripts/CP-UFS-002/attempt-1.log"
TRANSCRIPT_LINES = [
    # (case, line added to the transcript, event_type_raw the line becomes)
    ("tool number of 5000 digits", f"[Tool #{'9' * 5000}: Read]", "assistant_text"),
    ("turn count of 5000 digits", f"[Session complete: {'1' * 5000} turns, 2 tool calls]",
     "assistant_text"),
    ("an ordinary tool call", "[Tool #7: Read]", "tool_call"),
]


@pytest.mark.parametrize(("case", "line", "kind"), TRANSCRIPT_LINES,
                         ids=[c[0] for c in TRANSCRIPT_LINES])
def test_transcript_counts_beyond_an_integer_are_text(ingest_into, tmp_path, case, line, kind):
    text = (FIXTURES / TRANSCRIPT).read_text() + "\n" + line + "\n"
    path = write(tmp_path / TRANSCRIPT, text)
    result = ingest_into(path, loader="coding_loops.transcript")
    assert result.summary.files[0].status == "loaded", result.summary.files[0].message
    last = result.scalar("SELECT max(record_no) FROM events")
    assert result.scalar("SELECT event_type_raw FROM events WHERE record_no = ?", [last]) == kind


CELLS = [*fuzzing.NASTY, b"\xff\xfe", 2**63, -(2**63) - 1, float("-inf"), {"k": "\ud800"}]


@pytest.mark.parametrize("kind", ["INTEGER", "REAL", "BOOLEAN", "TEXT", ""])
def test_typed_table_never_raises(kind):
    """Each odd value alone in a column of the declared type, and all of them in one column."""
    names = [f"c{i}" for i in range(len(CELLS))]
    rows = [dict(zip(names, CELLS, strict=True))] + [{"all": value} for value in CELLS]
    table = typed_table(rows, dict.fromkeys([*names, "all"], kind))
    assert table.num_rows == len(rows) and table.column_names == [*names, "all"]
