"""Plain-text log loader: line grammar, multi-line records, time zones, Drain3 templates."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from incidentlab.loaders.base import read_head
from incidentlab.loaders.textlog import TextLogLoader, mine, new_templates, template_id
from incidentlab.loaders.textlog.grammar import FORMATS, infer_grammar

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
    # the header (time, level, `runner:`) is not mined: the template is the message's own
    template = "Step failed step=implementation"
    expected = {
        "system": "generic", "source": "textlog", "record_no": 4,
        "ts": _utc(2025, 12, 22, 13, 17, 44, 390000), "ts_raw": "2025-12-22 14:17:44,390",
        "ts_quality": "assumed_local", "stream": "app.log", "seq": None, "position": 4,
        "project": None, "correlation_id": None, "event_type": "error",
        "event_type_raw": template_id(template), "actor": "runner", "name": template,
        "outcome": None, "severity": "error", "duration_ms": None,
        "message": "Step failed step=implementation\nTraceback (most recent call last):\n"
                   '  File "/app/runner.py", line 88, in run\n    result = step.execute()\n'
                   "ValueError: Invalid skill command",
        "error_code": None, "error_category": None, "is_mirror": False,
    }
    assert {k: row[k] for k in expected} == expected
    assert row["event_id"].endswith(":4")
    assert attrs["line"] == 4 and attrs["line_end"] == 8 and attrs["traceback"] is True
    assert attrs["level"] == "ERROR" and attrs["template"] == template
    assert attrs["component"] == "runner" and attrs["template_id"] == template_id(template)
    assert attrs["text"].startswith("2025-12-22 14:17:44,390 ERROR runner")

    warn = result.rows("SELECT severity, event_type FROM events WHERE record_no = 3")[0]
    assert warn == {"severity": "warning", "event_type": "log"}
    templates = result.rows(
        'SELECT template, "count", first_seen, last_seen FROM textlog_templates ORDER BY template'
    )
    started = [t for t in templates if "started" in t["template"]]
    assert started == [
        {"template": "Step started <*>", "count": 2,
         "first_seen": _utc(2025, 12, 22, 13, 17, 41, 100000),
         "last_seen": _utc(2025, 12, 22, 13, 17, 45, 1000)},
        {"template": "Workflow started id=wf-1", "count": 1,
         "first_seen": _utc(2025, 12, 22, 13, 17, 40, 2000),
         "last_seen": _utc(2025, 12, 22, 13, 17, 40, 2000)},
    ]
    assert sum(t["count"] for t in templates) == 6
    names = result.scalar("SELECT count(DISTINCT name) FROM events")
    assert names == len(templates)
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["grammar"] == "iso8601" and facts["multiline_records"] == 1
    assert facts["header"] == "<iso8601> <level@0> <component:@1> <content>"


def test_second_ingest_is_unchanged(ingest_into, tmp_path):
    db = tmp_path / "twice.duckdb"
    ingest_into(HERE / "app.log", db=db, tz="UTC")
    again = ingest_into(HERE / "app.log", db=db, tz="UTC")
    assert [f.status for f in again.summary.files] == ["unchanged"]
    assert again.scalar("SELECT count(*) FROM events") == 6
    assert again.scalar("SELECT count(*) FROM textlog_templates") == 5


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
    assert (attrs["host"], attrs["component"], attrs["pid"]) == ("combo", "sshd(pam_unix)", "19939")
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


def test_an_explicit_year_places_yearless_times(ingest_into, tmp_path):
    """--year: the first record is in that year, a step back in the calendar starts the next."""
    path = tmp_path / "messages"
    path.write_text("Dec 31 23:59:58 host app[1]: tick\nJan  1 00:00:02 host app[1]: tick\n")
    moment = _utc(2026, 6, 1)
    os.utime(path, (moment.timestamp(), moment.timestamp()))
    result = ingest_into(path, tz="UTC", year=2024)
    assert [r["ts"] for r in result.rows("SELECT ts FROM events ORDER BY record_no")] == [
        _utc(2024, 12, 31, 23, 59, 58), _utc(2025, 1, 1, 0, 0, 2)
    ]
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["year_given"] == 2024 and "year_from_mtime" not in facts


def test_year_option_is_checked(tmp_path):
    from click.testing import CliRunner

    from incidentlab.cli import main

    bad = CliRunner().invoke(main, ["ingest", str(tmp_path), "--db", str(tmp_path / "x.duckdb"),
                                    "--year", "99"])
    assert bad.exit_code == 2 and "--year" in bad.output


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
        ("[Sun Dec 04 04:47:44 2005] [error] mod_jk child in error state 6", "ctime",
         "2005-12-04T04:47:44", "mod_jk child in error state 6"),
        ("081109 203615 148 INFO dfs.DataNode: Receiving block blk_1", "compact",
         "2008-11-09T20:36:15", "Receiving block blk_1"),
        ("17/06/09 20:10:40 INFO spark.SecurityManager: Changing view acls", "yy_slashed",
         "2017-06-09T20:10:40", "Changing view acls"),
        ("06 Nov 1994 08:49:37,459 WARN [main] Foo - bar", "log4j_date",
         "1994-11-06T08:49:37.459", "bar"),
        ("2025/12/22 14:17:44 ERROR boom", "ymd_slashed", "2025-12-22T14:17:44", "boom"),
        ('10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200', "clf",
         "2000-10-10T13:55:36-07:00", '"GET / HTTP/1.0" 200'),
        ("nova.log.1 2017-05-16 00:00:00.008 25746 INFO nova.api [req-1] ok", "iso8601",
         "2017-05-16T00:00:00.008", "ok"),
        ("2026-03-01T09:14:58.120334+00:00 WARN API key", "iso8601",
         "2026-03-01T09:14:58.120334+00:00", "API key"),
        ("20171224-1:2:35:789|Step_LSC|30002312|onStandStepChanged 3579", "ymd_millis",
         "2017-12-24T01:02:35.789", "onStandStepChanged 3579"),
        ("03-17 16:13:38.811  1702  2395 D WindowManager: relayout", "month_day",
         "2000-03-17T16:13:38.811", "relayout"),
        ("[10.30 16:49:06] chrome.exe - a.b.c:5070 open", "month_day",
         "2000-10-30T16:49:06", "a.b.c:5070 open"),
        ("Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster", "syslog",
         "2000-12-10T06:55:46", "Invalid user webmaster"),
        ("- 1117838570 2005.06.03 R02 2005-06-03-15.42.50.675872 R02 RAS KERNEL INFO parity",
         "epoch", "2005-06-03T22:42:50+00:00", "parity"),
        ("2005-06-03-15.42.50.675872 R02 RAS KERNEL INFO parity", "ymd_dotted_time",
         "2005-06-03T15:42:50.675872", "parity"),
    ],
)
def test_line_grammars(line, grammar, iso, content):
    chosen = infer_grammar([line])
    assert (chosen.name, chosen.share) == (grammar, 1.0)
    parsed = chosen.parse(line)
    assert parsed.stamp.iso == iso
    assert parsed.content == content
    assert [f.name for f in FORMATS].count(grammar) == 1


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


# ---- header inference on real line formats: one fully specified row each ---------------------
# Slices of the Loghub 2k samples (NOTICE, LOGHUB-LICENSE) and two imitations; the file's mtime is
# set to 2026-12-01 so year-less dates are placed from that evidence. Columns: the first record's
# ts, ts_quality, severity, component (events.actor) and template text (events.name), and the
# header the loader inferred (facts.header).
MTIME = _utc(2026, 12, 1)
FORMAT_ROWS = [
    ("loghub_Android.log", _utc(2026, 3, 17, 16, 13, 38, 811000), "derived", "debug",
     # object hashes without 0x (`9f4ef63`) are hex ids, masked like any other
     "WindowManager", "printFreezingDisplayLogsopening app wtoken = AppWindowToken{<*> "
     "token=Token{<*> ActivityRecord{<*> u0 com.tencent.qt.qtl/.activity.info."
     "NewsDetailXmlActivity t761}}}, allDrawn= false, startingDisplayed = false, startingMoved = "
     "false, isRelaunching = false",
     "<month_day> <level@2> <component:@3> <content>"),
    ("loghub_Apache.log", _utc(2005, 12, 4, 4, 47, 44), "assumed_local", "info", None,
     "workerEnv.init() ok /etc/httpd/conf/workers2.properties", "<ctime> <level@0> <content>"),
    ("loghub_BGL.log", _utc(2005, 6, 3, 22, 42, 50), "exact", "info", "KERNEL",
     "instruction cache parity error corrected", "<fields> <epoch> <level@6> <content>"),
    ("loghub_HDFS.log", _utc(2008, 11, 9, 20, 36, 15), "assumed_local", "info",
     "dfs.DataNode$PacketResponder", "PacketResponder <*> for block <*> terminating",
     "<compact> <level@1> <component:@2> <content>"),
    ("loghub_HPC.log", _utc(2004, 2, 26, 14, 12, 22), "exact", "info", None,
     "Component State Change: Component <*> is in the unavailable state (HWID=<*>)",
     "<fields> <epoch> <number> <content>"),
    ("loghub_Linux.log", _utc(2026, 6, 14, 15, 16, 1), "derived", "info", "sshd(pam_unix)",
     "authentication failure; logname= uid=<*> euid=<*> tty=NODEVssh ruser= rhost=<*>",
     "<syslog> <component:@1> <content>"),
    ("loghub_Mac.log", _utc(2026, 7, 1, 9, 0, 55), "derived", "info", "kernel",
     "IOThunderboltSwitch<0>(<*>)::listenerCallback - Thunderbolt HPD packet for route = <*> "
     "port = <*> unplug = <*>", "<syslog> <component:@1> <content>"),
    ("loghub_OpenSSH.log", _utc(2025, 12, 10, 6, 55, 46), "derived", "info", "sshd",
     "reverse mapping checking getaddrinfo for <*> [<*>] failed - POSSIBLE BREAK-IN ATTEMPT!",
     "<syslog> <component:@1> <content>"),
    ("loghub_OpenStack.log", _utc(2017, 5, 16, 0, 0, 0, 8000), "assumed_local", "info",
     "nova.osapi_compute.wsgi.server",
     '<*> "GET /v2/<*>/servers/detail HTTP/1.1" status: <*> len: <*> time: <*>',
     "<fields> <iso8601> <level@1> <logger> <[group]> <content>"),
    ("loghub_Proxifier.log", _utc(2025, 10, 30, 21, 21, 34), "derived", "info", "chrome.exe",
     "<*> open through proxy <*> HTTPS", "<month_day> <separator@1> <content>"),
    ("loghub_Spark.log", _utc(2017, 6, 9, 20, 10, 40), "assumed_local", "info",
     "executor.CoarseGrainedExecutorBackend", "Registered signal handlers for [TERM, HUP, INT]",
     "<yy_slashed> <level@0> <component:@1> <content>"),
    ("loghub_Thunderbird.log", _utc(2005, 11, 9, 20, 1, 1), "exact", "info", "crond(pam_unix)",
     "session closed for user root", "<fields> <epoch> <component:@6> <content>"),
    ("loghub_Windows.log", _utc(2016, 9, 28, 4, 30, 30), "assumed_local", "info", "CBS",
     "Loaded Servicing Stack v6.1.7601.23505 with Core: C:\\Windows\\winsxs\\amd64_microsoft-"
     "windows-servicingstack_31bf3856ad364e35_6.1.7601.23505_none_681aa442f6fed7f0\\cbscore.dll",
     "<iso8601> <level@1> <separator@0> <padded field> <content>"),
    ("loghub_Zookeeper.log", _utc(2015, 7, 29, 17, 41, 44, 747000), "assumed_local", "info", None,
     "Notification time out: <*>", "<iso8601> <level@1> <separator@3> <content>"),
    ("healthapp_style.log", _utc(2017, 12, 23, 22, 15, 29, 606000), "assumed_local", "info",
     "Step_LSC", "onStandStepChanged <*>", "<ymd_millis> <separator@4> <content>"),
    ("hadoop_style.log", _utc(2015, 10, 18, 18, 1, 47, 978000), "assumed_local", "info",
     "org.apache.hadoop.mapreduce.v2.app.MRAppMaster",
     "Created MRAppMaster for application appattempt_1445144423722_0020_000001",
     "<iso8601> <level@0> <component:@2> <content>"),
]


@pytest.mark.parametrize(("name", "ts", "quality", "severity", "component", "template", "header"),
                         FORMAT_ROWS, ids=[r[0] for r in FORMAT_ROWS])
def test_header_inference_per_format(ingest_into, tmp_path, name, ts, quality, severity,
                                     component, template, header):
    path = _copy(name, tmp_path, mtime=MTIME)
    assert TextLogLoader().detect(path, read_head(path))
    result = ingest_into(path, tz="UTC")
    (outcome,) = result.summary.files
    assert (outcome.loader, outcome.status, outcome.quarantined) == ("generic.textlog", "loaded", 0)
    first = result.rows("SELECT ts, ts_quality, severity, actor, name, event_type_raw, message "
                        "FROM events ORDER BY record_no LIMIT 1")[0]
    assert (first["ts"], first["ts_quality"], first["severity"], first["actor"], first["name"]) == (
        ts, quality, severity, component, template)
    assert first["event_type_raw"] == template_id(template)
    assert "\r" not in first["message"] and first["message"].strip()
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["header"] == header
    # every record is timed, none after the file was written
    assert result.scalar("SELECT count(*) FROM events WHERE ts IS NULL") == 0
    assert result.scalar("SELECT max(ts) FROM events") <= MTIME


def test_levels_become_severities(ingest_into, tmp_path):
    """Android letters, Apache words and Java levels: errors are error events, tracebacks too."""
    result = ingest_into(_copy("loghub_Apache.log", tmp_path, MTIME),
                         _copy("hadoop_style.log", tmp_path, MTIME), tz="UTC")
    rows = result.rows("SELECT stream, severity, event_type, count(*) AS n FROM events "
                       "GROUP BY ALL ORDER BY ALL")
    assert rows == [
        {"stream": "hadoop_style.log", "severity": "error", "event_type": "error", "n": 1},
        {"stream": "hadoop_style.log", "severity": "info", "event_type": "log", "n": 3},
        {"stream": "hadoop_style.log", "severity": "warning", "event_type": "log", "n": 1},
        {"stream": "loghub_Apache.log", "severity": "error", "event_type": "error", "n": 4},
        {"stream": "loghub_Apache.log", "severity": "info", "event_type": "log", "n": 8},
    ]
    trace = result.rows("SELECT message, attrs FROM events WHERE severity = 'error' AND "
                        "stream = 'hadoop_style.log'")[0]
    assert trace["message"].startswith("ERROR IN CONTACTING RM.\njava.net.ConnectException")
    assert json.loads(trace["attrs"])["thread"] == "RMCommunicator Allocator"


def test_yearless_dates_follow_the_file_back_from_its_mtime(ingest_into, tmp_path):
    """Proxifier's `10.30` records come before `07.26` ones: the year before, never the future."""
    result = ingest_into(_copy("loghub_Proxifier.log", tmp_path, MTIME), tz="UTC")
    days = result.rows("SELECT ts_raw, ts FROM events ORDER BY record_no")
    assert [(r["ts_raw"][:5], r["ts"].year) for r in days] == [("10.30", 2025)] * 6 + [
        ("07.26", 2026)] * 6
    early = _copy("loghub_OpenSSH.log", tmp_path, _utc(2026, 12, 10, 6, 55, 50))
    result = ingest_into(early, tz="UTC", db=tmp_path / "early.duckdb")
    times = [r["ts"] for r in result.rows("SELECT ts FROM events ORDER BY record_no")]
    # the log ends (07:07:38) after its mtime's time in that year (06:55:50): the year before
    assert times[0] == _utc(2025, 12, 10, 6, 55, 46) and times[-1] == _utc(2025, 12, 10, 7, 7, 38)
    facts = json.loads(result.scalar("SELECT facts FROM _loads"))
    assert facts["year_from_mtime"].startswith("2026-12-10T06:55:50")
    assert "year_moved_back" not in facts


def test_epoch_times_need_no_zone(ingest_into, tmp_path):
    result = ingest_into(_copy("loghub_BGL.log", tmp_path, MTIME))
    (outcome,) = result.summary.files
    assert outcome.status == "loaded"
    assert result.scalar("SELECT count(*) FROM events WHERE ts_quality = 'exact'") == 12
    naive = ingest_into(_copy("loghub_HDFS.log", tmp_path, MTIME), db=tmp_path / "other.duckdb")
    assert [f.status for f in naive.summary.files] == ["needs_tz"]


def test_new_templates_agree_with_the_file_templates(ingest_into, tmp_path):
    result = ingest_into(_copy("loghub_HDFS.log", tmp_path, MTIME), tz="UTC")
    events = result.rows("SELECT event_type_raw, name, count(*) AS n FROM events GROUP BY ALL")
    window = new_templates(result.con, _utc(2000, 1, 1), _utc(2030, 1, 1))
    assert sorted((r["template_id"], r["template"], r["count"]) for r in window) == sorted(
        (e["event_type_raw"], e["name"], e["n"]) for e in events)
    assert all(r["file_template_ids"] == [r["template_id"]] for r in window)
    stored = result.rows('SELECT template_id, template, "count" FROM textlog_templates')
    assert sorted(stored, key=str) == sorted(
        ({"template_id": r["template_id"], "template": r["template"], "count": r["count"]}
         for r in window), key=str)


def _templates(messages: list[str]) -> list[str]:
    return [text for _, text in mine(messages)]


def test_a_rare_word_in_a_wildcard_slot_is_its_own_template():
    # Drain merges kinds differing in one word, however rare one is; a slot holding a few
    # distinct words, one of them repeated, is an enumeration of constants (Loghub OpenSSH,
    # Windows, Proxifier)
    bye = [f"Received disconnect from 10.0.0.{i}: 11: Bye Bye [preauth]" for i in range(5)]
    user = ["Received disconnect from 10.0.0.9: 11: disconnected by user"]
    assert set(_templates(bye + user)) == {
        "Received disconnect from <*>: <*>: Bye Bye [preauth]",
        "Received disconnect from <*>: <*>: disconnected by user"}
    proxy = [f"h{i}.example.com:443 open through proxy proxy.example.com:5070 HTTPS"
             for i in range(4)] + ["h9.example.com:22 open through proxy socks.example.com:5070 SOCKS5"]
    assert _templates(proxy)[-1] == "<*> open through proxy <*> SOCKS5"
    assert set(_templates(proxy)[:-1]) == {"<*> open through proxy <*> HTTPS"}
    # `key=` tokens with different keys are different kinds, whatever their values
    tasks = [f"getRecentTasks: num={i},flags=62" for i in range(3)] + [
        "getRecentTasks: topActivity=ComponentInfo{com.example/.Main}"]
    assert len(set(_templates(tasks))) == 2


def test_variables_stay_wildcards():
    # each member its own value, a numbered family (digits aside the same word), a path, or
    # more distinct words than an enumeration has: a variable, one template
    cases = [
        ["Step started step=planning", "Step started step=review"],
        [f"link up on eth{i % 2}" for i in range(6)],
        [f"opened file /var/log/{name}" for name in ("a.bin", "b.bin", "a.bin", "c.img")],
        [f"session opened for user {u}" for u in ("ann", "bob", "cy", "dan", "ann", "bob")],
    ]
    for messages in cases:
        assert len(set(_templates(messages))) == 1, messages


def test_sizes_durations_and_hex_ids_are_values():
    lines = ["close, 0 bytes sent, 0 bytes received, lifetime <1 sec",
             "close, 1403 bytes (1.37 KB) sent, 2300 bytes (2.24 KB) received, lifetime 00:01",
             "close, 403 bytes sent, 42 bytes (0.5 KB) received, lifetime 02:15"]
    assert set(_templates(lines)) == {"close, <*> sent, <*> received, lifetime <*>"}
    assert set(_templates(["wtoken = AppWindowToken{9f4ef63} vis=c0000700",
                           "wtoken = AppWindowToken{a64f992} vis=40000500"])) == {
        "wtoken = AppWindowToken{<*>} vis=<*>"}
    assert set(_templates(["connection from 10.0.0.1 () at 12:00:01",
                           "connection from 10.0.0.2 (host.example.net) at 12:00:02"])) == {
        "connection from <*> at <*>"}


REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "loghub"


@pytest.mark.skipif(not REALDATA.is_dir(), reason="the Loghub samples are not in ../shared")
def test_every_loghub_log_is_claimed_timed_and_readable(ingest_into):
    logs = sorted(REALDATA.glob("*/*_2k.log"))
    result = ingest_into(*logs, tz="UTC")
    outcomes = {Path(f.path).name: f for f in result.summary.files}
    assert set(outcomes) == {p.name for p in logs}
    assert {(f.loader, f.status) for f in outcomes.values()} == {("generic.textlog", "loaded")}
    assert result.scalar("SELECT sum(quarantined) FROM _loads") == 0
    assert result.scalar("SELECT count(*) FROM events WHERE ts IS NULL") == 0
    future = result.scalar("SELECT count(*) FROM events e JOIN _loads l USING (load_id) "
                           "WHERE e.ts > l.mtime")
    assert future == 0
    # readable: the name is the template text, never the hash
    assert result.scalar("SELECT count(*) FROM events WHERE name = event_type_raw") == 0
    assert result.scalar("SELECT count(*) FROM events WHERE name LIKE 't%' AND "
                         "regexp_matches(name, '^t[0-9a-f]{12}$')") == 0
