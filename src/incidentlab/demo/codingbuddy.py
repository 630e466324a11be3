"""Demo artifacts of CodingBuddy: interleaved sessions, a rate-limit storm, a doom loop, a patch conflict."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..timeparse import parse_ts
from .story import SECRETS, STORM_START, T0, Story, minutes, rfc3339

DIGITS = (0, 3, 6, 9)  # chrono writes 0, 3, 6 or 9 fractional digits


class SessionWriter:
    """Builds one session's envelopes with a per-session seq_no, as Store::append_event does."""

    def __init__(self, story: Story, started: datetime) -> None:
        self.story = story
        self.id = story.uuid7(started)
        self.at = started
        self.seq = 0
        self.envelopes: list[dict[str, Any]] = []
        self.state = "Idle"

    def emit(self, kind: str, payload: dict[str, Any], *, after: float = 2.0) -> dict[str, Any]:
        previous = self.at
        self.at += timedelta(seconds=after)
        self.seq += 1
        digits = DIGITS[self.story.rng.randrange(4)]
        if digits < 6:
            # chrono prints fewer digits only when the rest are zero: make the instant match, and
            # never let that step back before the previous event of the session.
            unit = 10 ** (6 - digits)
            rounded = self.at.replace(microsecond=self.at.microsecond // unit * unit)
            if rounded > previous:
                self.at = rounded
            else:
                digits = 6
        envelope = {"seq_no": self.seq, "at": rfc3339(self.at, digits), "session_id": self.id,
                    "kind": {"type": kind, "payload": payload}}
        self.envelopes.append(envelope)
        return envelope

    def to(self, state: str) -> None:
        self.emit("SessionStateChanged", {"from": self.state, "to": state}, after=0.5)
        self.state = state

    def tool(self, name: str, args: dict[str, Any], *, success: bool = True,
             result: bool = True, output: Any = None) -> str:
        invocation = self.story.uuid()
        self.emit("ToolProposed", {"proposal": {"invocation_id": invocation, "call": {
            "name": name, "args": args, "requires_approval": True}, "approved": True}})
        if result:
            self.emit("ToolResult", {"result": {"invocation_id": invocation, "success": success,
                                                "output": output or {"stdout": "ok"}}}, after=3.0)
        return invocation

    def usage(self) -> None:
        rng = self.story.rng
        self.emit("UsageUpdated", {"unit": {"Model": "deepseek-chat"}, "model": "deepseek-chat",
                                   "input_tokens": rng.randrange(2000, 9000),
                                   "cache_hit_tokens": 1024, "cache_miss_tokens": 512,
                                   "output_tokens": rng.randrange(100, 900)}, after=0.2)


def _normal_session(story: Story, started: datetime) -> SessionWriter:
    session = SessionWriter(story, started)
    session.emit("SessionStarted", {"session_id": session.id, "workspace": "/home/dev/app"})
    session.emit("ChatTurn", {"message": {"role": "user", "content": "tidy up the config loader"}})
    session.to("Planning")
    session.to("ExecutingStep")
    for step in range(3):
        session.tool("fs.read", {"path": f"src/config_{step}.rs"})
        session.usage()
    session.to("Verifying")
    session.emit("VerificationRun", {"command": "cargo test", "success": True, "output": "ok"})
    session.to("Completed")
    return session


def _incident_sessions(story: Story) -> tuple[SessionWriter, SessionWriter]:
    """A: doom loop + approved call left without a result. B: a denied call, interleaved with A."""
    a = SessionWriter(story, STORM_START + minutes(8))
    b = SessionWriter(story, STORM_START + minutes(9))
    a.emit("SessionStarted", {"session_id": a.id, "workspace": "/home/dev/app"})
    b.emit("SessionStarted", {"session_id": b.id, "workspace": "/home/dev/app"})
    a.emit("ChatTurn", {"message": {"role": "user", "content": "the build is red, fix it"}})
    b.emit("ChatTurn", {"message": {"role": "user", "content": "clean the tmp folder"}})
    a.to("Planning")
    a.to("ExecutingStep")
    b.to("Planning")
    b.to("ExecutingStep")
    for _ in range(4):  # the same call, failing, four times: a doom loop
        a.tool("bash.run", {"cmd": "cargo test -p core"}, success=False,
               output={"error": "provider returned 429 Too Many Requests"})
    a.emit("DoomLoopDetected", {"tool_name": "bash.run", "repeat_count": 4})
    a.emit("CircuitBreakerTripped", {"tool_name": "bash.run", "consecutive_failures": 4,
                                     "cooldown_turns": 3})
    b.emit("ToolDenied", {"invocation_id": story.uuid(), "tool_name": "bash.run",
                          "reason": "command contains shell metacharacters (`&&`)"})
    orphan_wait = a.tool("bash.run", {"cmd": "cargo build --release"}, result=False)
    a.emit("ToolApproved", {"invocation_id": orphan_wait})
    a.emit("ChatTurn", {"message": {"role": "assistant", "content": (
        f"Retrying with the fallback key {SECRETS['openai_key']} "
        f"and {story.manifest['xss_payload']}")}})
    a.to("Failed")
    b.to("Verifying")
    b.to("Completed")
    position = next(i for i, e in enumerate(a.envelopes, 1)
                    if e["kind"]["type"] == "ToolProposed"
                    and e["kind"]["payload"]["proposal"]["invocation_id"] == orphan_wait)
    story.violation("codingbuddy", a.id, "tool_result_missing", invocation_id=orphan_wait,
                    seq=position)
    for mode in ("doom_loop", "llm_outage_rate_limit", "session_failures", "tool_denied"):
        story.failure_mode("codingbuddy", f"codingbuddy.{mode}")
    for rule in ("doom_loop", "circuit_breaker", "doom_loop_detected", "circuit_breaker_tripped"):
        story.alert(f"codingbuddy.{rule}", a.id, STORM_START + minutes(8), "warn")
    return a, b


def _interleave(sessions: list[SessionWriter]) -> list[dict[str, Any]]:
    """One file for all sessions, lines in append (time) order, as the store writes them."""
    merged = [e for s in sessions for e in s.envelopes]
    merged.sort(key=lambda e: parse_ts(e["at"])[0])
    return merged


def write(story: Story, root: Path) -> None:
    runtime = root / "app" / ".codingbuddy"
    (runtime / "patches").mkdir(parents=True, exist_ok=True)
    (runtime / "snapshots").mkdir(exist_ok=True)
    sessions = [_normal_session(story, T0 + minutes(25 * i + story.rng.uniform(0, 5)))
                for i in range(6 * story.scale)]
    sessions.extend(_incident_sessions(story))
    envelopes = _interleave(sessions)
    lines = [json.dumps(e, separators=(",", ":")) for e in envelopes]
    corrupt_at = len(lines) // 2
    lines.insert(corrupt_at, lines[corrupt_at][: len(lines[corrupt_at]) // 2])  # torn write
    (runtime / "events.jsonl").write_text("\n".join(lines) + "\n")
    story.quarantine(".codingbuddy/events.jsonl", corrupt_at + 1, "torn write (half a line)")
    story.count("codingbuddy.events_jsonl", len(envelopes))
    _write_store(runtime / "store.sqlite", envelopes)
    story.count("codingbuddy.store_sqlite", len(envelopes))
    _write_observe(story, runtime / "observe.log")
    _write_patch(story, runtime / "patches")
    _write_snapshot(story, runtime / "snapshots")


def _write_store(path: Path, envelopes: list[dict[str, Any]]) -> None:
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, applied_at TEXT);"
        "CREATE TABLE events(id INTEGER PRIMARY KEY, session_id TEXT, seq_no INTEGER, at TEXT,"
        " kind TEXT, payload TEXT);"
        "CREATE TABLE usage_ledger(id INTEGER PRIMARY KEY, session_id TEXT, unit TEXT, model TEXT,"
        " input_tokens INTEGER, output_tokens INTEGER, recorded_at TEXT, cache_hit_tokens INTEGER,"
        " cache_miss_tokens INTEGER);"
    )
    con.execute("INSERT INTO schema_migrations VALUES (9, '2026-02-26T00:00:00+00:00')")
    for env in envelopes:
        at = env["at"].replace("Z", "+00:00")
        con.execute("INSERT INTO events(session_id, seq_no, at, kind, payload) VALUES (?,?,?,?,?)",
                    [env["session_id"], env["seq_no"], at, env["kind"]["type"] + "@v1",
                     json.dumps(env["kind"])])
        if env["kind"]["type"] == "UsageUpdated":
            p = env["kind"]["payload"]
            con.execute(
                "INSERT INTO usage_ledger(session_id, unit, model, input_tokens, output_tokens,"
                " recorded_at, cache_hit_tokens, cache_miss_tokens) VALUES (?,?,?,?,?,?,?,?)",
                [env["session_id"], json.dumps(p["unit"]), p["model"], p["input_tokens"],
                 p["output_tokens"], at, p["cache_hit_tokens"], p["cache_miss_tokens"]])
    con.commit()
    con.close()


def _write_observe(story: Story, path: Path) -> None:
    lines: list[tuple[datetime, str]] = []
    at = STORM_START
    while at < STORM_START + minutes(55):  # the storm: a 429 every ~40 s
        text = story.rng.choice([
            "llm request failed: HTTP 429 Too Many Requests, retrying with backoff",
            "provider deepseek: rate limit exceeded, backing off"])
        lines.append((at, f"WARN {text}"))
        at += timedelta(seconds=story.rng.uniform(30, 50))
    lines.append((STORM_START + minutes(3), "TELEMETRY_ERROR error=operation timed out"))
    lines.append((STORM_START + minutes(4), f"WARN retrying with llm.api_key={SECRETS['openai_key']}"))
    lines.append((STORM_START + minutes(6), "WARN tool-host rebuild failed: git fetch "
                  f"https://{SECRETS['github_token']}@github.com/acme/app.git: 429"))
    lines.sort()
    path.write_text("".join(f"{rfc3339(t, 6, zulu=False)} {text}\n" for t, text in lines))
    story.count("codingbuddy.observe_log", len(lines))
    story.alert("codingbuddy.rate_limits", "app", STORM_START, "warn")
    story.alert("codingbuddy.rate_limits", "app", STORM_START, "page")


def _write_patch(story: Story, folder: Path) -> None:
    created = STORM_START + minutes(20)
    patch_id = story.uuid7(created)
    base, actual = "9f2c" + "0" * 58 + "e1", "41aa" + "0" * 58 + "07"
    diff = "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -10 +10 @@\n-old\n+new\n"
    (folder / f"{patch_id}.json").write_text(json.dumps({
        "patch_id": patch_id, "base_sha256": base, "unified_diff": diff,
        "created_at": rfc3339(created, 6, zulu=False), "applied": False,
        "conflicts": [f"base-sha mismatch: expected={base} actual={actual}",
                      "error: patch failed: src/lib.rs:10"],
        "target_files": ["src/lib.rs"], "apply_attempts": 2, "last_base_sha256": actual,
        "last_base_sha_match": False, "last_error": "error: patch failed: src/lib.rs:10\n",
    }, indent=2))
    (folder / f"{patch_id}.diff").write_text(diff)
    applied_at = (created + minutes(3)).timestamp()  # the last apply attempt rewrote the file
    os.utime(folder / f"{patch_id}.json", (applied_at, applied_at))
    story.count("codingbuddy.patch", 2)
    story.alert("codingbuddy.patch_conflict", patch_id, created, "warn")
    story.failure_mode("codingbuddy", "codingbuddy.patch_conflict")


def _write_snapshot(story: Story, folder: Path) -> None:
    at = STORM_START + minutes(12)
    snapshot_id = story.uuid7(at)
    (folder / f"{snapshot_id}.json").write_text(json.dumps({
        "id": snapshot_id, "tool_name": "fs.edit", "tool_call_id": "call_demo_0001",
        "timestamp": rfc3339(at, 6, zulu=False),
        "before": [{"path": "src/lib.rs", "content_hash": "aa" * 32, "preview": "fn a() {}",
                    "exists": True}],
        "after": [{"path": "src/lib.rs", "content_hash": "bb" * 32, "preview": "fn b() {}",
                   "exists": True}],
    }))
    story.count("codingbuddy.snapshot", 1)
