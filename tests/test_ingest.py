"""Ingest invariants: idempotent, --force replaces, atomic per file, unclaimed files reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from incidentlab.errors import SchemaMismatchError, UsageError
from incidentlab.ingest import ingest
from incidentlab.loaders.base import LoadResult
from incidentlab.loaders.codingbuddy.events import EventsJsonlLoader
from incidentlab.store import connect

from conftest import FIXTURES

WORKSPACE = FIXTURES / "codingbuddy" / "ws"


def _counts(db: Path) -> tuple[int, int, int]:
    con = connect(db, read_only=True)
    try:
        return tuple(con.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM _loads), "
            "(SELECT count(*) FROM _load_warnings)").fetchone())
    finally:
        con.close()


def test_ingesting_twice_adds_nothing(ingest_into):
    first = ingest_into(WORKSPACE)
    before = _counts(first.db)
    first.close()
    second = ingest_into(WORKSPACE)
    assert {f.status for f in second.summary.files} == {"unchanged"}
    assert _counts(second.db) == before


def test_force_replaces_rows(ingest_into):
    first = ingest_into(WORKSPACE)
    before = _counts(first.db)
    first.close()
    forced = ingest_into(WORKSPACE, force=True)
    assert {f.status for f in forced.summary.files} == {"replaced"}
    assert _counts(forced.db) == before


def test_changed_file_supersedes_its_previous_load(ingest_into, tmp_path):
    folder = tmp_path / "w" / ".codingbuddy"
    folder.mkdir(parents=True)
    lines = (WORKSPACE / ".codingbuddy" / "events.jsonl").read_text().splitlines()
    (folder / "events.jsonl").write_text("\n".join(lines[:5]) + "\n")
    ingest_into(folder).close()
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    result = ingest_into(folder)
    assert result.summary.files[0].status == "replaced"
    assert result.scalar("SELECT count(*) FROM events") == 10
    assert result.scalar("SELECT count(*) FROM _loads") == 1


def test_failure_mid_file_leaves_database_unchanged(ingest_into, tmp_path, monkeypatch):
    db = tmp_path / "incident.duckdb"
    ingest_into(WORKSPACE / ".codingbuddy" / "observe.log", db=db).close()
    before = _counts(db)
    import incidentlab.writer as writer_module

    real_insert = writer_module._insert_select

    def insert_then_fail(con, table, *args, **kwargs):
        count = real_insert(con, table, *args, **kwargs)
        if table == "events":
            raise RuntimeError("disk on fire")
        return count

    monkeypatch.setattr(writer_module, "_insert_select", insert_then_fail)
    summary = ingest([WORKSPACE / ".codingbuddy" / "events.jsonl"], db)
    assert summary.files[0].status == "failed"
    assert "disk on fire" in summary.files[0].message
    events, loads, warnings = _counts(db)
    assert (events, loads - 1, warnings) == before
    con = connect(db, read_only=True)
    failed = con.execute("SELECT status, facts->>'error' FROM _loads WHERE path LIKE '%events.jsonl'"
                         ).fetchall()
    con.close()
    assert failed[0][0] == "failed" and "disk on fire" in failed[0][1]


def test_a_failing_bulk_insert_reports_its_own_error(ingest_into, tmp_path, monkeypatch):
    """The real cause, not DuckDB's later 'transaction is aborted', and the next file still loads."""
    real_load = EventsJsonlLoader.load

    def load_unconvertible(self, ctx):
        if ctx.path.parent.parent.name == "bad":
            return LoadResult(records_read=1, events=ctx.con.sql("SELECT 'nine' AS seq"))
        return real_load(self, ctx)

    monkeypatch.setattr(EventsJsonlLoader, "load", load_unconvertible)
    for name in ("bad", "good"):
        shutil.copytree(WORKSPACE / ".codingbuddy", tmp_path / name / ".codingbuddy")
    summary = ingest([tmp_path / "bad" / ".codingbuddy" / "events.jsonl",
                      tmp_path / "good" / ".codingbuddy" / "events.jsonl"], tmp_path / "i.duckdb")
    failed, loaded = summary.files
    assert failed.status == "failed"
    assert "Conversion Error" in failed.message and "aborted" not in failed.message
    assert (loaded.status, loaded.event_rows) == ("loaded", 10)


def test_bad_file_never_aborts_the_others(ingest_into, tmp_path):
    folder = tmp_path / "w" / ".codingbuddy"
    shutil.copytree(WORKSPACE / ".codingbuddy", folder)
    (folder / "store.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    result = ingest_into(tmp_path / "w")
    statuses = {Path(f.path).name: f.status for f in result.summary.files}
    assert statuses["store.sqlite"] == "failed"
    assert statuses["events.jsonl"] == "loaded"
    assert not result.summary.ok


def test_unclaimed_files_are_listed(ingest_into, tmp_path):
    shutil.copytree(WORKSPACE, tmp_path / "w")
    (tmp_path / "w" / ".codingbuddy" / "settings.json").write_text("{}")
    (tmp_path / "w" / "notes.txt").write_text("hello")
    (tmp_path / "w" / "handover.md").write_text("# Handover\n2026-03-01 09:00 all good\n")
    result = ingest_into(tmp_path / "w")
    assert sorted(Path(p).name for p in result.summary.unclaimed) == [
        "handover.md", "notes.txt", "settings.json"]
    # each with why no loader took it
    assert {Path(p).name: why for p, why in result.summary.unclaimed_reasons.items()} == {
        "handover.md": "a Markdown document, not a log",
        "notes.txt": "text with no time this tool reads in its first 1 line",
        "settings.json": "no loader recognizes its format",
    }


def test_forced_loader_and_unknown_loader(ingest_into, tmp_path):
    plain = tmp_path / "copy.jsonl"
    shutil.copy(WORKSPACE / ".codingbuddy" / "events.jsonl", plain)
    result = ingest_into(plain, loader=EventsJsonlLoader.name)
    assert result.scalar("SELECT count(*) FROM events") == 10
    with pytest.raises(UsageError, match="no loader named 'nope'"):
        ingest([plain], tmp_path / "x.duckdb", loader="nope")


def test_bad_time_zone_and_missing_path(tmp_path):
    with pytest.raises(UsageError, match="unknown time zone"):
        ingest([WORKSPACE], tmp_path / "x.duckdb", tz="Mars/Olympus")
    with pytest.raises(UsageError, match="no such file"):
        ingest([tmp_path / "nope"], tmp_path / "x.duckdb")


def test_schema_mismatch_is_refused(tmp_path):
    db = tmp_path / "old.duckdb"
    connect(db).close()
    con = duckdb.connect(str(db))
    con.execute("UPDATE _meta SET value = '0' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(SchemaMismatchError, match="delete the file and run `incidentlab ingest`"):
        connect(db)
