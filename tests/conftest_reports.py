"""Session fixture for report tests: a small incident database (the demo once `incidentlab demo` exists)."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incidentlab.ingest import ingest

SECRET = "sk-TESTSECRET0123456789abcdefXYZ"
SCRIPT_PAYLOAD = "<script>alert('pwned')</script><img src=x onerror=alert(2)>"

_S1 = "0195a000-0000-7000-8000-000000000001"
_S2 = "0195a000-0000-7000-8000-000000000002"


def _kind(kind_type: str, **payload: object) -> dict:
    return {"type": kind_type, "payload": payload}


def incident_lines() -> list[str]:
    """Two interleaved sessions: a tool that keeps failing, a denial, a sequence gap, a bad line."""
    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    records: list[tuple[str, int, int, dict]] = [
        (_S1, 1, 0, _kind("SessionStarted", session_id=_S1, workspace="/w/app")),
        (_S1, 2, 5, _kind("TurnAdded", role="user", content="deploy the fix, token " + SECRET)),
        (_S2, 1, 20, _kind("SessionStarted", session_id=_S2, workspace="/w/app")),
        (_S1, 3, 60, _kind("TurnAdded", role="assistant", content="transcript " + SCRIPT_PAYLOAD)),
    ]
    second = 90
    for i in range(6):
        inv = f"0195a000-0000-7000-9000-00000000010{i}"
        call = {"name": "bash", "args": {"cmd": "make test"}, "requires_approval": False}
        records.append((_S1, 4 + 2 * i, second, _kind(
            "ToolProposed", proposal={"invocation_id": inv, "call": call, "approved": True})))
        records.append((_S1, 5 + 2 * i, second + 30, _kind(
            "ToolResult", result={"invocation_id": inv, "success": False, "output": "exit 2"})))
        second += 120
    records += [
        (_S2, 2, 400, _kind("ToolDenied", invocation_id="x1", tool_name="bash", reason="policy")),
        (_S2, 5, 500, _kind("TurnAdded", role="user", content="why did it stop?")),  # gap 2 -> 5
        (_S1, 16, second, _kind("SessionStateChanged", **{"from": "Running", "to": "Failed"})),
        (_S1, 17, second + 600, _kind("SessionStateChanged", **{"from": "Failed", "to": "Idle"})),
    ]
    lines = [
        json.dumps({"seq_no": seq, "at": (t0 + timedelta(seconds=sec)).isoformat().replace(
            "+00:00", "Z"), "session_id": sid, "kind": kind})
        for sid, seq, sec, kind in records
    ]
    lines.insert(7, '{"seq_no": 99, "at": "not a time", "session_id": "broken", "kind": {}}')
    return lines


def build_incident_db(root: Path) -> Path:
    """Write `.codingbuddy/events.jsonl` under root and ingest it into root/demo-out/demo.duckdb."""
    evidence = root / "evidence" / "app" / ".codingbuddy" / "events.jsonl"
    evidence.parent.mkdir(parents=True, exist_ok=True)
    evidence.write_text("\n".join(incident_lines()) + "\n", encoding="utf-8")
    db = root / "demo-out" / "demo.duckdb"
    summary = ingest([evidence], db)
    assert summary.ok, summary.to_dict()
    return db


def demo_available() -> bool:
    try:
        return importlib.util.find_spec("incidentlab.demo.run") is not None
    except ImportError:
        return False


@pytest.fixture(scope="session")
def incident_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database at <root>/demo-out/demo.duckdb, so notebooks' default path resolves from <root>."""
    root = tmp_path_factory.mktemp("incident")
    return build_incident_db(root)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `incidentlab demo` database (at <root>/demo-out/demo.duckdb), or the small one before
    the demo generator existed."""
    root = tmp_path_factory.mktemp("demo")
    if not demo_available():
        return build_incident_db(root)
    from incidentlab.demo.run import run_demo

    return run_demo(root / "demo-out", render=False).db


@pytest.fixture(scope="session")
def rendered_postmortem(incident_db: Path, tmp_path_factory: pytest.TempPathFactory):
    """The postmortem rendered once for the session (Europe/Berlin, a secret in the title)."""
    from incidentlab.reports.render import render_report

    out = tmp_path_factory.mktemp("postmortem")
    params = {"title": f"Tool loop, key {SECRET}", "display_tz": "Europe/Berlin",
              "incident_id": "inc-test"}
    return render_report(incident_db, out, params)
