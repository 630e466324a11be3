"""Exports: Timesketch JSONL, JSONL, CSV and partitioned Parquet of a filtered event slice."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from incidentlab.cli import main
from incidentlab.errors import UsageError
from incidentlab.reports.export import export_events
from incidentlab.reports.query import Filters
from incidentlab.store import EVENT_COLUMNS

import conftest_reports
from conftest_reports import SECRET

incident_db = conftest_reports.incident_db

CANONICAL = [name for name, _ in EVENT_COLUMNS]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_timesketch_jsonl_has_the_required_columns(incident_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "slice.jsonl"
    result = export_events(incident_db, "timesketch", out)
    rows = _lines(out)
    assert result.rows == len(rows) == 20 and result.skipped_no_time == 0
    first = rows[0]
    assert first["message"] == "SessionStarted"
    assert first["datetime"] == "2026-03-01T09:00:00.000000+00:00"
    assert datetime.fromisoformat(first["datetime"]).timestamp() * 1_000_000 == first["timestamp"]
    assert first["timestamp_desc"] == "Event time"
    assert first["system"] == "codingbuddy" and first["seq"] == 1 and first["ts_quality"] == "exact"
    assert set(CANONICAL) - {"ts", "attrs"} <= set(first)
    assert json.loads(first["attrs_json"])["kind"]["type"] == "SessionStarted"
    assert not {"_id", "_type", "_index", "_source"} & set(first), "reserved fields"
    assert all(r["message"] for r in rows)


def test_filters_select_a_slice(incident_db: Path, tmp_path: Path) -> None:
    f = Filters.build(pivot="2026-03-01T09:05:00Z", span_minutes=3, min_severity="warning")
    result = export_events(incident_db, "jsonl", tmp_path / "s.jsonl", f)
    rows = _lines(tmp_path / "s.jsonl")
    assert result.rows == len(rows) == 5
    assert {r["event_type"] for r in rows} == {"tool.result", "policy.denied"}
    assert all("2026-03-01T09:02" <= r["ts"] <= "2026-03-01T09:08:00.1" for r in rows)
    assert isinstance(rows[0]["attrs"], dict), "jsonl keeps attrs as an object"


def test_csv_and_parquet(incident_db: Path, tmp_path: Path) -> None:
    export_events(incident_db, "csv", tmp_path / "e.csv", Filters.build(systems="codingbuddy"))
    with (tmp_path / "e.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 20 and list(rows[0]) == CANONICAL
    result = export_events(incident_db, "parquet", tmp_path / "pq")
    part = tmp_path / "pq" / "system=codingbuddy" / "date=2026-03-01"
    assert result.rows == 20 and any(part.glob("*.parquet"))
    count = duckdb.sql(f"SELECT count(*) FROM read_parquet('{tmp_path}/pq/**/*.parquet', "
                       "hive_partitioning=true)").fetchall()[0][0]
    assert count == 20


def test_redaction_and_guards(incident_db: Path, tmp_path: Path) -> None:
    result = export_events(incident_db, "jsonl", tmp_path / "red.jsonl")
    assert result.rows == 20 and result.redacted, "redacted by default"
    assert SECRET not in (tmp_path / "red.jsonl").read_text(encoding="utf-8")
    plain = export_events(incident_db, "jsonl", tmp_path / "plain.jsonl", redact=False)
    assert not plain.redacted
    assert SECRET in (tmp_path / "plain.jsonl").read_text(encoding="utf-8")
    with pytest.raises(UsageError, match="exists"):
        export_events(incident_db, "jsonl", tmp_path / "red.jsonl")
    with pytest.raises(UsageError, match=r"\*\.jsonl"):
        export_events(incident_db, "timesketch", tmp_path / "ts.json")


def test_export_command(incident_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.jsonl"
    result = CliRunner().invoke(main, [
        "export", "--db", str(incident_db), "--format", "timesketch", "--out", str(out),
        "--event-type", "policy.denied", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"] == 1
    assert _lines(out)[0]["outcome"] == "denied"


def test_every_format_is_redacted_by_default_and_no_redact_opts_out(incident_db: Path,
                                                                     tmp_path: Path) -> None:
    runner = CliRunner()
    for fmt, name in (("timesketch", "t.jsonl"), ("jsonl", "j.jsonl"), ("csv", "c.csv"),
                      ("parquet", "pq")):
        out = tmp_path / name
        result = runner.invoke(main, ["export", "--db", str(incident_db), "--format", fmt,
                                      "--out", str(out), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["redacted"] is True
        assert SECRET not in _text_of(out), fmt
        plain = tmp_path / f"plain-{name}"
        result = runner.invoke(main, ["export", "--db", str(incident_db), "--format", fmt,
                                      "--out", str(plain), "--no-redact", "--json"])
        assert result.exit_code == 0 and json.loads(result.output)["redacted"] is False
        assert SECRET in _text_of(plain), fmt
    both = runner.invoke(main, ["export", "--db", str(incident_db), "--format", "csv",
                                "--out", str(tmp_path / "x.csv"), "--redact", "--no-redact"])
    assert both.exit_code == 2 and "contradict" in both.output


def _text_of(out: Path) -> str:
    if out.is_dir():
        rows = duckdb.sql(f"SELECT * FROM read_parquet('{out}/**/*.parquet', "
                          "hive_partitioning=true)").fetchall()
        return repr(rows)
    return out.read_text(encoding="utf-8")


def test_text_exports_escape_control_sequences(tmp_path: Path) -> None:
    from incidentlab.store import connect

    db = tmp_path / "ansi.duckdb"
    con = connect(db)
    ansi = "\x1b[31mFAILED\x1b[0m see \x1b]8;;https://evil.example\x07link\x1b]8;;\x07 \x9b2J\rok"
    con.execute("INSERT INTO events (event_id, load_id, system, source, record_no, ts, "
                "ts_quality, event_type, message, attrs, is_mirror) VALUES ('e:1', 'l', 'x', "
                "'s', 1, TIMESTAMPTZ '2026-03-01 09:00:00+00', 'exact', 'log', ?, ?, false)",
                [ansi, json.dumps({"text": ansi})])
    con.close()
    for fmt, name in (("csv", "a.csv"), ("jsonl", "a.jsonl"), ("timesketch", "t.jsonl")):
        for redact in (True, False):
            out = tmp_path / f"{redact}-{name}"
            export_events(db, fmt, out, redact=redact)
            raw = out.read_text(encoding="utf-8")
            assert not any(c in raw for c in "\x1b\x07\x9b\r"), (fmt, redact)
            assert "\\u001b" not in raw.lower(), "not escaped JSON-style (decodes back to ESC)"
            if fmt == "csv":
                with out.open(newline="", encoding="utf-8") as handle:
                    row = next(csv.DictReader(handle))
                assert row["message"] == ("\\x1b[31mFAILED\\x1b[0m see \\x1b]8;;https://"
                                          "evil.example\\x07link\\x1b]8;;\\x07 \\x9b2J\\x0dok")
                assert json.loads(row["attrs"])["text"] == row["message"]
            else:
                row = _lines(out)[0]
                assert row["message"].startswith("\\x1b[31mFAILED")
                attrs = row.get("attrs") or json.loads(row["attrs_json"])
                assert attrs["text"] == row["message"]
    export_events(db, "parquet", tmp_path / "pq")
    kept = duckdb.sql(f"SELECT message FROM read_parquet('{tmp_path}/pq/**/*.parquet')")
    assert kept.fetchall()[0][0] == ansi, "parquet is data for programs: kept as is"
