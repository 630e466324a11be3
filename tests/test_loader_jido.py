"""Jido.Code.Server exports: incident timeline, diagnostics, conversation events, telemetry."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from incidentlab.ingest import claimers
from incidentlab.loaders import all_loaders
from incidentlab.loaders.base import LoadContext
from incidentlab.loaders.jido.rows import describe, make_event
from incidentlab.loaders.jido.taxonomy import normalize_name, reason_code

from conftest import FIXTURES

JIDO = FIXTURES / "jido"
CORR = "corr-3f9a0c1d2e4b5a6c7d8e"
EVENT_SQL = (
    "SELECT record_no, ts, ts_raw, ts_quality, stream, seq, position, project, correlation_id, "
    "event_type, event_type_raw, actor, name, outcome, severity, duration_ms, message, "
    "error_code, error_category, is_mirror, system, source FROM events "
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / "evidence" / name
    target.parent.mkdir(exist_ok=True)
    shutil.copy(JIDO / name, target)
    return target


def write(tmp_path: Path, name: str, text: str) -> Path:
    target = tmp_path / "evidence" / name
    target.parent.mkdir(exist_ok=True)
    target.write_text(text)
    return target


@pytest.mark.parametrize(
    ("name", "loader"),
    [
        ("incident-c1.json", "jido.incident_timeline"),
        ("diagnostics-phase9-p1.json", "jido.diagnostics"),
        ("c1-events.json", "jido.conversation_events"),
        ("telemetry.jsonl", "jido.telemetry_jsonl"),
    ],
)
def test_detect_by_content_not_name(name: str, loader: str, tmp_path: Path) -> None:
    renamed = tmp_path / "export.dat"
    shutil.copy(JIDO / name, renamed)
    jido = [found.name for found in claimers(renamed, all_loaders()) if found.system == "jido"]
    assert jido == [loader]


def test_detect_ignores_other_json(tmp_path: Path) -> None:
    other = write(tmp_path, "x.json", json.dumps({"entries": [], "items": [{"type": "a"}]}))
    array = write(tmp_path, "y.json", json.dumps([{"type": "a", "at": 1, "extra": 2}]))
    lines = write(tmp_path, "z.jsonl", '{"event": "x", "time": 1}\n')
    for path in (other, array, lines):
        assert not [f for f in claimers(path, all_loaders()) if f.system == "jido"]


def test_names_and_reasons() -> None:
    assert normalize_name("conversation.tool.failed") == "tool.failed"
    assert normalize_name("jido_code_server.conversation.llm.started") == "llm.started"
    assert normalize_name("conversation.started") == "conversation.started"
    assert reason_code("{:output_too_large, 300000, 262144}") == "output_too_large"
    assert reason_code(["artifact_too_large", 1, 2, 3]) == "artifact_too_large"
    assert reason_code(":timeout") == "timeout"
    assert reason_code({"reason": "outside_root"}) == "outside_root"
    assert reason_code("something went badly wrong") is None
    # caller-defined conversation event types are `unknown`, unmapped telemetry is `telemetry`
    assert describe("deploy.requested", {}, "unknown")["event_type"] == "unknown"
    assert describe("deploy.requested", {})["event_type"] == "telemetry"


def test_incident_timeline(ingest_into, tmp_path: Path) -> None:
    path = copy("incident-c1.json", tmp_path)
    result = ingest_into(path)
    assert result.summary.files[0].loader == "jido.incident_timeline"
    rows = result.rows(EVENT_SQL + "ORDER BY position")
    assert [r["position"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["event_type"] for r in rows] == [
        "chat.turn",
        "tool.call",
        "security.sandbox_violation",
        "tool.result",
        "tool.result",
    ]
    assert rows[3] == {
        "record_no": 4,
        "ts": at("2026-02-22T14:03:11.402118+00:00"),  # payload µs beat the entry's ms
        "ts_raw": "2026-02-22T14:03:11.402118Z",
        "ts_quality": "exact",
        "stream": "c1",
        "seq": None,
        "position": 4,
        "project": "phase9-p1",
        "correlation_id": CORR,
        "event_type": "tool.result",
        "event_type_raw": "tool.failed",
        "actor": None,
        "name": "command.run.example_command",
        "outcome": "error",
        "severity": "error",
        "duration_ms": None,
        "message": "tool.failed command.run.example_command: outside_root",
        "error_code": "outside_root",
        "error_category": "tool",
        "is_mirror": False,
        "system": "jido",
        "source": "incident_timeline",
    }
    violation, mirrored = rows[2], rows[4]
    assert (violation["outcome"], violation["severity"], violation["error_code"]) == (
        "denied",
        "error",
        "outside_root",
    )
    assert mirrored["event_type_raw"] == "conversation.tool.failed" and mirrored["is_mirror"]
    assert rows[0]["actor"] == "user" and rows[0]["message"] == "run the example command"
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["entries"] == 5 and facts["limit"] == 200 and not facts["possibly_truncated"]
    attrs = json.loads(result.scalar("SELECT attrs FROM events WHERE position = 1"))
    assert attrs["payload"]["data"]["content"] == "run the example command"


def test_diagnostics(ingest_into, tmp_path: Path) -> None:
    result = ingest_into(copy("diagnostics-phase9-p1.json", tmp_path))
    rows = result.rows(EVENT_SQL + "ORDER BY ts, record_no")
    assert len(rows) == 6
    first_error = result.rows(
        EVENT_SQL + "WHERE record_no = 1 AND event_type_raw = 'tool.failed' AND NOT is_mirror"
    )[0]
    assert first_error == {
        "record_no": 1,
        "ts": at("2026-02-22T14:05:02.000321+00:00"),
        "ts_raw": "2026-02-22T14:05:02.000321Z",
        "ts_quality": "exact",
        "stream": "c1",
        "seq": None,
        "position": 3,
        "project": "phase9-p1",
        "correlation_id": "corr-0a1b2c3d4e5f60718293",
        "event_type": "tool.result",
        "event_type_raw": "tool.failed",
        "actor": None,
        "name": "command.run.big_output",
        "outcome": "error",
        "severity": "error",
        "duration_ms": None,
        "message": "tool.failed command.run.big_output: {:output_too_large, 300000, 262144}",
        "error_code": "output_too_large",
        "error_category": "tool",
        "is_mirror": False,
        "system": "jido",
        "source": "diagnostics",
    }
    # recent_errors[1] repeats recent_events[1]; recent_errors[2] is older than every recent event
    mirrors = result.rows(
        "SELECT error_code, is_mirror FROM events WHERE event_type_raw = 'tool.failed' ORDER BY ts"
    )
    assert mirrors == [
        {"error_code": "conversation_max_concurrency_reached", "is_mirror": False},
        {"error_code": "output_too_large", "is_mirror": False},
        {"error_code": "output_too_large", "is_mirror": True},
    ]
    timeout = result.rows(EVENT_SQL + "WHERE event_type = 'tool.timeout'")[0]
    assert timeout["ts"] == at("2026-02-22T14:05:00+00:00") and timeout["ts_raw"] == "1771769100000"
    assert (timeout["outcome"], timeout["error_code"]) == ("timeout", "timeout")
    denied = result.rows(EVENT_SQL + "WHERE event_type = 'policy.denied'")[0]
    assert (denied["severity"], denied["outcome"], denied["error_code"]) == (
        "warning",
        "denied",
        "outside_root",
    )
    metrics = result.rows("SELECT name, value, labels, ts_quality FROM metrics ORDER BY name")
    assert len(metrics) == 9
    counts = {
        json.loads(m["labels"])["event"]: m["value"]
        for m in metrics
        if m["name"] == "telemetry.event_count"
    }
    assert counts["tool.failed"] == 2 and counts["security.sandbox_violation"] == 1
    assert {m["ts_quality"] for m in metrics} == {"derived"}
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["recent_events"] == {"count": 3, "cap": 200, "truncated": True, "total_events": 7}
    assert facts["recent_errors"]["truncated"] is False
    assert facts["timeline_complete"] is False
    assert facts["health"]["status"] == "degraded"
    assert facts["runtime_opts"]["tool_timeout_ms"] == 30000
    convo = result.rows("SELECT conversation_id, status, event_count FROM jido_conversations")
    assert convo == [{"conversation_id": "c1", "status": "idle", "event_count": 4}]


def test_diagnostics_truncation_at_caps(ingest_into, tmp_path: Path) -> None:
    recent = [
        {
            "event": "tool.completed",
            "conversation_id": "c9",
            "at": f"2026-02-22T10:{i // 60:02d}:{i % 60:02d}Z",
        }
        for i in range(200)
    ][::-1]
    errors = [{"event": "tool.failed", "reason": "timeout", "at": "2026-02-22T09:00:00Z"}] * 25
    doc = {
        "project_id": "p",
        "total_events": 200,
        "event_counts": {"tool.completed": 200},
        "recent_events": recent,
        "recent_errors": errors,
    }
    result = ingest_into(write(tmp_path, "snapshot.json", json.dumps(doc)))
    assert result.summary.files[0].loader == "jido.diagnostics"
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["recent_events"]["truncated"] and facts["recent_errors"]["truncated"]
    assert result.scalar("SELECT count(*) FROM events") == 225
    # newest-first list: position counts in emit order
    oldest = result.rows(
        "SELECT position, ts_raw FROM events WHERE event_type = 'tool.result' "
        "AND outcome = 'ok' ORDER BY ts LIMIT 1"
    )
    assert oldest == [{"position": 1, "ts_raw": "2026-02-22T10:00:00Z"}]


def test_conversation_events(ingest_into, tmp_path: Path) -> None:
    result = ingest_into(copy("c1-events.json", tmp_path))
    rows = result.rows(EVENT_SQL + "ORDER BY position")
    assert [r["event_type"] for r in rows] == [
        "chat.turn",
        "llm.request",
        "llm.response",
        "tool.call",
        "tool.result",
        "conversation.cancel",
    ]
    assert {r["stream"] for r in rows} == {"c1"}
    assert rows[4] == {
        "record_no": 5,
        "ts": at("2026-02-22T14:03:11.402118+00:00"),
        "ts_raw": "2026-02-22T14:03:11.402118Z",
        "ts_quality": "exact",
        "stream": "c1",
        "seq": None,
        "position": 5,
        "project": None,
        "correlation_id": CORR,
        "event_type": "tool.result",
        "event_type_raw": "tool.failed",
        "actor": None,
        "name": "command.run.example_command",
        "outcome": "error",
        "severity": "error",
        "duration_ms": None,
        "message": "tool.failed command.run.example_command: outside_root",
        "error_code": "outside_root",
        "error_category": "tool",
        "is_mirror": False,
        "system": "jido",
        "source": "conversation_events",
    }
    assert rows[2]["ts"] == at("2026-02-22T14:03:11.240+00:00")  # unix milliseconds
    assert rows[3]["name"] == "command.run.example_command"  # from data.tool_call
    assert rows[1]["name"] == "claude-sonnet" and rows[1]["actor"] == "llm"
    assert rows[5]["ts_quality"] == "assumed_utc"  # NaiveDateTime rendering, no zone


def test_telemetry_jsonl(ingest_into, tmp_path: Path) -> None:
    result = ingest_into(copy("telemetry.jsonl", tmp_path))
    rows = result.rows(EVENT_SQL + "ORDER BY record_no")
    assert len(rows) == 8
    assert rows[2] == {
        "record_no": 3,
        "ts": at("2026-02-22T14:05:02.000321+00:00"),
        "ts_raw": "2026-02-22T14:05:02.000321Z",
        "ts_quality": "exact",
        "stream": "c1",
        "seq": None,
        "position": 3,
        "project": "phase9-p1",  # no project_id in ToolRunner events: the conversation's project
        "correlation_id": "corr-0a1b2c3d4e5f60718293",
        "event_type": "tool.result",
        "event_type_raw": "tool.failed",
        "actor": None,
        "name": "command.run.big_output",
        "outcome": "error",
        "severity": "error",
        "duration_ms": 200.0,
        "message": "tool.failed command.run.big_output: {:output_too_large, 300000, 262144}",
        "error_code": "output_too_large",
        "error_category": "tool",
        "is_mirror": False,
        "system": "jido",
        "source": "telemetry_jsonl",
    }
    by_raw = {r["event_type_raw"]: r for r in rows}
    assert by_raw["conversation.tool.failed"]["is_mirror"]
    assert by_raw["conversation.tool.failed"]["error_code"] == "output_too_large"
    timeout = by_raw["jido_code_server.tool.timeout"]
    assert (timeout["event_type"], timeout["outcome"], timeout["severity"]) == (
        "tool.timeout",
        "timeout",
        "warning",
    )
    repeated = by_raw["security.repeated_timeout_failures"]
    assert (repeated["event_type"], repeated["severity"]) == (
        "security.repeated_timeout_failures",
        "warning",
    )
    denied = by_raw["policy.denied"]
    assert (denied["name"], denied["outcome"], denied["error_code"], denied["error_category"]) == (
        "net.fetch",
        "denied",
        "network_endpoint_denied",
        "policy",
    )
    reload = by_raw["project.watcher_reload_failed"]
    assert (reload["event_type"], reload["outcome"], reload["error_code"]) == (
        "watcher.reload",
        "error",
        None,
    )
    assert reload["message"] == "project.watcher_reload_failed: parse error"


def test_telemetry_jsonl_malformed_lines(ingest_into, tmp_path: Path) -> None:
    good = (JIDO / "telemetry.jsonl").read_text().splitlines()
    lines = [
        good[0],
        "{not json",
        "",
        json.dumps({"event": "tool.failed", "measurements": {}, "metadata": {}}),
        json.dumps(
            {"event": "tool.failed", "emitted_at": "yesterday", "measurements": {}, "metadata": {}}
        ),
        "[1, 2]",
        json.dumps({"emitted_at": "2026-02-22T14:05:02Z", "measurements": {}, "metadata": {}}),
        good[1],
    ]
    result = ingest_into(write(tmp_path, "t.jsonl", "\n".join(lines) + "\n"))
    assert result.scalar("SELECT count(*) FROM events") == 2
    warnings = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no")
    assert [w["record_no"] for w in warnings] == [2, 4, 5, 6, 7]
    assert "malformed JSON" in warnings[0]["reason"]
    assert "timestamp missing" in warnings[1]["reason"]
    assert "not parseable" in warnings[2]["reason"]
    assert "event name missing" in warnings[4]["reason"]
    assert result.scalar("SELECT records_read FROM _loads") == 7


def test_timeline_and_conversation_malformed(ingest_into, tmp_path: Path) -> None:
    doc = json.loads((JIDO / "incident-c1.json").read_text())
    doc["entries"][1] = "not an entry"
    doc["entries"][2]["at"] = None
    doc["entries"][2]["payload"]["at"] = None
    doc["entries"][4]["source"] = "elsewhere"
    timeline = write(tmp_path, "tl.json", json.dumps(doc))
    events = json.loads((JIDO / "c1-events.json").read_text())
    events[0]["at"] = "22/02/2026"
    events.append(7)
    conversation = write(tmp_path, "ev.json", json.dumps(events))
    result = ingest_into(timeline, conversation)
    by_source = {
        r["source"]: r["n"]
        for r in result.rows("SELECT source, count(*) AS n FROM events GROUP BY source")
    }
    assert by_source == {"incident_timeline": 2, "conversation_events": 5}
    warnings = result.rows(
        "SELECT record_no, reason FROM _load_warnings ORDER BY source_path, record_no"
    )
    assert [w["record_no"] for w in warnings] == [1, 7, 2, 3, 5]


def test_broken_json_documents_are_quarantined(ingest_into, tmp_path: Path) -> None:
    text = (JIDO / "diagnostics-phase9-p1.json").read_text()
    broken = write(tmp_path, "diag.json", text[: len(text) // 2])
    result = ingest_into(broken, loader="jido.diagnostics")
    assert result.scalar("SELECT count(*) FROM events") == 0
    warning = result.rows("SELECT record_no, reason, raw FROM _load_warnings")[0]
    assert warning["reason"].startswith("not a JSON document: malformed JSON")
    assert warning["raw"].startswith("{")


def test_reingest_is_idempotent(ingest_into, tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    folder.mkdir()
    for name in (
        "incident-c1.json",
        "diagnostics-phase9-p1.json",
        "c1-events.json",
        "telemetry.jsonl",
    ):
        shutil.copy(JIDO / name, folder / name)
    first = ingest_into(folder)
    assert {f.status for f in first.summary.files} == {"loaded"}
    counts = (
        first.scalar("SELECT count(*) FROM events"),
        first.scalar("SELECT count(*) FROM metrics"),
    )
    second = ingest_into(folder)
    assert {f.status for f in second.summary.files} == {"unchanged"}
    assert (
        second.scalar("SELECT count(*) FROM events"),
        second.scalar("SELECT count(*) FROM metrics"),
    ) == counts
    assert second.scalar("SELECT count(DISTINCT event_id) FROM events") == counts[0]


def test_diagnostics_malformed_entries(ingest_into, tmp_path: Path) -> None:
    doc = json.loads((JIDO / "diagnostics-phase9-p1.json").read_text())
    recent = doc["telemetry"]["recent_events"]
    recent[1]["at"] = "last tuesday"
    recent.append("not an entry")
    doc["telemetry"]["recent_errors"][1].pop("event")
    doc["telemetry"]["event_counts"]["tool.completed"] = "many"
    result = ingest_into(write(tmp_path, "diag.json", json.dumps(doc)))
    warnings = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY reason")
    assert warnings == [
        {"record_no": 4, "reason": "event_counts[tool.completed]: count is not a number"},
        {"record_no": 2, "reason": "recent_errors[2]: event name missing"},
        {"record_no": 2, "reason": "recent_events[2]: timestamp not parseable: 'last tuesday'"},
        {"record_no": 4, "reason": "recent_events[4]: not a JSON object"},
    ]
    assert result.scalar("SELECT count(*) FROM events") == 4
    # a counter that is not a number is quarantined, never dropped silently
    assert result.scalar("SELECT count(*) FROM metrics WHERE name = 'telemetry.event_count'") == 6


@pytest.mark.parametrize(
    ("raw", "fields", "expected"),
    [
        (
            "policy.allowed",
            {"reason": "allowed", "tool_name": "fs.read"},
            ("policy.allowed", "ok", "info", None),
        ),
        (
            "conversation.stopped",
            {"reason": "process_down"},
            ("conversation.end", None, "warning", "process_down"),
        ),
        ("project.assets_reloaded", {"error_count": 2}, ("assets.reloaded", None, "warning", None)),
        (
            "tool.completed",
            {"status": "error", "tool": "x"},
            ("tool.result", "error", "error", None),
        ),
        (
            "conversation.tool.timeout",
            {"tool": "x"},
            ("tool.timeout", "timeout", "warning", "timeout"),
        ),
        (
            "security.network_denied",
            {"reason": "network_protocol_denied"},
            ("security.network_denied", "denied", "warning", "network_protocol_denied"),
        ),
        (
            "security.sandbox_exception_used",
            {"reason_code": "OPS-OUTSIDE-001"},
            ("security.sandbox_exception_used", None, "warning", "OPS-OUTSIDE-001"),
        ),
        (
            "tool.failed",
            {"reason": ["task_exit", "killed"]},
            ("tool.result", "error", "error", "task_exit"),
        ),
        ("some.custom_thing", {}, ("telemetry", None, "info", None)),
    ],
)
def test_describe(raw: str, fields: dict, expected: tuple) -> None:
    row = describe(raw, fields)
    assert (row["event_type"], row["outcome"], row["severity"], row["error_code"]) == expected


def test_telemetry_sql_matches_python_rules(ingest_into, tmp_path: Path) -> None:
    """The JSONL loader projects in SQL; every row must equal what the Python rules give."""
    path = copy("telemetry.jsonl", tmp_path)
    result = ingest_into(path)
    stored = {r["record_no"]: r for r in result.rows(EVENT_SQL)}
    ctx = LoadContext(con=None, path=path)  # type: ignore[arg-type]
    projects = {
        meta.get("conversation_id"): meta["project_id"]
        for meta in (json.loads(line)["metadata"] for line in path.read_text().splitlines())
        if meta.get("project_id")
    }
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        record = json.loads(text)
        expected = make_event(
            ctx,
            raw_name=record["event"],
            at=record["emitted_at"],
            fields=record["metadata"],
            record_no=number,
            attrs=record,
            position=number,
            is_mirror=bool(record["metadata"].get("event_source")),
            duration_ms=record["measurements"].get("duration_ms"),
        )
        got = stored[number]
        for column in (
            "ts",
            "ts_raw",
            "ts_quality",
            "stream",
            "project",
            "correlation_id",
            "event_type",
            "event_type_raw",
            "actor",
            "name",
            "outcome",
            "severity",
            "duration_ms",
            "message",
            "error_code",
            "error_category",
            "is_mirror",
        ):
            if column == "project" and expected[column] is None:
                # file-level step of the JSONL loader: the conversation's project fills the gap
                assert got[column] == projects.get(record["metadata"].get("conversation_id"))
                continue
            assert got[column] == expected[column], (number, column)
