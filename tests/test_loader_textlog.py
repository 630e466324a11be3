"""Plain-text log loader: line grammar, multi-line records, time zones, Drain3 templates."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from incidentlab.loaders.base import read_head
from incidentlab.loaders.textlog import TextLogLoader, new_templates, template_id
from incidentlab.loaders.textlog.grammar import GRAMMARS, choose_grammar, split_header

from conftest import FIXTURES

HERE = FIXTURES / "textlog"


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _copy(name: str, tmp_path: Path, mtime: datetime | None = None) -> Path:
    target = tmp_path / "evidence" / name
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(HERE / name, target)
    if mtime:
        os.utime(target, (mtime.timestamp(), mtime.timestamp()))
    return target


def test_naive_local_times_need_a_zone(ingest_into):
    result = ingest_into(HERE / "app.log")
    (outcome,) = result.summary.files
    assert outcome.loader == "generic.textlog"
    assert outcome.status == "needs_tz"
    assert "--tz" in outcome.message
    assert result.scalar("SELECT count(*) FROM events") == 0


def test_python_logging_with_traceback(ingest_into):
    result = ingest_into(HERE / "app.log", tz="Europe/Berlin")
    (outcome,) = result.summary.files
    assert (outcome.status, outcome.records_read, outcome.event_rows, outcome.quarantined) == (
        "loaded", 7, 6, 1
    )
    (bad,) = result.rows("SELECT record_no, reason, raw FROM _load_warnings")
    assert bad["record_no"] == 11
    assert "2025-13-40" in bad["reason"] and bad["raw"].startswith("2025-13-40")

    row = result.rows("SELECT * FROM events WHERE record_no = 4")[0]
    attrs = json.loads(row.pop("attrs"))
    template = "runner: Step failed step=implementation"
    expected = {
        "system": "generic", "source": "textlog", "record_no": 4,
        "ts": _utc(2025, 12, 22, 13, 17, 44, 390000), "ts_raw": "2025-12-22 14:17:44,390",
        "ts_quality": "assumed_local", "stream": "app.log", "seq": None, "position": 4,
        "project": None, "correlation_id": None, "event_type": "error", "event_type_raw": None,
        "actor": None, "name": template_id(template), "outcome": None, "severity": "error",
        "duration_ms": None,
        "message": "runner: Step failed step=implementation\nTraceback (most recent call last):\n"
                   '  File "/app/runner.py", line 88, in run\n    result = step.execute()\n'
                   "ValueError: Invalid skill command",
        "error_code": None, "error_category": None, "is_mirror": False,
    }
    assert {k: row[k] for k in expected} == expected
    assert row["event_id"].endswith(":4")
    assert attrs["line"] == 4 and attrs["line_end"] == 8 and attrs["traceback"] is True
    assert attrs["level"] == "error" and attrs["template"] == template
    assert attrs["text"].startswith("2025-12-22 14:17:44,390 ERROR runner")

    warn = result.rows("SELECT severity, event_type FROM events WHERE record_no = 3")[0]
    assert warn == {"severity": "warning", "event_type": "log"}
    templates = result.rows(
        'SELECT template, "count", first_seen, last_seen FROM textlog_templates ORDER BY template'
    )
    # Drain (sim_th 0.4) groups "Workflow started id=…" with "Step started step=…"
    started = [t for t in templates if "started" in t["template"]]
    assert started == [{
        "template": "workflow: <*> started <*>", "count": 3,
        "first_seen": _utc(2025, 12, 22, 13, 17, 40, 2000),
        "last_seen": _utc(2025, 12, 22, 13, 17, 45, 1000),
    }]
    assert sum(t["count"] for t in templates) == 6
    names = result.scalar("SELECT count(DISTINCT name) FROM events")
    assert names == len(templates)
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["grammar"] == "iso8601" and facts["multiline_records"] == 1


def test_second_ingest_is_unchanged(ingest_into, tmp_path):
    db = tmp_path / "twice.duckdb"
    ingest_into(HERE / "app.log", db=db, tz="UTC")
    again = ingest_into(HERE / "app.log", db=db, tz="UTC")
    assert [f.status for f in again.summary.files] == ["unchanged"]
    assert again.scalar("SELECT count(*) FROM events") == 6
    assert again.scalar("SELECT count(*) FROM textlog_templates") == 4


def test_syslog_year_from_mtime_and_crlf(ingest_into, tmp_path):
    path = _copy("syslog.log", tmp_path, mtime=_utc(2026, 11, 21, 12))
    assert b"\r\n" in path.read_bytes()
    result = ingest_into(path, tz="UTC")
    (outcome,) = result.summary.files
    assert (outcome.records_read, outcome.event_rows, outcome.quarantined) == (5, 5, 0)
    rows = result.rows("SELECT * FROM events ORDER BY record_no")
    first = rows[0]
    assert (first["ts"], first["ts_raw"], first["ts_quality"]) == (
        _utc(2026, 6, 14, 15, 16, 1), "Jun 14 15:16:01", "derived"
    )
    assert not any("\r" in r["message"] for r in rows)
    attrs = json.loads(first["attrs"])
    assert (attrs["host"], attrs["program"], attrs["pid"]) == ("combo", "sshd(pam_unix)", "19939")
    assert rows[0]["name"] == rows[2]["name"] != rows[1]["name"]  # same template, other ip
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["grammar"] == "syslog" and facts["year_from_mtime"].startswith("2026-11-21")


def test_syslog_year_rolls_back_across_new_year(ingest_into, tmp_path):
    path = tmp_path / "messages"
    path.write_text("Dec 31 23:59:58 host app[1]: tick\nJan  1 00:00:02 host app[1]: tick\n")
    moment = _utc(2027, 1, 1, 0, 5)
    os.utime(path, (moment.timestamp(), moment.timestamp()))
    result = ingest_into(path, tz="UTC")
    assert [r["ts"] for r in result.rows("SELECT ts FROM events ORDER BY record_no")] == [
        _utc(2026, 12, 31, 23, 59, 58), _utc(2027, 1, 1, 0, 0, 2)
    ]


def test_utc_file_allows_naive_lines_as_utc(ingest_into):
    result = ingest_into(HERE / "service_utc.log")
    (outcome,) = result.summary.files
    assert (outcome.status, outcome.event_rows) == ("loaded", 4)
    naive = result.rows("SELECT ts, ts_quality, severity FROM events WHERE record_no = 3")[0]
    assert naive == {"ts": _utc(2026, 3, 1, 9, 20, 12), "ts_quality": "assumed_utc",
                     "severity": "info"}
    assert result.scalar("SELECT count(*) FROM events WHERE ts_quality = 'exact'") == 3
    limits = result.rows("SELECT event_type, name FROM events WHERE message LIKE 'rate limit%'")
    assert {r["event_type"] for r in limits} == {"error"} and len({r["name"] for r in limits}) == 1
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert "naive_assumed_utc" in facts


def test_new_templates_in_window(ingest_into, tmp_path):
    later = tmp_path / "later.log"
    later.write_text(
        "2026-03-01T10:00:00Z ERROR rate limit hit (429) for model deepseek-chat\n"
        "2026-03-01T10:00:05Z CRITICAL disk /var is full\n"
    )
    result = ingest_into(HERE / "service_utc.log", later)
    window = new_templates(result.con, _utc(2026, 3, 1, 9, 30), _utc(2026, 3, 1, 11))
    assert [(r["template"], r["count"], r["first_seen"]) for r in window] == [
        ("disk /var is full", 1, _utc(2026, 3, 1, 10, 0, 5))
    ]
    everything = new_templates(result.con, _utc(2026, 1, 1), _utc(2027, 1, 1))
    rate = [r for r in everything if r["template"].startswith("rate limit")]
    assert rate[0]["count"] == 3 and len(rate[0]["source_paths"]) == 2
    assert new_templates(result.con, _utc(2020, 1, 1), _utc(2020, 1, 2)) == []


def test_new_templates_are_mined_across_files(ingest_into, tmp_path):
    """One file's miner keeps a literal the other file's generalizes: still the same message kind."""
    before = tmp_path / "before.log"
    before.write_text("2026-03-01T08:00:00Z ERROR connect to db-1 failed after 3 retries\n")
    during = tmp_path / "during.log"
    during.write_text(
        "2026-03-01T10:00:00Z ERROR connect to db-2 failed after 5 retries\n"
        "2026-03-01T10:00:01Z ERROR connect to db-3 failed after 5 retries\n"
        "2026-03-01T10:00:02Z CRITICAL disk /var is full\n"
    )
    result = ingest_into(before, during)
    per_file = result.scalar("SELECT count(DISTINCT name) FROM events WHERE message LIKE 'connect%'")
    assert per_file == 2  # what each file's own miner concluded
    window = new_templates(result.con, _utc(2026, 3, 1, 9), _utc(2026, 3, 1, 11))
    assert [r["template"] for r in window] == ["disk /var is full"]
    everything = new_templates(result.con, _utc(2026, 1, 1), _utc(2027, 1, 1))
    connect = [r for r in everything if r["template"].startswith("connect")]
    assert [(r["template"], r["count"], r["first_seen"], len(r["source_paths"])) for r in connect] == [
        ("connect to <*> failed after <*> retries", 3, _utc(2026, 3, 1, 8), 2)]


def test_orphan_lines_and_bad_bytes(ingest_into, tmp_path):
    path = tmp_path / "odd.log"
    path.write_bytes(
        b"continuation before any header\n"
        b"2026-01-01T00:00:00Z INFO caf\xe9 opened\n"
        b"2026-01-01T00:00:01Z INFO cafe closed\n"
        b"2026-01-01T00:00:02Z INFO third\n"
    )
    result = ingest_into(path)
    rows = result.rows("SELECT record_no, ts, ts_quality, message FROM events ORDER BY record_no")
    assert rows[0] == {"record_no": 1, "ts": None, "ts_quality": "missing",
                       "message": "continuation before any header"}
    assert rows[1]["message"] == "caf\ufffd opened"
    assert len(rows) == 4


@pytest.mark.parametrize(
    ("line", "grammar", "iso", "content"),
    [
        ("[Sun Dec 04 04:47:44 2005] [error] mod_jk child in error state 6", "apache",
         "2005-12-04T04:47:44", "mod_jk child in error state 6"),
        ("081109 203615 148 INFO dfs.DataNode: Receiving block blk_1", "compact",
         "2008-11-09T20:36:15", "dfs.DataNode: Receiving block blk_1"),
        ("17/06/09 20:10:40 INFO spark.SecurityManager: Changing view acls", "log4j_yymmdd",
         "2017-06-09T20:10:40", "spark.SecurityManager: Changing view acls"),
        ("06 Nov 1994 08:49:37,459 WARN [main] Foo - bar", "log4j_date",
         "1994-11-06T08:49:37.459", "[main] Foo - bar"),
        ("2025/12/22 14:17:44 ERROR boom", "slashed", "2025-12-22T14:17:44", "boom"),
        ('10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200', "clf",
         "2000-10-10T13:55:36-07:00", '- - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200'),
        ("nova.log.1 2017-05-16 00:00:00.008 25746 INFO nova.api [req-1] ok", "tagged_iso8601",
         "2017-05-16T00:00:00.008", "nova.api [req-1] ok"),
        ("2026-03-01T09:14:58.120334+00:00 WARN API key", "iso8601",
         "2026-03-01T09:14:58.120334+00:00", "API key"),
    ],
)
def test_line_grammars(line, grammar, iso, content):
    chosen, share = choose_grammar([line])
    assert (chosen.name, share) == (grammar, 1.0)
    stamp = chosen.match(line)
    assert stamp.iso == iso
    if grammar != "clf":
        assert split_header(chosen, line[stamp.end:])[1] == content
    assert [g.name for g in GRAMMARS].count(grammar) == 1


def test_detect():
    loader = TextLogLoader()
    for name in ("app.log", "syslog.log", "service_utc.log"):
        assert loader.detect(HERE / name, read_head(HERE / name))
    assert not loader.detect(HERE / "NOTICE", read_head(HERE / "NOTICE"))
    assert not loader.detect(Path("x.jsonl"), b'{"ts": "2026-01-01T00:00:00Z"}\n')
    assert not loader.detect(Path("x.csv"), b"2026-01-01T00:00:00Z,a,b\n")
    assert not loader.detect(Path("x.log"), b"just prose\nwith no times\n")
    assert not loader.detect(Path("x.log"), b"2026-01-01T00:00:00Z \x00\x01binary")


def test_java_stack_trace_kept_with_its_record(ingest_into, tmp_path):
    path = tmp_path / "server.log"
    path.write_text(
        "2026-02-01 10:00:00,001 INFO  [main] c.e.Server - started on port 8080\n"
        "2026-02-01 10:00:05,250 ERROR [pool-1] c.e.Handler - request failed\n"
        "java.lang.IllegalStateException: closed\n"
        "\tat com.example.Handler.handle(Handler.java:42)\n"
        "\tat java.base/java.lang.Thread.run(Thread.java:833)\n"
        "Caused by: java.io.IOException: broken pipe\n"
        "\t... 2 more\n"
        "2026-02-01 10:00:06,000 INFO  [main] c.e.Server - still serving\n"
    )
    result = ingest_into(path, tz="UTC")
    rows = result.rows("SELECT record_no, ts, ts_quality, event_type, severity, attrs "
                       "FROM events ORDER BY record_no")
    assert [(r["record_no"], r["event_type"], r["severity"]) for r in rows] == [
        (1, "log", "info"), (2, "error", "error"), (8, "log", "info")
    ]
    assert rows[1]["ts"] == _utc(2026, 2, 1, 10, 0, 5, 250000)
    assert rows[1]["ts_quality"] == "assumed_local"
    attrs = json.loads(rows[1]["attrs"])
    assert (attrs["line_end"], attrs["traceback"]) == (7, True)
