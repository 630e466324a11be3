"""claude-flow `.hive-mind/hive.db` (SQLite, usually with most rows still in its WAL) and `memory.db`.

Each row of the hive's tables is one record (record_no = its rowid, numbered per table): swarms
created, agents spawned, tasks created and completed, collective memory written, consensus
decisions, sessions (created, paused, resumed), checkpoints and session log lines; memory.db's
`memories`. Times are SQLite's CURRENT_TIMESTAMP text (UTC without a zone: assumed_utc) or epoch
seconds / milliseconds; a row without a usable time keeps ts NULL, never a time made up for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult
from ..generic.values import severity
from ..reading.sqlite import integrity, is_sqlite, read_table, sqlite_snapshot, table_names
from ..reading.text import escaped
from ..transcripts.common import Collector, clip

MARKERS = (b"collective_memory", b"queen_type", b"session_checkpoints", b"consensus_decisions")
# memory.db's one table, as claude-flow creates it
MEMORIES = (b"CREATE TABLE memories", b"namespace TEXT NOT NULL")
_DONE = {"completed": "ok", "done": "ok", "failed": "error", "cancelled": "skipped"}


def _cell(value: Any) -> Any:
    """BLOB cells as text, as TEXT cells are read (attrs is JSON): invalid bytes as \\xNN."""
    return escaped(value) if isinstance(value, bytes) else value


def _text(*parts: Any) -> str:
    return " ".join(str(p) for p in parts if p not in (None, ""))


@dataclass(frozen=True)
class Moment:
    """One event a row gives: its time column, type, and the rest of its fields."""

    column: str
    event_type: str
    fields: Callable[[dict[str, Any]], dict[str, Any]]


def _swarm(r: dict[str, Any]) -> dict[str, Any]:
    return {"stream": r.get("id"), "name": r.get("name"), "actor": r.get("queen_type"),
            "event_type_raw": f"swarm {r.get('status')}",
            "message": clip(_text(f"swarm {r.get('name')} ({r.get('status')}):", r.get("objective")))}


def _agent(r: dict[str, Any]) -> dict[str, Any]:
    return {"stream": r.get("swarm_id"), "name": r.get("name"), "actor": r.get("type"),
            "correlation_id": r.get("id"), "event_type_raw": f"{r.get('role')} {r.get('status')}",
            "message": clip(_text(r.get("role"), r.get("type"), r.get("name"), f"({r.get('status')})"))}


def _task(r: dict[str, Any]) -> dict[str, Any]:
    return {"stream": r.get("swarm_id"), "actor": r.get("agent_id"), "correlation_id": r.get("id"),
            "event_type_raw": r.get("status"), "message": clip(r.get("description"))}


def _task_done(r: dict[str, Any]) -> dict[str, Any]:
    status = r.get("status")
    outcome = _DONE.get(status) if isinstance(status, str) else None
    return {**_task(r), "outcome": outcome, "severity": "warning" if outcome == "error" else "info",
            "message": clip(_text(status, r.get("result")))}


def _memory(r: dict[str, Any]) -> dict[str, Any]:
    return {"stream": r.get("swarm_id"), "name": r.get("key"), "actor": r.get("created_by"),
            "event_type_raw": r.get("type"),
            "message": clip(_text(f"{r.get('key')} ({r.get('type')}):", _cell(r.get("value"))))}


def _memories(r: dict[str, Any]) -> dict[str, Any]:
    return {"stream": r.get("namespace"), "name": r.get("key"), "event_type_raw": r.get("type"),
            "message": clip(_text(f"{r.get('key')} ({r.get('type')}):", _cell(r.get("value"))))}


def _consensus(r: dict[str, Any]) -> dict[str, Any]:
    return {"stream": r.get("swarm_id"), "name": r.get("topic"),
            "event_type_raw": r.get("algorithm"), "message": clip(_text(r.get("topic"), "->",
                                                                       r.get("decision")))}


def _session(state: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def fields(r: dict[str, Any]) -> dict[str, Any]:
        return {"stream": r.get("id"), "name": r.get("swarm_name"), "correlation_id": r.get("swarm_id"),
                "event_type_raw": f"session {state}",
                "message": clip(_text(f"session {state} ({r.get('status')}):", r.get("objective")))}
    return fields


def _checkpoint(r: dict[str, Any]) -> dict[str, Any]:
    return {"stream": r.get("session_id"), "name": r.get("checkpoint_name"),
            "event_type_raw": "checkpoint", "message": clip(_text("checkpoint", r.get("checkpoint_name")))}


def _log(r: dict[str, Any]) -> dict[str, Any]:
    level = r.get("log_level")
    return {"stream": r.get("session_id"), "actor": r.get("agent_id"), "event_type_raw": level,
            "severity": severity(level) or "info", "message": clip(r.get("message"))}


# table -> the events each of its rows gives (the first is the row's own; later ones only when
# their time column holds a value)
TABLES: dict[str, tuple[Moment, ...]] = {
    "swarms": (Moment("created_at", "swarm.created", _swarm),),
    "agents": (Moment("created_at", "agent.spawned", _agent),),
    "tasks": (Moment("created_at", "task.created", _task),
              Moment("completed_at", "task.completed", _task_done)),
    "collective_memory": (Moment("created_at", "knowledge.recorded", _memory),),
    "consensus_decisions": (Moment("created_at", "agent.decision", _consensus),),
    "sessions": (Moment("created_at", "session.start", _session("created")),
                 Moment("paused_at", "session.state", _session("paused")),
                 Moment("resumed_at", "session.resume", _session("resumed"))),
    "session_checkpoints": (Moment("created_at", "checkpoint.created", _checkpoint),),
    "session_logs": (Moment("timestamp", "log", _log),),
    "memories": (Moment("timestamp", "knowledge.recorded", _memories),),
}


class HiveDbLoader:
    name: ClassVar[str] = "claude_flow.hive_db"
    system: ClassVar[str] = "claude_flow"
    source: ClassVar[str] = "hive_db"
    version: ClassVar[str] = "1"
    positions: ClassVar[str] = "grouped"  # rows numbered per table, not one file order
    description: ClassVar[str] = ("claude-flow hive-mind hive.db (swarms, agents, tasks, memory, "
                                  "sessions, session logs; WAL read) and memory.db")

    def detect(self, path: Path, head: bytes) -> bool:
        return is_sqlite(head) and ((path.name == "hive.db" and b"swarms" in head)
                                    or sum(m in head for m in MARKERS) >= 2
                                    or all(m in head for m in MEMORIES))

    def load(self, ctx: LoadContext) -> LoadResult:
        col = Collector(ctx)
        with sqlite_snapshot(ctx.path) as con:
            names = table_names(con)
            col.facts["sqlite_integrity"] = integrity(con)
            reads = {table: read_table(con, table) for table in TABLES if table in names}
        col.facts["tables"] = {table: len(read.rows) for table, read in reads.items()}
        col.facts["tables_not_read"] = sorted(
            n for n in names - set(TABLES) if not n.startswith("sqlite_"))
        col.facts["sqlite_unreadable"] = [p for read in reads.values() for p in read.problems]
        for table, read in reads.items():
            for index, row in enumerate(read.rows, start=1):
                col.records_read += 1
                number = row.get("_rowid") or index
                with col.record(number, row):
                    self._row(col, table, number, row)
        return col.result()

    @staticmethod
    def _row(col: Collector, table: str, number: int, row: dict[str, Any]) -> None:
        attrs = {"table": table, **{k: _cell(v) for k, v in row.items() if k != "_rowid"}}
        for index, moment in enumerate(TABLES[table]):
            raw = row.get(moment.column)
            if index and raw in (None, ""):
                continue
            ts, quality = col.ctx.parse_ts(raw, naive="utc")
            col.event(number, moment.event_type, event_key=f"{table}:{moment.column}",
                      position=number, ts=ts, ts_raw=None if raw is None else str(raw),
                      ts_quality=quality if ts is not None else "missing",
                      **moment.fields(row), attrs=attrs)
