"""Generic structured-log loaders (JSON lines, CSV): auto-detected fields and the TOML mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from incidentlab.loaders.base import read_head
from incidentlab.loaders.generic import MAPPING_ENV, CsvLogLoader, JsonlLogLoader

from conftest import FIXTURES

HERE = FIXTURES / "generic"
LNAV = HERE / "lnav"


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_ecs_log_fully_mapped(ingest_into):
    result = ingest_into(LNAV / "logfile_ecs_log.json")
    (outcome,) = result.summary.files
    assert (outcome.loader, outcome.records_read, outcome.event_rows, outcome.quarantined) == (
        "generic.jsonl", 5, 5, 0
    )
    row = result.rows("SELECT * FROM events WHERE record_no = 4")[0]
    attrs = json.loads(row.pop("attrs"))
    expected = {
        "system": "generic", "source": "jsonl", "record_no": 4,
        "ts": _utc(2025, 1, 13, 9, 58, 13, 634000), "ts_raw": "2025-01-13T09:58:13.634Z",
        "ts_quality": "exact", "stream": "logfile_ecs_log.json", "seq": None, "position": 4,
        "project": None, "correlation_id": None, "event_type": "error",
        "event_type_raw": "error", "actor": None, "name": "app", "outcome": None,
        "severity": "error", "duration_ms": None, "message": "this is a error message num=15",
        "error_code": None, "error_category": None, "is_mirror": False,
    }
    assert {k: row[k] for k in expected} == expected
    assert row["event_id"].endswith(":4")
    assert attrs["process"]["pid"] == 9159 and attrs["ecs.version"] == "1.6.0"
    severities = [r["severity"] for r in result.rows("SELECT severity FROM events ORDER BY 1")]
    assert sorted(severities) == sorted(["debug", "info", "warning", "error", "critical"])
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["fields"] == {"time": "@timestamp", "message": "message",
                               "severity": "log.level", "name": "log.logger"}


def test_journald_cloudflare_and_broken_line(ingest_into):
    result = ingest_into(LNAV / "logfile_journald.json", LNAV / "logfile_cloudflare.json",
                         LNAV / "logfile_invalid_json.json")
    rows = {Path(f.path).name: f for f in result.summary.files}
    assert {n: (f.records_read, f.event_rows, f.quarantined) for n, f in rows.items()} == {
        "logfile_journald.json": (2, 2, 0), "logfile_cloudflare.json": (1, 1, 0),
        "logfile_invalid_json.json": (5, 4, 1),
    }
    journald = result.rows(
        "SELECT ts, ts_raw, ts_quality, severity, event_type, name, left(message, 13) AS m "
        "FROM events WHERE stream = 'logfile_journald.json' ORDER BY record_no"
    )
    assert journald[0] == {"ts": _utc(2018, 8, 21, 14, 4, 21, 221373),
                           "ts_raw": "1534860261221373", "ts_quality": "exact",
                           "severity": "critical", "event_type": "error", "name": "python",
                           "m": "GPS Reference"}
    assert journald[1]["severity"] == "info"
    flare = result.rows(
        "SELECT ts, correlation_id, severity, message FROM events "
        "WHERE stream = 'logfile_cloudflare.json'"
    )
    assert flare == [{"ts": _utc(2022, 10, 30, 0, 0, 2), "correlation_id": "761fde4e984e5ab2",
                      "severity": "info", "message": "HEAD www.ripe.net/ 301"}]
    (bad,) = result.rows("SELECT record_no, reason FROM _load_warnings")
    assert bad["record_no"] == 3 and bad["reason"].startswith("malformed JSON")
    lnav = result.rows(
        "SELECT record_no, severity, message FROM events "
        "WHERE stream = 'logfile_invalid_json.json' ORDER BY record_no"
    )
    assert [(r["record_no"], r["severity"]) for r in lnav] == [
        (1, "debug"), (2, "info"), (4, "debug"), (5, "debug")
    ]


def test_second_ingest_is_unchanged(ingest_into, tmp_path):
    db = tmp_path / "twice.duckdb"
    ingest_into(LNAV / "logfile_ecs_log.json", db=db)
    again = ingest_into(LNAV / "logfile_ecs_log.json", db=db)
    assert [f.status for f in again.summary.files] == ["unchanged"]
    assert again.scalar("SELECT count(*) FROM events") == 5


def test_mapping_file_beside_the_data(ingest_into):
    result = ingest_into(HERE / "mapped")
    files = {Path(f.path).name: f for f in result.summary.files}
    assert {n: (f.loader, f.records_read, f.event_rows, f.quarantined)
            for n, f in files.items()} == {
        "jobs.jsonl": ("generic.jsonl", 4, 3, 1), "epochs.csv": ("generic.csv", 3, 2, 1),
    }
    assert str(HERE / "mapped" / "incidentlab-mapping.toml") in result.summary.unclaimed
    jobs = result.rows(
        "SELECT record_no, ts, ts_raw, ts_quality, stream, seq, correlation_id, event_type, "
        "event_type_raw, severity, message FROM events WHERE source = 'jsonl' ORDER BY record_no"
    )
    assert jobs[1] == {
        "record_no": 2, "ts": _utc(2025, 12, 22, 14, 17, 41), "ts_raw": "22/12/2025 14:17:41",
        "ts_quality": "assumed_utc", "stream": "w1", "seq": 2, "correlation_id": "j-9",
        "event_type": "error", "event_type_raw": "error", "severity": "error",
        "message": "job failed: disk full",
    }
    assert (jobs[2]["record_no"], jobs[2]["ts"], jobs[2]["ts_quality"]) == (4, None, "missing")
    warnings = result.rows("SELECT record_no, reason FROM _load_warnings ORDER BY reason")
    assert warnings == [
        {"record_no": 4, "reason": "row has 7 fields, the header has 6"},
        {"record_no": 3, "reason": "when 'yesterday' is not a timestamp"},
    ]
    epochs = result.rows(
        "SELECT record_no, ts, ts_quality, stream, seq, correlation_id, severity, message "
        "FROM events WHERE source = 'csv' ORDER BY record_no"
    )
    assert epochs == [
        {"record_no": 2, "ts": _utc(2025, 12, 22, 14, 17, 40), "ts_quality": "exact",
         "stream": "w3", "seq": 1, "correlation_id": None, "severity": "warning",
         "message": "queue depth high"},
        {"record_no": 3, "ts": _utc(2025, 12, 22, 14, 17, 41, 500000), "ts_quality": "exact",
         "stream": "w3", "seq": 2, "correlation_id": "j-1", "severity": "info",
         "message": "queue drained, ok"},
    ]


def test_mapping_from_environment(ingest_into, tmp_path, monkeypatch):
    data = tmp_path / "custom.jsonl"
    data.write_text('{"at_ns": 1766413060123456789, "what": "hello", "sev": "WARN"}\n')
    mapping = tmp_path / "elsewhere.toml"
    mapping.write_text('[fields]\ntime = "at_ns"\ntime_format = "epoch_ns"\nmessage = "what"\n'
                       'severity = "sev"\n')
    assert not JsonlLogLoader().detect(data, read_head(data))
    monkeypatch.setenv(MAPPING_ENV, str(mapping))
    assert JsonlLogLoader().detect(data, read_head(data))
    result = ingest_into(data)
    row = result.rows("SELECT ts, ts_quality, severity, message FROM events")[0]
    assert row == {"ts": _utc(2025, 12, 22, 14, 17, 40, 123457), "ts_quality": "exact",
                   "severity": "warning", "message": "hello"}


def test_broken_mapping_fails_the_file(ingest_into, tmp_path, monkeypatch):
    data = tmp_path / "a.jsonl"
    data.write_text('{"time": "2026-01-01T00:00:00Z", "msg": "x"}\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[fields]\nwhen = "time"\n')
    monkeypatch.setenv(MAPPING_ENV, str(bad))
    result = ingest_into(data, loader="generic.jsonl")
    (outcome,) = result.summary.files
    assert outcome.status == "failed" and "unknown mapping keys ['when']" in outcome.message


def test_naive_times_need_a_zone(ingest_into, tmp_path):
    path = HERE / "naive.jsonl"
    result = ingest_into(path)
    assert [f.status for f in result.summary.files] == ["needs_tz"]
    result = ingest_into(path, db=tmp_path / "tz.duckdb", tz="Europe/Berlin")
    rows = result.rows(
        "SELECT ts, ts_quality, correlation_id, name, event_type FROM events ORDER BY record_no"
    )
    assert rows[1] == {"ts": _utc(2025, 12, 22, 13, 17, 44, 390000),
                       "ts_quality": "assumed_local", "correlation_id": "abc",
                       "name": "tapps.workflow", "event_type": "error"}


def test_pino_numbers_and_non_objects(ingest_into):
    result = ingest_into(HERE / "pino.ndjson")
    (outcome,) = result.summary.files
    assert (outcome.records_read, outcome.event_rows, outcome.quarantined) == (4, 3, 1)
    assert result.rows("SELECT record_no, reason FROM _load_warnings") == [
        {"record_no": 3, "reason": "not a JSON object"}
    ]
    rows = result.rows("SELECT record_no, ts, severity, correlation_id FROM events ORDER BY 1")
    assert [(r["record_no"], r["severity"]) for r in rows] == [
        (1, "info"), (2, "error"), (4, "warning")
    ]
    assert rows[0]["ts"] == _utc(2025, 12, 22, 14, 17, 40)


def test_csv_with_common_names(ingest_into):
    result = ingest_into(HERE / "access.csv")
    rows = result.rows(
        "SELECT record_no, ts, name, severity, event_type, correlation_id, message, attrs "
        "FROM events ORDER BY record_no"
    )
    assert [(r["record_no"], r["severity"], r["correlation_id"]) for r in rows] == [
        (2, "info", "r-1"), (3, "error", "r-2")
    ]
    assert rows[1]["message"] == "POST /v1/chat 500, upstream timeout"
    assert rows[1]["ts"] == _utc(2025, 12, 22, 14, 17, 41, 500000)
    assert json.loads(rows[0]["attrs"])["logger"] == "api"


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("events.jsonl", {"seq_no": 1, "at": "2026-01-01T00:00:00Z", "session_id": "s",
                          "kind": {"type": "ChatTurn"}}),
        ("s.jsonl", {"type": "user", "sessionId": "s", "uuid": "u", "parentUuid": None,
                     "timestamp": "2026-01-01T00:00:00Z", "message": "hi"}),
        ("rollout.jsonl", {"timestamp": "2026-01-01T00:00:00Z", "type": "event_msg",
                           "payload": {"message": "x"}}),
        ("wf.events.jsonl", {"event_type": "step_fail", "workflow_id": "w", "seq": 1,
                             "timestamp": "2026-01-01T00:00:00Z", "error": "x"}),
        ("unified.jsonl", {"timestamp": "2026-01-01T00:00:00Z", "entry_type": "error",
                           "execution_id": "e", "message": "x"}),
        ("notes.jsonl", {"id": 1, "title": "no time field", "message": "x"}),
        ("clock.jsonl", {"time": 1234, "message": "a counter, not an epoch"}),
    ],
)
def test_does_not_claim_other_systems(tmp_path, name, line):
    path = tmp_path / name
    path.write_text((json.dumps(line) + "\n") * 3)
    assert not JsonlLogLoader().detect(path, read_head(path))


def test_detect():
    for path in [*sorted(LNAV.glob("*.json")), HERE / "naive.jsonl", HERE / "pino.ndjson"]:
        assert JsonlLogLoader().detect(path, read_head(path)), path
    assert CsvLogLoader().detect(HERE / "access.csv", read_head(HERE / "access.csv"))
    assert not CsvLogLoader().detect(Path("x.csv"), b"a,b\n1,2\n")
    assert not JsonlLogLoader().detect(Path("x.json"), b'[{"time": "2026-01-01T00:00:00Z"}]')
    claude = Path("/home/u/.claude/projects/p/s.jsonl")
    assert not JsonlLogLoader().detect(claude, b'{"timestamp": "2026-01-01T00:00:00Z", '
                                               b'"message": "x"}\n')


def test_bom_and_crlf(ingest_into, tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"time": "2026-01-01T00:00:00Z", "msg": "one"}\r\n'
                     b'\r\n{"time": "2026-01-01T00:00:01Z", "msg": "two", "level": "warn"}\r\n')
    result = ingest_into(path)
    (outcome,) = result.summary.files
    assert (outcome.loader, outcome.records_read, outcome.event_rows) == ("generic.jsonl", 2, 2)
    rows = result.rows("SELECT record_no, position, severity, message FROM events ORDER BY 1")
    assert rows == [
        {"record_no": 1, "position": 1, "severity": "info", "message": "one"},
        {"record_no": 3, "position": 2, "severity": "warning", "message": "two"},
    ]


def test_a_log_parsers_per_line_output_is_not_claimed(ingest_into, tmp_path):
    """Loghub's `*_structured.csv` (logpai/logparser output) holds the parse of each line of a
    log, keyed by LineId: the log is the evidence, its parse would count every line twice."""
    parsed = FIXTURES / "textlog" / "loghub_BGL_2k.log_structured.csv"
    assert not CsvLogLoader().detect(parsed, read_head(parsed))
    plain = tmp_path / "lines.csv"  # a LineId column alone is no parse
    plain.write_text("LineId,Timestamp,Level,Content\n1,1117838570,INFO,started\n")
    assert CsvLogLoader().detect(plain, read_head(plain))
    folder = tmp_path / "BGL"
    folder.mkdir()
    for name in ("loghub_BGL.log", "loghub_BGL_2k.log_structured.csv"):
        (folder / name).write_bytes((FIXTURES / "textlog" / name).read_bytes())
    result = ingest_into(folder, tz="UTC")
    assert result.summary.unclaimed == [str(folder / "loghub_BGL_2k.log_structured.csv")]
    assert result.summary.unclaimed_reasons == {str(folder / "loghub_BGL_2k.log_structured.csv"): (
        "a log parser's per-line output (LineId, EventId, EventTemplate): the log it parsed is "
        "the evidence")}
    rows = result.rows("SELECT source, count(*) AS n, count(DISTINCT record_no) AS lines "
                       "FROM events GROUP BY source")
    assert rows == [{"source": "textlog", "n": 12, "lines": 12}]
    assert CsvLogLoader().declines(plain, read_head(plain)) is None  # it is a log: claimed


def test_a_table_without_times_says_so(tmp_path):
    templates = tmp_path / "BGL_2k.log_templates.csv"  # Loghub's template list: no events
    templates.write_text("EventId,EventTemplate,Occurrences\nE1,<*> double-hummer alignment "
                         "exceptions,27\nE2,<*> ddr error(s) detected and corrected,3\n")
    assert not CsvLogLoader().detect(templates, read_head(templates))
    assert CsvLogLoader().declines(templates, read_head(templates)) == (
        "a table with no column of times (name one in a --mapping file)")
    assert CsvLogLoader().declines(tmp_path / "x.json", b'{"a": 1}') is None  # not a table
