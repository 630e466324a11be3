"""A folder mixing Jido exports and coding-loops artifacts: each file reaches its own loader."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from conftest import FIXTURES

JIDO = FIXTURES / "jido"
LOOPS = FIXTURES / "coding_loops"
UNRELATED = "Shift handover notes\n\nNothing unusual happened tonight; the pager stayed quiet.\n"


def test_mixed_folder_routing(ingest_into, tmp_path: Path) -> None:
    root = tmp_path / "incident-2026-02-22"
    # Jido exports under names an operator might choose
    jido = root / "jido"
    jido.mkdir(parents=True)
    for source, name in (
        ("incident-c1.json", "timeline_c1.json"),
        ("diagnostics-phase9-p1.json", "diag.json"),
        ("c1-events.json", "conversation-dump.json"),
        ("telemetry.jsonl", "handler-output.log"),
    ):
        shutil.copy(JIDO / source, jido / name)
    # a coding-loops checkout
    loops = root / "coding-loops"
    shutil.copytree(LOOPS / "loop-1-critical-path", loops / "loop-1-critical-path")
    shutil.copytree(LOOPS / "transcripts", loops / "transcripts")
    con = sqlite3.connect(loops / "coordination.db")
    con.executescript((LOOPS / "coordination.sql").read_text())
    con.commit()
    con.close()
    (root / "handover.md").write_text(UNRELATED)

    result = ingest_into(root)
    routed = {
        Path(f.path).relative_to(root.resolve()).as_posix(): f.loader for f in result.summary.files
    }
    transcripts = "coding-loops/loop-1-critical-path/specs/logs/transcripts"
    assert routed == {
        "jido/timeline_c1.json": "jido.incident_timeline",
        "jido/diag.json": "jido.diagnostics",
        "jido/conversation-dump.json": "jido.conversation_events",
        "jido/handler-output.log": "jido.telemetry_jsonl",
        "coding-loops/coordination.db": "coding_loops.coordination_db",
        "coding-loops/loop-1-critical-path/specs/health.json": "coding_loops.health_json",
        "coding-loops/loop-1-critical-path/specs/test-state.json": "coding_loops.test_state",
        f"{transcripts}/global-transcript.log": "coding_loops.transcript",
        f"{transcripts}/CP-UFS-002/attempt-1.log": "coding_loops.transcript",
        "coding-loops/transcripts/exec-9f1b/unified.jsonl": "coding_loops.unified_transcript",
    }
    assert result.summary.unclaimed == [str(root / "handover.md")]
    assert {f.status for f in result.summary.files} == {"loaded"}
    systems = result.rows("SELECT system, count(*) AS n FROM events GROUP BY 1 ORDER BY 1")
    assert [s["system"] for s in systems] == ["coding_loops", "jido"]
    assert result.scalar("SELECT count(*) FROM _load_warnings") == 0
