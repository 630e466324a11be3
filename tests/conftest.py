"""Shared test helpers: ingest into a temp database and check the store's invariants."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import duckdb
import pytest

from incidentlab.ingest import IngestSummary, ingest
from incidentlab.store import connect

FIXTURES = Path(__file__).parent / "fixtures"


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under root (or of root itself): evidence must stay unchanged."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


class Ingested:
    def __init__(self, db: Path, summary: IngestSummary) -> None:
        self.db = db
        self.summary = summary
        self.con = connect(db, read_only=True)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict]:
        return rows(self.con, sql, params)

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        return self.con.execute(sql, params or []).fetchone()[0]

    def close(self) -> None:
        self.con.close()


@pytest.fixture
def ingest_into(tmp_path: Path):
    """ingest_into(paths, **kwargs) -> Ingested, also asserting the invariants that hold always."""
    opened: list[Ingested] = []

    def run(*paths: Path, db: Path | None = None, **kwargs: Any) -> Ingested:
        target = db or tmp_path / "incident.duckdb"
        for item in opened:
            item.close()
        before = {str(p): tree_digest(Path(p)) for p in paths}
        summary = ingest(list(paths), target, **kwargs)
        after = {str(p): tree_digest(Path(p)) for p in paths}
        assert before == after, "ingest changed an evidence file"
        result = Ingested(target, summary)
        assert_nothing_lost(result)
        opened.append(result)
        return result

    yield run
    for item in opened:
        item.close()


def assert_nothing_lost(result: Ingested) -> None:
    """records read = records loaded + quarantined, for every load; counts match the tables."""
    for load in result.rows("SELECT * FROM _loads"):
        assert load["records_read"] == load["records_loaded"] + load["quarantined"], load
        stored = result.scalar(
            "SELECT count(*) FROM _load_warnings WHERE load_id = ?", [load["load_id"]]
        )
        assert stored == load["quarantined"]
        events = result.scalar("SELECT count(*) FROM events WHERE load_id = ?", [load["load_id"]])
        assert events == load["event_rows"]


@pytest.fixture(scope="session")
def mixed(tmp_path_factory: pytest.TempPathFactory):
    """(read-only connection, db path, rules path) of the mixed incident database, built once."""
    from mixed_incidents import TEST_RULES, build_mixed

    root = tmp_path_factory.mktemp("mixed")
    db = build_mixed(root)
    rules = root / "rules.toml"
    rules.write_text(TEST_RULES, encoding="utf-8")
    con = connect(db, read_only=True)
    yield con, db, rules
    con.close()
