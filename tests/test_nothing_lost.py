"""Ingest-level promises: failed loads recorded, idempotence per path, --db refusals, unreadable
files, Ctrl-C and a full disk leave the database consistent, many small files in batches."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from incidentlab.cli import main
from incidentlab.ingest import ingest
from incidentlab.loaders.codingbuddy.observe import ObserveLogLoader
from incidentlab.store import connect

from conftest import FIXTURES, assert_nothing_lost, tree_digest

WORKSPACE = FIXTURES / "codingbuddy" / "ws"


def _db_rows(db: Path, sql: str) -> list[tuple]:
    con = connect(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_failed_file_is_recorded_and_shown(tmp_path):
    folder = tmp_path / "w" / ".codingbuddy"
    shutil.copytree(WORKSPACE / ".codingbuddy", folder)
    (folder / "store.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    db = tmp_path / "i.duckdb"
    result = CliRunner().invoke(main, ["ingest", str(tmp_path / "w"), "--db", str(db)])
    assert result.exit_code == 1
    assert "failed" in result.output and "store.sqlite" in result.output
    (row,) = _db_rows(db, "SELECT status, facts->>'error' FROM _loads WHERE path LIKE '%store.sqlite'")
    assert row[0] == "failed" and "not a readable SQLite database" in row[1]
    info = json.loads(CliRunner().invoke(main, ["info", "--db", str(db), "--json"]).output)
    assert info["failed_loads"] == 1
    assert [load["error"] for load in info["loads"] if load["status"] == "failed"] == [row[1]]
    # the next run tries it again, and a good copy replaces the failed record
    shutil.copy(FIXTURES / "codingbuddy" / "ws" / ".codingbuddy" / "events.jsonl", folder / "events2")
    (folder / "store.sqlite").unlink()
    ingest([tmp_path / "w"], db)
    assert _db_rows(db, "SELECT count(*) FROM _loads WHERE status = 'failed'") == [(1,)]


def test_same_bytes_at_two_paths_are_two_loads_and_force_replaces_one(tmp_path):
    for name in ("a", "b"):
        shutil.copytree(WORKSPACE / ".codingbuddy", tmp_path / "evidence" / name / ".codingbuddy")
    db = tmp_path / "i.duckdb"
    summary = ingest([tmp_path / "evidence"], db)
    assert {f.status for f in summary.files} == {"loaded"}
    (events,) = _db_rows(db, "SELECT count(*) FROM events")[0]
    assert events == summary.event_rows
    facts = [json.loads(f) for (f,) in _db_rows(
        db, "SELECT facts FROM _loads WHERE path LIKE '%/b/%events.jsonl'")]
    assert facts[0]["same_bytes_as"][0].endswith("/a/.codingbuddy/events.jsonl")
    again = ingest([tmp_path / "evidence"], db)
    assert {f.status for f in again.files} == {"unchanged"}
    a_loads = _db_rows(db, "SELECT load_id FROM _loads WHERE path LIKE '%/a/%' ORDER BY 1")
    forced = ingest([tmp_path / "evidence" / "b"], db, force=True)
    assert {f.status for f in forced.files} == {"replaced"}
    assert _db_rows(db, "SELECT load_id FROM _loads WHERE path LIKE '%/a/%' ORDER BY 1") == a_loads
    assert _db_rows(db, "SELECT count(*) FROM events") == [(events,)]


@pytest.mark.parametrize("content", [b'{"seq_no": 1}\n', b"SQLite format 3\x00" + b"\x00" * 100,
                                     b"just text\n"])
def test_a_db_that_is_not_duckdb_is_refused_and_left_alone(tmp_path, content):
    target = tmp_path / "evidence.json"
    target.write_bytes(content)
    before = tree_digest(target)
    result = CliRunner().invoke(main, ["ingest", str(WORKSPACE), "--db", str(target)])
    assert result.exit_code == 2
    assert "is not a DuckDB database" in result.output and "Traceback" not in result.output
    assert tree_digest(target) == before
    result = CliRunner().invoke(main, ["info", "--db", str(target)])
    assert result.exit_code == 2 and "is not a DuckDB database" in result.output


def test_unreadable_files_are_reported_not_unclaimed(tmp_path):
    evidence = tmp_path / "evidence"
    shutil.copytree(WORKSPACE / ".codingbuddy", evidence / ".codingbuddy")
    (evidence / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    result = CliRunner().invoke(main, ["ingest", str(evidence), "--db", str(tmp_path / "i.duckdb"),
                                       "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.output)
    assert summary["unreadable"] == [f"{evidence / 'gone.jsonl'}: broken symbolic link"]
    assert not any("gone" in path for path in summary["unclaimed"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_mode(tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    locked = evidence / "events.jsonl"
    locked.write_text("{}\n")
    locked.chmod(0)
    summary = ingest([evidence], tmp_path / "i.duckdb")
    assert summary.unreadable and not summary.ok


def test_ctrl_c_stops_the_run_exits_130_and_keeps_what_was_committed(tmp_path, monkeypatch):
    evidence = tmp_path / "evidence"
    for index in range(4):
        shutil.copytree(WORKSPACE / ".codingbuddy", evidence / f"w{index}" / ".codingbuddy")
    real = ObserveLogLoader.load
    calls = []

    def interrupted(self, ctx):
        calls.append(ctx.path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, ctx)

    monkeypatch.setattr(ObserveLogLoader, "load", interrupted)
    db = tmp_path / "i.duckdb"
    result = CliRunner().invoke(main, ["ingest", str(evidence), "--db", str(db)])
    assert result.exit_code == 130
    assert "interrupted" in result.output
    con = connect(db, read_only=True)
    try:
        statuses = {row[0] for row in con.execute("SELECT status FROM _loads").fetchall()}
        assert statuses <= {"ok"}
    finally:
        con.close()
    from conftest import Ingested
    assert_nothing_lost(Ingested(db, None))  # type: ignore[arg-type]


DISK_FULL = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
from incidentlab.cli import main
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
sys.argv = ["incidentlab", "ingest", sys.argv[2], "--db", sys.argv[3], "--tz", "UTC"]
main()
"""


def test_a_full_disk_stops_with_one_line_and_the_database_stays_usable(tmp_path):
    evidence = tmp_path / "evidence"
    for index in range(3):
        shutil.copytree(FIXTURES / "tapps", evidence / f"t{index}")
    db = tmp_path / "i.duckdb"
    ingest([FIXTURES / "jido"], db)  # something committed before the disk fills
    before = _db_rows(db, "SELECT count(*) FROM events")
    limit = 64 * 1024  # the write-ahead log grows past this within the first batches
    run = subprocess.run([sys.executable, "-c", DISK_FULL, str(limit), str(evidence), str(db)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and "cannot rollback" not in run.stderr.lower()
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "full" in errors[0]
    after = _db_rows(db, "SELECT count(*) FROM events")
    assert after >= before
    from conftest import Ingested
    assert_nothing_lost(Ingested(db, None))  # type: ignore[arg-type]


def test_many_small_files_are_written_in_batches_and_all_land(tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    for index in range(1200):
        (evidence / f"f{index:04d}.jsonl").write_text(
            json.dumps({"timestamp": f"2026-03-01T10:{index // 60 % 60:02d}:{index % 60:02d}Z",
                        "level": "info", "message": f"event {index}"}) + "\n")
    db = tmp_path / "i.duckdb"
    summary = ingest([evidence], db)
    assert summary.ok and summary.count("loaded") == 1200
    assert _db_rows(db, "SELECT count(*), count(DISTINCT load_id) FROM events") == [(1200, 1200)]
    assert _db_rows(db, "SELECT count(*) FROM _loads WHERE event_rows = 1") == [(1200,)]
    again = ingest([evidence], db)
    assert again.count("unchanged") == 1200


def test_strict_on_a_rerun_still_sees_the_quarantine(tmp_path):
    path = tmp_path / "ws" / ".codingbuddy" / "events.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes((WORKSPACE / ".codingbuddy" / "events.jsonl").read_bytes() + b"{broken\n")
    db = str(tmp_path / "i.duckdb")
    first = CliRunner().invoke(main, ["ingest", str(path), "--db", db, "--strict"])
    again = CliRunner().invoke(main, ["ingest", str(path), "--db", db, "--strict"])
    assert (first.exit_code, again.exit_code) == (1, 1)
    assert "unchanged" in again.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_db_path_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    result = CliRunner().invoke(main, ["ingest", str(WORKSPACE), "--db", str(folder / "i.duckdb")])
    assert result.exit_code == 2 and "cannot be written" in result.output


KILLED = """
import sys
from incidentlab.ingest import ingest
print("started", flush=True)
ingest([sys.argv[1]], sys.argv[2])
"""


def test_a_kill_mid_ingest_leaves_only_whole_loads(tmp_path):
    evidence = tmp_path / "evidence"
    for index in range(40):
        shutil.copytree(WORKSPACE / ".codingbuddy", evidence / f"w{index}" / ".codingbuddy")
    big = evidence / "big" / ".codingbuddy" / "events.jsonl"
    big.parent.mkdir(parents=True)
    lines = (WORKSPACE / ".codingbuddy" / "events.jsonl").read_bytes().splitlines()
    big.write_bytes(b"\n".join(lines * 20_000) + b"\n")
    db = tmp_path / "i.duckdb"
    process = subprocess.Popen([sys.executable, "-c", KILLED, str(evidence), str(db)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "started"
    try:
        process.wait(timeout=1.5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    assert process.returncode == -9, "the ingest finished before the kill: give it more to do"
    from conftest import Ingested
    result = Ingested(db, None)  # type: ignore[arg-type]
    assert_nothing_lost(result)  # every load present is whole: its rows match its counts
    assert result.scalar("SELECT count(*) FROM _loads WHERE status <> 'ok'") == 0
    result.close()
