"""Tapps and curriculum-builder loaders on damaged evidence: no file fails, nothing is lost."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from incidentlab.errors import NeedsTimezoneError
from incidentlab.ingest import claimers
from incidentlab.loaders import all_loaders, get_loader
from incidentlab.loaders.base import read_head

import fuzzing
from conftest import FIXTURES

FAMILY = {
    "tapps.workflow_state", "tapps.state_meta", "tapps.last_pointer", "tapps.workflow_events",
    "tapps.step_marker", "tapps.audit_log", "tapps.executions", "tapps.analytics_history",
    "tapps.structured_log", "tapps.error_envelope",
    "curriculum_builder.run_json", "curriculum_builder.events_jsonl",
    "curriculum_builder.validation_report", "curriculum_builder.validation_marker",
    "curriculum_builder.topic_spec", "curriculum_builder.plan", "curriculum_builder.diff_report",
    "curriculum_builder.optimization_trace", "curriculum_builder.orchestration_log",
}
SEEDS = [seed for seed in fuzzing.seeds([FIXTURES]) if seed.loader in FAMILY]
JSON_SEEDS = [seed for seed in SEEDS if seed.kind in ("document", "jsonl")]
FUZZ = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
# Any JSON value, with the sizes and kinds that have broken loaders mixed in.
SCALARS = (
    st.none() | st.booleans() | st.floats() | st.text(max_size=20)
    | st.integers(min_value=-(10**400), max_value=10**400) | st.sampled_from(fuzzing.NASTY)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)

TAPPS = FIXTURES / "tapps" / ".tapps-agents"
REAL = FIXTURES / "tapps" / "real" / ".tapps-agents"
RUN = FIXTURES / "curriculum_builder" / "runs" / "20260209-101500-agentic-eng"
STATE = TAPPS / "workflow-state" / "workflow-rapid-dev-20251222-141503.json"
DONE = TAPPS / "workflows" / "markers" / "rapid-dev-20251222-141503" / "step-planning" / "DONE.json"
LAST = TAPPS / "workflow-state" / "last.json"
DLQ = TAPPS / "dlq" / "dead_letters.jsonl"
WF_EVENTS = TAPPS / "workflow-state" / "events" / "rapid-dev-20251222-141503.events.jsonl"
AGENTS = REAL / "analytics" / "history" / "agents-2026-01-30.jsonl"
EXECUTIONS = REAL / "metrics" / "executions_2026-01-20.jsonl"
AUDIT = REAL / "audit" / "execution_audit.log"
REPORT = RUN / "outputs" / "reviews" / "validation_report.md"
CONSOLE = FIXTURES / "curriculum_builder" / "consoles" / "run_stuck.stderr.log"
BOM = b"\xef\xbb\xbf"
HUGE = 10**400  # parses as a Python int; no double holds it
DEEP = "[" * 1100 + "]" * 1100


def relative_to_fixtures(path: Path) -> Path:
    return path.relative_to(FIXTURES)


def edited(path: Path, edit: Callable[[Any], Any]) -> bytes:
    """The fixture document with `edit` applied to its parsed value."""
    doc = json.loads(path.read_text())
    edit(doc)
    return json.dumps(doc).replace('"__DEEP__"', DEEP).encode("utf-8", "surrogatepass")


def edited_line(path: Path, index: int, edit: Callable[[Any], Any]) -> bytes:
    """The fixture JSON lines with `edit` applied to line `index` (0-based)."""
    lines = path.read_text().splitlines()
    doc = json.loads(lines[index])
    edit(doc)
    lines[index] = json.dumps(doc).replace('"__DEEP__"', DEEP)
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


# ---- properties ---------------------------------------------------------------------------------


load = fuzzing.load_direct
assert_accounted = fuzzing.assert_accounted


@FUZZ
@given(index=st.integers(0, len(SEEDS) - 1), rng_seed=st.integers(0, 2**32 - 1))
def test_damaged_files_load_whole(tmp_path: Path, index: int, rng_seed: int) -> None:
    seed = SEEDS[index]
    target = fuzzing.damaged_copy(seed, tmp_path, rng_seed)
    assert_accounted(seed.loader, target, load(seed.loader, target, ZoneInfo("UTC")), seed.kind)


@FUZZ
@given(index=st.integers(0, len(JSON_SEEDS) - 1), data=st.data(), value=JSON_VALUES)
def test_any_value_anywhere_loads_whole(tmp_path: Path, index: int, data, value: Any) -> None:
    """One member of a record replaced by any JSON value: that record at most is quarantined."""
    seed = JSON_SEEDS[index]
    raw = seed.path.read_bytes()
    lines = raw.split(b"\n") if seed.kind == "jsonl" else [raw]
    at = data.draw(st.sampled_from([i for i, line in enumerate(lines) if line.strip()]))
    doc = json.loads(lines[at].decode("utf-8-sig"))
    paths = list(fuzzing._paths(doc))
    where = data.draw(st.sampled_from(paths[1:] or paths))
    lines[at] = fuzzing._dump(fuzzing._set(doc, where, value)).encode("utf-8", "surrogatepass")
    target = tmp_path / uuid.uuid4().hex[:8] / seed.relative
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\n".join(lines))
    try:
        result = load(seed.loader, target)
    except NeedsTimezoneError:  # naive local times without --tz: the file asks for a zone
        return
    assert_accounted(seed.loader, target, result, seed.kind)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, len(SEEDS) - 1), rng_seed=st.integers(0, 2**32 - 1))
def test_damaged_files_ingest_cleanly(tmp_path: Path, index: int, rng_seed: int) -> None:
    """Through ingest and the writer: nothing failed, nothing lost, record numbers real."""
    try:  # one case per run: two byte-identical copies would be skipped as unchanged
        tally = fuzzing.run_cases(SEEDS[index], 1, tmp_path / uuid.uuid4().hex[:8],
                                  random.Random(rng_seed))
    except RecursionError:
        reject()
    assert tally.clean, tally.problems


# ---- regressions: one table row per failure class -----------------------------------------------


@dataclass
class Case:
    """A damaged file, the loader that reads it, and what must come out."""

    loader: str
    source: Path  # the fixture it was made from (its place under fixtures is kept)
    data: bytes
    records: int
    warnings: list[tuple[int | None, str]] = field(default_factory=list)  # (record_no, prefix)
    check: tuple[str, Any] | None = None  # (SQL on the loaded database, expected scalar)


def _deep_at(key: str) -> Callable[[dict], None]:
    return lambda doc: doc.update({key: "__DEEP__"})


CASES: dict[str, Case] = {
    # a number where a string is expected
    "run.json at_utc is a number": Case(
        "curriculum_builder.run_json", RUN / "run.json",
        edited(RUN / "run.json", lambda d: d["history"][0].update(at_utc=1772355600)), 4,
        check=("SELECT at_utc || ' ' || CAST(ts AS VARCHAR) FROM curriculum_builder_stage_history"
               " WHERE record_no = 1", "1772355600 2026-03-01 09:00:00+00")),
    "state step agent is a number": Case(
        "tapps.workflow_state", STATE,
        edited(STATE, lambda d: d["step_executions"][0].update(agent=42)), 4,
        check=("SELECT agent FROM tapps_steps WHERE list_index = 1", "42")),
    "state step_id is a number": Case(
        "tapps.workflow_state", STATE,
        edited(STATE, lambda d: d["step_executions"][0].update(step_id=42)), 4,
        [(1, "step_executions item: step_id is int, not a string")]),
    # a list where a scalar is expected (unhashable)
    "state step status is a list": Case(
        "tapps.workflow_state", STATE,
        edited(STATE, lambda d: d["step_executions"][0].update(status=["completed"])), 4,
        check=("SELECT status FROM tapps_steps WHERE list_index = 1", '["completed"]')),
    "state artifact name is a list": Case(
        "tapps.workflow_state", STATE,
        edited(STATE, lambda d: d["artifacts"]["stories"].update(name=["a"])), 4,
        check=("SELECT name FROM events WHERE event_type = 'artifact.created'", '["a"]')),
    "analytics success is a list": Case(
        "tapps.analytics_history", AGENTS, edited_line(AGENTS, 0, lambda d: d.update(success=[1])), 1),
    # values that do not sort together
    "state completed_steps of mixed types": Case(
        "tapps.workflow_state", STATE,
        edited(STATE, lambda d: d.update(completed_steps=[1, "a"], _checksum="0" * 64)), 4,
        check=("SELECT facts->>'checksum_ok' FROM _loads", None)),
    # text no UTF-8 column holds
    "state step agent is a lone surrogate": Case(
        "tapps.workflow_state", STATE,
        edited(STATE, lambda d: d["step_executions"][0].update(agent="\ud800")), 4,
        check=("SELECT agent LIKE '%\ufffd%' FROM tapps_steps WHERE list_index = 1", True)),
    # integers no double holds
    "state duration beyond a double": Case(
        "tapps.workflow_state", STATE,
        edited(STATE, lambda d: d["step_executions"][0].update(duration_seconds=HUGE)), 4,
        check=("SELECT duration_seconds FROM tapps_steps WHERE list_index = 1", None)),
    "marker duration beyond a double": Case(
        "tapps.step_marker", DONE, edited(DONE, lambda d: d.update(duration_seconds=HUGE)), 1),
    "analytics duration beyond a double": Case(
        "tapps.analytics_history", AGENTS,
        edited_line(AGENTS, 0, lambda d: d.update(duration=HUGE)), 1),
    "executions duration beyond a double": Case(
        "tapps.executions", EXECUTIONS,
        edited_line(EXECUTIONS, 0, lambda d: d.update(duration_ms=HUGE)), 1),
    "workflow event duration beyond a double": Case(
        "tapps.workflow_events", WF_EVENTS,
        edited_line(WF_EVENTS, 1, lambda d: d.update(tool_call_summary={"duration_ms": HUGE})), 7),
    "plan minutes beyond a double": Case(
        "curriculum_builder.plan", RUN / "outputs" / "plan" / "plan.json",
        edited(RUN / "outputs" / "plan" / "plan.json",
               lambda d: d.update(total_estimated_minutes=HUGE)), 1),
    # JSON nested thousands of levels deep
    "topic_spec nested deep": Case(
        "curriculum_builder.topic_spec", RUN / "inputs" / "topic_spec.json",
        edited(RUN / "inputs" / "topic_spec.json", _deep_at("goal")), 1,
        [(1, "not a JSON document: JSON nested deeper")]),
    "diff_report nested deep": Case(
        "curriculum_builder.diff_report", RUN / "outputs" / "reviews" / "diff_report.json",
        edited(RUN / "outputs" / "reviews" / "diff_report.json", _deep_at("added_nodes")), 1,
        [(1, "not a JSON document: JSON nested deeper")]),
    "run.json nested deep": Case(
        "curriculum_builder.run_json", RUN / "run.json",
        edited(RUN / "run.json", lambda d: d["history"][1].update(metadata="__DEEP__")), 1,
        [(0, "not a JSON document: JSON nested deeper")]),
    "state nested deep": Case(
        "tapps.workflow_state", STATE, edited(STATE, _deep_at("variables")), 1,
        [(0, "not a JSON document: JSON nested deeper")]),
    "marker nested deep": Case(
        "tapps.step_marker", DONE, edited(DONE, _deep_at("metadata")), 1,
        [(1, "not a JSON document: JSON nested deeper")]),
    "events.jsonl line nested deep": Case(
        "curriculum_builder.events_jsonl", RUN / "logs" / "events.jsonl",
        edited_line(RUN / "logs" / "events.jsonl", 1, _deep_at("metadata")), 3,
        [(2, "JSON nested deeper")]),
    "envelope line nested deep": Case(
        "tapps.error_envelope", DLQ, edited_line(DLQ, 0, _deep_at("details")), 2,
        [(1, "JSON nested deeper")]),
    "audit payload nested deep": Case(
        "tapps.audit_log", AUDIT,
        AUDIT.read_bytes().replace(b'"details": {}', b'"details": ' + DEEP.encode(), 1), 8,
        [(1, "JSON nested deeper")]),
    # a UTF-8 byte order mark
    "run.json with a BOM": Case(
        "curriculum_builder.run_json", RUN / "run.json", BOM + (RUN / "run.json").read_bytes(), 4,
        check=("SELECT count(*) FROM events", 4)),
    "marker with a BOM": Case("tapps.step_marker", DONE, BOM + DONE.read_bytes(), 1),
    "last.json with a BOM": Case("tapps.last_pointer", LAST, BOM + LAST.read_bytes(), 1),
    "envelope lines with a BOM": Case("tapps.error_envelope", DLQ, BOM + DLQ.read_bytes(), 2,
                                      check=("SELECT count(*) FROM events", 2)),
    # physical lines, and what a broken document is
    "envelope string holding a line separator": Case(
        "tapps.error_envelope", DLQ,
        edited_line(DLQ, 0, lambda d: d.update(note="a\u2028b\x85c")).replace(
            b"\\u2028", "\u2028".encode()).replace(b"\\u0085", "\x85".encode()), 2),
    "envelope pretty-printed and truncated": Case(
        "tapps.error_envelope", DLQ,
        json.dumps(json.loads(DLQ.read_text().splitlines()[0]), indent=2).encode()[:-20], 1,
        [(1, "not a JSON document: malformed JSON")]),
    # names no file system holds
    "last.json state_file too long for a path": Case(
        "tapps.last_pointer", LAST, edited(LAST, lambda d: d.update(state_file="x" * 70_000)), 1,
        check=("SELECT facts->>'state_file_exists' FROM _loads", None)),
    # digits int() refuses
    "report count in superscript digits": Case(
        "curriculum_builder.validation_report", REPORT,
        REPORT.read_bytes().replace(b"PASSED: 3", "PASSED: ³".encode()), 9,
        [(11, "PASSED count is not a number")]),
    "report total of thousands of digits": Case(
        "curriculum_builder.validation_report", REPORT,
        REPORT.read_bytes().replace(b"Total: 3 passed", b"Total: " + b"9" * 5000 + b" passed"), 9,
        [(18, "unparseable Total line")]),
    "console exit code of thousands of digits": Case(
        "curriculum_builder.orchestration_log", CONSOLE,
        CONSOLE.read_bytes().replace(b"exit code: 5", b"exit code: " + b"5" * 5000), 11,
        check=("SELECT facts->>'exit_codes' FROM _loads", "[7]")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_failure_class_regressions(tmp_path: Path, ingest_into, name: str) -> None:
    case = CASES[name]
    path = tmp_path / "evidence" / relative_to_fixtures(case.source)
    path.parent.mkdir(parents=True)
    path.write_bytes(case.data)
    result = ingest_into(path, loader=case.loader, tz="UTC")
    (outcome,) = result.summary.files
    assert outcome.status == "loaded", outcome.message
    assert outcome.records_read == case.records
    warnings = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no")
    assert [(w["record_no"], w["reason"][: len(p)]) for w, (_, p) in
            zip(warnings, case.warnings, strict=False)] == case.warnings
    assert len(warnings) == len(case.warnings), warnings
    if case.check:
        sql, expected = case.check
        assert result.scalar(sql) == expected


DETECTED = {
    "envelope with a BOM": (DLQ, BOM + DLQ.read_bytes(), "tapps.error_envelope"),
    "envelope lines after a NUL-filled first line": (  # a crash mid-write leaves NUL padding
        DLQ, b"\x00" * 40 + b"\n" + DLQ.read_bytes(), "tapps.error_envelope"),
    "structured log line with a BOM": (
        FIXTURES / "tapps" / "logs" / "structured_iso.jsonl",
        BOM + (FIXTURES / "tapps" / "logs" / "structured_iso.jsonl").read_bytes().splitlines()[0],
        "tapps.structured_log"),
    "console with a NUL byte": (CONSOLE, CONSOLE.read_bytes().replace(b"\n", b"\x00\n", 1),
                                "curriculum_builder.orchestration_log"),
}


@pytest.mark.parametrize("name", list(DETECTED))
def test_detection_regressions(tmp_path: Path, name: str) -> None:
    source, data, loader = DETECTED[name]
    path = tmp_path / relative_to_fixtures(source)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    assert [found.name for found in claimers(path, all_loaders())][:1] == [loader]
    assert get_loader(loader).detect(path, read_head(path))
