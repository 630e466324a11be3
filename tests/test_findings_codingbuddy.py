"""CodingBuddy's tool calls as findings read them: ToolProposed envelopes, their `call.args`,
and each ToolResult's payload output (its message says only success=true|false)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incidentlab.analysis.findings import find
from incidentlab.ingest import ingest
from incidentlab.store import connect

SESSION = "0195b000-0000-7000-8000-000000000001"


def _lines(calls: list[tuple[dict, bool, str]]) -> list[str]:
    """A session of successive (args, success, output) tool calls of fs.read."""
    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    records = [{"type": "SessionStarted", "payload": {"session_id": SESSION, "workspace": "/w/a"}}]
    for i, (args, success, output) in enumerate(calls):
        inv = f"0195b000-0000-7000-9000-00000000000{i}"
        call = {"name": "fs.read", "args": args, "requires_approval": False}
        records.append({"type": "ToolProposed",
                        "payload": {"proposal": {"invocation_id": inv, "call": call, "approved": True}}})
        records.append({"type": "ToolResult", "payload": {"result": {
            "invocation_id": inv, "success": success, "output": {"stdout": output}}}})
    return [json.dumps({"seq_no": n + 1, "at": (t0 + timedelta(seconds=5 * n)).isoformat()
                        .replace("+00:00", "Z"), "session_id": SESSION, "kind": kind})
            for n, kind in enumerate(records)]


def _findings(tmp_path: Path, calls: list[tuple[dict, bool, str]]) -> list[dict]:
    evidence = tmp_path / "app" / ".codingbuddy" / "events.jsonl"
    evidence.parent.mkdir(parents=True)
    evidence.write_text("\n".join(_lines(calls)) + "\n", encoding="utf-8")
    db = tmp_path / "x.duckdb"
    assert ingest([evidence], db).ok
    con = connect(db, read_only=True)
    try:
        return find(con, detectors="step_repetition").to_dicts()
    finally:
        con.close()


A, B, C = {"path": "src/a.rs"}, {"path": "src/b.rs"}, {"path": "src/c.rs"}


@pytest.mark.parametrize(("calls", "loops"), [
    ([(A, True, "fn a()")] * 3, 1),                                      # same call, same output
    ([(A, True, "v1"), (A, True, "v2"), (A, True, "v3")], 0),            # the file changed each time
    ([(A, True, "x"), (B, True, "x"), (C, True, "x")], 0),              # three different files
    ([(A, False, "denied")] * 3, 1),                                     # the same call failing
])
def test_repetition_reads_arguments_and_outputs(tmp_path: Path, calls, loops: int) -> None:
    found = _findings(tmp_path, calls)
    assert len(found) == loops, found
    if loops:
        [row] = found
        assert row["system"] == "codingbuddy" and "repeated 3 times" in row["title"]
        assert len(row["event_ids"]) == 6  # the three proposals and their results
