"""OTel loader: OTLP/JSON traces, logs, metrics, JS SDK spans, GenAI semconv, Claude Code events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from incidentlab.loaders.base import read_head
from incidentlab.loaders.otel import ALIASES, OtelLoader, normalize

from conftest import FIXTURES

HERE = FIXTURES / "otel"
T = "0af7651916cd43dd8448eb211c80319c"


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_genai_trace(ingest_into):
    result = ingest_into(HERE / "genai_trace.json")
    (outcome,) = result.summary.files
    assert (outcome.loader, outcome.records_read, outcome.event_rows, outcome.metric_rows,
            outcome.quarantined) == ("otel.otlp_json", 5, 6, 2, 1)
    (bad,) = result.rows("SELECT record_no, reason FROM _load_warnings")
    assert bad == {"record_no": 5, "reason": "span without traceId/spanId"}

    row = result.rows("SELECT * FROM events WHERE record_no = 2")[0]
    attrs = json.loads(row.pop("attrs"))
    expected = {
        "system": "otel", "source": "otlp_json", "record_no": 2,
        "ts": _utc(2026, 1, 1, 10, 0, 0, 100000), "ts_raw": "1767261600100000000",
        "ts_quality": "exact", "stream": T, "seq": None, "position": None, "project": None,
        "correlation_id": T, "event_type": "llm.request", "event_type_raw": "chat gpt-4o-mini",
        "actor": "agent-svc", "name": "gpt-4o-mini", "outcome": "ok", "severity": "info",
        "duration_ms": 1250.0, "message": "chat gpt-4o-mini", "error_code": None,
        "error_category": None, "is_mirror": False,
    }
    assert {k: row[k] for k in expected} == expected
    assert row["event_id"].endswith(":2")
    assert (attrs["trace_id"], attrs["span_id"], attrs["parent_span_id"], attrs["kind"]) == (
        T, "00f067aa0ba902b7", "b7ad6b7169203331", "client"
    )
    assert attrs["gen_ai"]["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai"]["gen_ai.usage.input_tokens"] == 120
    assert "gen_ai.system" not in attrs["gen_ai"]
    assert attrs["semconv_aliases"] == {
        "gen_ai.system": "gen_ai.provider.name",
        "gen_ai.usage.prompt_tokens": "gen_ai.usage.input_tokens",
        "gen_ai.usage.completion_tokens": "gen_ai.usage.output_tokens",
    }
    assert attrs["attributes"]["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert attrs["events"][0]["name"] == "gen_ai.content.chunk"
    assert attrs["events"][0]["time"] == "2026-01-01T10:00:00.600000+00:00"
    assert attrs["links"][0]["spanId"] == "eee19b7ec3c1b174"
    assert attrs["scope"]["name"] == "opentelemetry.instrumentation.openai"

    tool = result.rows(
        "SELECT event_type, ts, correlation_id, name, outcome, severity, error_code, message "
        "FROM events WHERE record_no = 3 ORDER BY ts"
    )
    assert tool == [
        {"event_type": "tool.call", "ts": _utc(2026, 1, 1, 10, 0, 1, 400000),
         "correlation_id": "call_42", "name": "run_tests", "outcome": None, "severity": "info",
         "error_code": None, "message": '{"path": "tests/"}'},
        {"event_type": "tool.result", "ts": _utc(2026, 1, 1, 10, 0, 3, 400000),
         "correlation_id": "call_42", "name": "run_tests", "outcome": "error",
         "severity": "error", "error_code": "TimeoutError",
         "message": "tests took longer than 2s"},
    ]
    failed = result.rows(
        "SELECT event_type, outcome, error_code FROM events WHERE record_no = 4 ORDER BY ts"
    )
    assert failed == [
        {"event_type": "llm.request", "outcome": "error", "error_code": "429"},
        {"event_type": "llm.error", "outcome": "error", "error_code": "429"},
    ]
    # a current name wins over its deprecated alias in the same span
    provider = result.scalar(
        "SELECT attrs->'gen_ai'->>'gen_ai.provider.name' FROM events WHERE record_no = 4 LIMIT 1"
    )
    assert provider == "openai"
    assert result.scalar("SELECT event_type FROM events WHERE record_no = 1") == "span"
    metrics = result.rows("SELECT record_no, name, value, unit, stream FROM metrics ORDER BY name")
    assert metrics == [
        {"record_no": 2, "name": "input_tokens", "value": 120.0, "unit": "{token}", "stream": T},
        {"record_no": 2, "name": "output_tokens", "value": 45.0, "unit": "{token}", "stream": T},
    ]
    labels = json.loads(result.scalar("SELECT labels FROM metrics LIMIT 1"))
    assert labels["model"] == "gpt-4o-mini" and labels["provider"] == "openai"


def test_second_ingest_is_unchanged(ingest_into, tmp_path):
    db = tmp_path / "twice.duckdb"
    ingest_into(HERE / "genai_trace.json", db=db)
    again = ingest_into(HERE / "genai_trace.json", db=db)
    assert [f.status for f in again.summary.files] == ["unchanged"]
    assert again.scalar("SELECT count(*) FROM events") == 6
    assert again.scalar("SELECT count(*) FROM metrics") == 2


def test_claude_code_events(ingest_into):
    result = ingest_into(HERE / "claude_code_logs.json")
    (outcome,) = result.summary.files
    assert (outcome.records_read, outcome.event_rows, outcome.metric_rows,
            outcome.quarantined) == (8, 7, 5, 1)
    assert result.scalar("SELECT record_no FROM _load_warnings") == 8
    rows = result.rows(
        "SELECT record_no, system, stream, correlation_id, event_type, event_type_raw, actor, "
        "name, outcome, severity, error_code, duration_ms FROM events ORDER BY record_no"
    )
    cc = [(r["event_type"], r["name"], r["outcome"], r["error_code"]) for r in rows[:5]]
    assert cc == [
        ("chat.turn", None, None, None),
        ("llm.usage", "claude-sonnet-4-5", "ok", None),
        ("llm.rate_limited", "claude-sonnet-4-5", "error", "429"),
        ("policy.denied", "Bash", "denied", "user_reject"),
        ("tool.result", "Read", "ok", None),
    ]
    assert {(r["system"], r["stream"], r["correlation_id"]) for r in rows[:5]} == {
        ("otel", "sess-1", "p-1")
    }
    assert rows[1]["event_type_raw"] == "claude_code.api_request"
    assert rows[1]["duration_ms"] == 1800.0
    plain = rows[5]
    assert (plain["system"], plain["event_type"], plain["severity"], plain["stream"]) == (
        "otel", "log", "error", T
    )
    observed = result.rows("SELECT ts, ts_quality, message FROM events WHERE record_no = 7")[0]
    assert observed == {"ts": _utc(2026, 1, 1, 10, 0, 7), "ts_quality": "derived",
                        "message": '{"k": "v"}'}
    metrics = {r["name"]: r["value"] for r in result.rows("SELECT name, value FROM metrics")}
    assert metrics == {"input_tokens": 1200.0, "output_tokens": 300.0,
                       "cache_read_tokens": 800.0, "cache_creation_tokens": 0.0,
                       "cost_usd": 0.0123}


def test_json_lines_export_numbers_records_by_line(ingest_into):
    result = ingest_into(HERE / "export.jsonl")
    (outcome,) = result.summary.files
    assert (outcome.records_read, outcome.event_rows, outcome.metric_rows,
            outcome.quarantined) == (7, 1, 5, 4)
    warnings = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY record_no")
    assert [(w["record_no"], w["reason"].split(" ")[0]) for w in warnings] == [
        (2, "data"), (2, "metric"), (3, "line"), (5, "line")
    ]
    assert "malformed JSON" in warnings[2]["reason"]
    span = result.rows("SELECT record_no, event_id, event_type, duration_ms FROM events")[0]
    assert (span["record_no"], span["event_type"], span["duration_ms"]) == (1, "span", 5.0)
    assert span["event_id"].endswith(":1:1")
    metrics = result.rows("SELECT record_no, name, value, unit FROM metrics ORDER BY name, value")
    assert [(m["name"], m["value"]) for m in metrics] == [
        ("claude_code.token.usage", 1200.0),
        ("gen_ai.client.operation.duration.count", 3.0),
        ("gen_ai.client.operation.duration.max", 2.5),
        ("gen_ai.client.operation.duration.min", 0.5),
        ("gen_ai.client.operation.duration.sum", 4.5),
    ]
    assert {m["record_no"] for m in metrics} == {2}


def test_proto_examples(ingest_into):
    proto = HERE / "proto-examples"
    result = ingest_into(proto / "trace.json", proto / "logs.json", proto / "metrics.json")
    by_file = {Path(f.path).name: f for f in result.summary.files}
    assert {n: (f.records_read, f.event_rows, f.metric_rows) for n, f in by_file.items()} == {
        "trace.json": (1, 1, 0), "logs.json": (1, 1, 0), "metrics.json": (4, 0, 10)
    }
    log = json.loads(result.scalar("SELECT attrs FROM events WHERE event_type = 'log'"))
    assert log["attributes"] == {
        "string.attribute": "some string", "boolean.attribute": True, "int.attribute": 10,
        "double.attribute": 637.704, "array.attribute": ["many", "values"],
        "map.attribute": {"some.map.key": "some value"},
    }
    span = result.rows("SELECT ts, duration_ms, stream, name FROM events WHERE event_type='span'")
    assert span == [{"ts": _utc(2018, 12, 13, 14, 51), "duration_ms": 1000.0,
                     "stream": "5b8efff798038103d269b633813fc60c", "name": "I'm a server span"}]


def test_vercel_ai_sdk_spans(ingest_into):
    result = ingest_into(HERE / "vercel" / "stream-spans.json")
    rows = result.rows("SELECT record_no, event_type, name, duration_ms FROM events ORDER BY 1")
    assert [(r["event_type"], r["name"]) for r in rows] == [
        ("llm.request", "gpt-4o-mini"), ("span", "ai.streamText")
    ]
    assert round(rows[0]["duration_ms"], 3) == 5386.307
    attrs = json.loads(result.scalar("SELECT attrs FROM events WHERE record_no = 1"))
    assert attrs["gen_ai"]["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai"]["gen_ai.provider.name"] == "openai.responses"
    assert [e["name"] for e in attrs["events"]] == ["ai.stream.firstChunk", "ai.stream.finish"]
    tokens = {r["name"]: r["value"] for r in result.rows("SELECT name, value FROM metrics")}
    assert tokens["input_tokens"] == 15.0 and tokens["output_tokens"] == 112.0


def test_alias_table_and_normalize():
    assert ALIASES["gen_ai.system"][0] == "gen_ai.provider.name"
    assert ALIASES["gen_ai.usage.prompt_tokens"][0] == "gen_ai.usage.input_tokens"
    assert all(version for _, version in ALIASES.values())
    gen_ai, mapped = normalize({"gen_ai.usage.completion_tokens": 7, "ai.operationId":
                                "ai.toolCall", "ai.toolCall.name": "grep"})
    assert gen_ai == {"gen_ai.usage.output_tokens": 7, "gen_ai.tool.name": "grep",
                      "gen_ai.operation.name": "execute_tool"}
    assert set(mapped) == {"gen_ai.usage.completion_tokens", "ai.toolCall.name"}


def test_detect(tmp_path):
    loader = OtelLoader()
    for path in (HERE / "genai_trace.json", HERE / "export.jsonl",
                 HERE / "vercel" / "stream-spans.json", HERE / "proto-examples" / "metrics.json"):
        assert loader.detect(path, read_head(path)), path
    assert not loader.detect(Path("a.json"), b'{"timestamp": "2026-01-01T00:00:00Z"}')
    assert not loader.detect(Path("a.json"), b'[{"id": 1}]')
    assert not loader.detect(Path("a.log"), b"2026-01-01T00:00:00Z resourceSpans")


def test_not_otlp_document_fails_cleanly(ingest_into, tmp_path):
    path = tmp_path / "odd.json"
    path.write_text('{"resourceSpans": "not a list", "x": 1}')
    result = ingest_into(path)
    (outcome,) = result.summary.files
    assert (outcome.status, outcome.records_read, outcome.quarantined) == ("loaded", 1, 1)
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab", ')
    result = ingest_into(broken)
    (outcome,) = result.summary.files
    assert (outcome.status, outcome.records_read, outcome.quarantined) == ("loaded", 1, 1)
