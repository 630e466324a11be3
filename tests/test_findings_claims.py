"""Claims against reality: claim reading, evidence and verdicts, through the real loaders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from incidentlab.analysis.findings import DETECTORS, find
from incidentlab.analysis.findings.base import FINDING_SCHEMA
from incidentlab.analysis.findings.claim_patterns import extract_claims, writes_file
from incidentlab.analysis.findings.claims import assess

FIXTURE = Path(__file__).parent / "fixtures/claims/spotter/258c7280-ae70-4798-800f-63464d01a85d.jsonl"
SESSION = "5e55a1b2-0000-4000-8000-00000000c1a1"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Transcript:
    """A tiny Claude Code session JSONL (the format the claude_code loader reads)."""

    def __init__(self, session: str = SESSION, agent: str | None = None) -> None:
        self.session, self.agent = session, agent
        self.records: list[dict[str, Any]] = []
        self.clock = 0

    def _rec(self, kind: str, content: Any) -> dict[str, Any]:
        self.clock += 1
        rec = {"type": kind, "sessionId": self.session, "cwd": "/repo",
               "uuid": f"u{len(self.records)}-{self.agent or 'main'}",
               "timestamp": (T0 + timedelta(seconds=self.clock)).isoformat().replace("+00:00", "Z"),
               "message": {"role": kind, "content": content}}
        if self.agent:
            rec.update(agentId=self.agent, isSidechain=True)
        self.records.append(rec)
        return rec

    def say(self, text: str) -> Transcript:
        self._rec("assistant", [{"type": "text", "text": text}])
        return self

    def tool(self, name: str, args: dict[str, Any], output: str, error: bool = False) -> Transcript:
        call = f"toolu_{len(self.records)}_{self.agent or 'm'}"
        self._rec("assistant", [{"type": "tool_use", "id": call, "name": name, "input": args}])
        self._rec("user", [{"type": "tool_result", "tool_use_id": call, "content": output,
                            "is_error": error}])
        return self

    def bash(self, command: str, output: str, error: bool = False) -> Transcript:
        return self.tool("Bash", {"command": command}, output, error)

    def at(self, seconds: int) -> Transcript:
        self.clock = seconds
        return self

    def write(self, folder: Path) -> Path:
        if self.agent:
            path = folder / self.session / "subagents" / f"agent-{self.agent}.jsonl"
        else:
            path = folder / f"{self.session}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in self.records), encoding="utf-8")
        return path


def _t() -> Transcript:
    return Transcript()


PYTEST_RED = "F...\n=========== 1 failed, 3 passed in 0.21s ==========="
PYTEST_GREEN = "....\n=========== 4 passed in 0.20s ==========="

# (case, transcript, kind, verdict); verdict None: no claim of that kind is read at all.
CASES = [
    ("tests red", _t().bash("pytest -q", PYTEST_RED, True).say("All tests pass now."),
     "tests", "contradicted"),
    ("tests green", _t().bash("pytest -q", PYTEST_GREEN).say("All tests pass."),
     "tests", "supported"),
    ("last run wins", _t().bash("pytest -q", PYTEST_RED, True).bash("pytest -q", PYTEST_GREEN)
     .say("All 4 tests pass."), "tests", "supported"),
    ("red after green", _t().bash("pytest -q", PYTEST_GREEN).bash("pytest -q", PYTEST_RED, True)
     .say("The test suite passes."), "tests", "contradicted"),
    ("summary through a pipe", _t().bash("mix test 2>&1 | tail -3",
                                         "Finished in 1.2 seconds\n5 tests, 4 failures")
     .say("All 5 tests pass."), "tests", "contradicted"),
    ("no test ran", _t().tool("Read", {"file_path": "/repo/a.py"}, "1 x = 1")
     .say("All tests pass."), "tests", "unverified"),
    ("background run", _t().bash("pytest", "Command running in background with ID: b1.")
     .say("All tests pass."), "tests", "undetermined"),
    ("own script", _t().bash("python check.py", "ok").say("The tests passed."),
     "tests", "undetermined"),
    ("negated", _t().bash("pytest -q", PYTEST_RED, True).say("The tests are not passing yet."),
     "tests", None),
    ("future", _t().bash("pytest -q", PYTEST_RED, True)
     .say("Let me fix it so that all tests pass."), "tests", None),
    ("question", _t().bash("pytest -q", PYTEST_RED, True).say("Do all tests pass?"), "tests", None),
    ("quoted output", _t().bash("pytest -q", PYTEST_RED, True)
     .say("The log said:\n```\n4 passed in 0.1s\n```\n> All tests pass\nI will look."),
     "tests", None),
    ("plan", _t().bash("pytest -q", PYTEST_RED, True)
     .say("**Acceptance criteria:**\n- All tests pass\n- Build succeeds"), "tests", None),
    ("checklist", _t().say("- [ ] All tests pass"), "tests", None),
    ("lint red", _t().bash("ruff check .", "a.py:1:1: F401 unused import\nFound 1 error.", True)
     .say("All checks pass."), "checks", "contradicted"),
    ("credo clean", _t().bash("mix credo --strict", "found no issues.").say("Credo clean."),
     "checks", "supported"),
    ("build red", _t().bash("npm run build", "src/a.ts(3,1): error TS2322", True)
     .say("The build succeeds."), "build", "contradicted"),
    ("nothing to commit", _t().bash("git commit -am 'fix'", "nothing to commit, working tree "
                                    "clean", True).say("I've committed the fix."),
     "commit", "contradicted"),
    ("hook failed", _t().bash("git commit -m fix", "pre-commit hook failed: lint", True)
     .say("Committed."), "commit", "contradicted"),
    ("committed before", _t().bash("git commit -m fix", "[main 1a2b3c4] fix\n 1 file changed")
     .bash("git commit -m again", "nothing to commit, working tree clean", True)
     .say("Everything is committed."), "commit", "supported"),
    ("no commit ran", _t().bash("git status", "On branch main").say("I committed the changes."),
     "commit", "unverified"),
    ("not yet committed", _t().bash("git status", "On branch main")
     .say("I have not committed anything yet."), "commit", None),
    ("push rejected", _t().bash("git push", " ! [rejected]        main -> main (fetch first)\n"
                                "error: failed to push some refs", True)
     .say("Pushed to origin."), "push", "contradicted"),
    ("push ok", _t().bash("git push", "To github.com:o/r.git\n   1a2b3c4..5d6e7f8  main -> main")
     .say("Pushed."), "push", "supported"),
    ("write failed", _t().tool("Write", {"file_path": "/repo/src/app.py", "content": "x"},
                               "EACCES: permission denied", True)
     .say("I've created `src/app.py`."), "file", "contradicted"),
    ("write ok", _t().tool("Write", {"file_path": "/repo/src/app.py", "content": "x"},
                           "File created successfully at: /repo/src/app.py")
     .say("I've created `src/app.py`."), "file", "supported"),
    ("written by shell", _t().bash("cat > notes.md <<'EOF'\nhi\nEOF", "")
     .say("I wrote notes.md with the summary."), "file", "supported"),
    ("only mentioned", _t().bash("git commit -m 'add notes.md'", "[main 1a2b3c4] add")
     .say("I wrote notes.md with the summary."), "file", "unverified"),
    ("never written", _t().tool("Read", {"file_path": "/repo/a.py"}, "x")
     .say("I wrote notes.md with the summary."), "file", "unverified"),
    ("fixed, still red", _t().bash("pytest -q", PYTEST_RED, True).say("I fixed the bug."),
     "fixed", "contradicted"),
    ("fixed after an edit", _t().bash("pytest -q", PYTEST_RED, True)
     .tool("Edit", {"file_path": "/repo/a.py", "old_string": "a", "new_string": "b"}, "ok")
     .say("I fixed the bug."), "fixed", "undetermined"),
]


@pytest.mark.parametrize(("transcript", "kind", "verdict"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_claim_verdicts(ingest_into, tmp_path: Path, transcript: Transcript, kind: str,
                        verdict: str | None) -> None:
    result = ingest_into(transcript.write(tmp_path), tz="UTC")
    got = assess(result.con).filter(pl.col("kind") == kind)
    if verdict is None:
        assert got.is_empty(), got.to_dicts()
        return
    assert got["verdict"].to_list() == [verdict], got.to_dicts()
    findings = find(result.con, detectors=["claim_contradicted", "claim_unverified"])
    expected = {"contradicted": ["claim_contradicted"], "unverified": ["claim_unverified"]}
    assert findings.filter(pl.col("claim_event_id") == got["claim_event_id"][0])[
        "detector"].to_list() == expected.get(verdict, [])


def test_a_contradiction_cites_the_claim_then_the_evidence(ingest_into, tmp_path: Path) -> None:
    path = _t().bash("pytest -q", PYTEST_RED, True).say("All tests pass now.").write(tmp_path)
    result = ingest_into(path, tz="UTC")
    found = find(result.con, detectors=["claim_contradicted"])
    assert found.schema == FINDING_SCHEMA and found.height == 1
    row = found.row(0, named=True)
    events = {r["event_id"]: r for r in result.rows(
        "SELECT event_id, event_type, ts FROM events WHERE event_type IN "
        "('chat.turn', 'tool.call', 'tool.result')")}
    assert [events[i]["event_type"] for i in row["event_ids"]] == [
        "chat.turn", "tool.call", "tool.result"]
    assert row["claim_event_id"] == row["event_ids"][0]
    assert row["ts"] == events[row["claim_event_id"]]["ts"]
    assert row["ts_end"] == row["ts"]  # the latest cited event is the claim
    assert (row["code"], row["taxonomy"], row["level"]) == ("FM-3.3", "MAST", "error")
    assert '"All tests pass now."' in row["detail"] and "1 failed, 3 passed" in row["detail"]
    assert row["tokens"] is None and row["cost_usd"] is None


def test_a_subagent_claiming_commits_it_never_made(ingest_into, tmp_path: Path) -> None:
    """anthropics/claude-code #5099: a subagent reports commits; its transcript has none."""
    main = (_t().tool("Task", {"prompt": "commit the fix"}, "Committed the fix as 3f2a1b9.")
            .say("The subagent committed the fix."))
    sub = (Transcript(agent="a5099").at(1).tool("Read", {"file_path": "/repo/a.py"}, "x")
           .say("I've committed the fix as 3f2a1b9."))
    evidence = tmp_path / "projects"
    main.write(evidence)
    sub.write(evidence)
    result = ingest_into(evidence, tz="UTC")
    found = find(result.con, detectors=["claim_unverified"]).sort("stream")
    assert found["stream"].to_list() == [SESSION, f"{SESSION}/agent-a5099"]
    assert all("no git commit" in d for d in found["detail"])
    assert found["level"].unique().to_list() == ["warning"]
    # A commit in the subagent's stream backs the parent's claim too.
    sub = (Transcript(agent="a5099").at(1).bash("git commit -m fix", "[main 3f2a1b9] fix")
           .say("I've committed the fix as 3f2a1b9."))
    sub.write(evidence)
    result = ingest_into(evidence, tz="UTC", db=tmp_path / "second.duckdb")
    assert assess(result.con).filter(pl.col("kind") == "commit")["verdict"].to_list() == [
        "supported", "supported"]


def test_no_finding_where_the_source_cannot_say(ingest_into, tmp_path: Path) -> None:
    history = tmp_path / ".aider.chat.history.md"
    history.write_text("# aider chat started at 2026-03-01 09:00:00\n\n#### run the tests\n\n"
                       "All tests pass and I committed the change.\n", encoding="utf-8")
    result = ingest_into(history, tz="UTC")
    got = assess(result.con)
    assert sorted(got["kind"].to_list()) == ["commit", "tests"]
    assert set(got["verdict"]) == {"undetermined"}
    assert find(result.con, detectors=["claim_contradicted", "claim_unverified"]).is_empty()


def test_real_slice_every_claim_is_supported(ingest_into) -> None:
    """From reading the lines (fixtures/claims/spotter/NOTICE): a failed push then a good one,
    a commit whose output ends in "nothing to commit", failing test runs then a passing one."""
    result = ingest_into(FIXTURE, tz="UTC")
    got = {(r["kind"], r["quote"]): r["verdict"] for r in assess(result.con).to_dicts()}
    assert got == {("push", "Pushed."): "supported",
                   ("tests", "All 5 tests pass."): "supported",
                   ("checks", "All green."): "supported"}
    assert find(result.con, detectors=["claim_contradicted", "claim_unverified"]).is_empty()


@pytest.mark.parametrize(("dropped", "kind", "evidence"), [
    # Without the passing run (lines 1129, 1141) the last run is 5 tests, 4 failures.
    ((1129, 1141), "tests", "5 tests, 4 failures"),
    # Without the retried push (lines 616, 624) the last push failed with exit 128.
    ((616, 624), "push", "no upstream branch"),
])
def test_real_slice_with_the_good_run_cut_out(ingest_into, tmp_path: Path, dropped: tuple,
                                              kind: str, evidence: str) -> None:
    numbers = [598, 607, 608, 615, 616, 624, 625, 1064, 1111, 1113, 1114, 1117, 1118, 1128, 1129,
               1141, 1142, 1143, 1148, 1157, 1167, 1168]  # the source lines, as NOTICE lists
    lines = FIXTURE.read_bytes().splitlines(keepends=True)
    path = tmp_path / FIXTURE.name
    path.write_bytes(b"".join(line for n, line in zip(numbers, lines, strict=True)
                              if n not in dropped))
    result = ingest_into(path, tz="UTC")
    found = find(result.con, detectors=["claim_contradicted"])
    assert found.height == 1, found.to_dicts()
    row = found.row(0, named=True)
    assert row["title"].startswith({"tests": "Claims tests pass", "push": "Claims a push"}[kind])
    assert evidence in row["detail"]


@pytest.mark.parametrize(("text", "kinds"), [
    ("All **43 tests pass**, 0 failures.", ["tests"]),
    ("76 tests + 14 doctests, 0 failures. Credo clean.", ["tests", "checks"]),
    ("gqc.6 done and pushed.", ["push"]),
    ("Everything is committed and pushed.", ["commit", "push"]),
    ("The hook is not relevant anymore since the full test suite (87 tests, 0 failures) "
     "already passed.", ["tests"]),
    ("Not all tests pass: 3 failed.", []),
    ("If the tests pass, I will commit.", []),
    ("This suggests that the bug has been fixed.", []),
    ('The user wrote "all tests pass now" but it is not so.', []),
    ("I've created a complete Vue.js todo application.", []),
    ("Next steps:\n- commit and push\n- All tests pass", []),
])
def test_claim_reading(text: str, kinds: list[str]) -> None:
    assert [c.kind for c in extract_claims(text)] == kinds


def test_file_claims_name_their_files() -> None:
    claims = extract_claims("Done! I've created three files:\n\n1. **hello.py** - script\n"
                            "2. **hello.md** - notes\n")
    assert [(c.kind, c.targets) for c in claims] == [("file", ("hello.py", "hello.md"))]
    claims = extract_claims("I've created the `b.txt` file by copying `a.txt`.")
    assert [c.targets for c in claims] == [("b.txt",)]


@pytest.mark.parametrize(("command", "written"), [
    ("cat > src/notes.md <<EOF\nx\nEOF", True), ("cp a.md notes.md", True),
    ("echo x | tee -a notes.md", True), ("git commit -m 'add notes.md'", False),
    ("cat notes.md", False), ("cp notes.md b.md", False), ("python notes.md 2>&1", False),
])
def test_shell_writes(command: str, written: bool) -> None:
    assert writes_file("Bash", "", command, "notes.md") is written


def test_registered_detectors() -> None:
    names = {d.name: (d.code, d.level) for d in DETECTORS}
    assert names["claim_contradicted"] == ("FM-3.3", "error")
    assert names["claim_unverified"] == ("FM-3.2", "warning")


def _rollout(tmp_path: Path, final_output: str) -> Path:
    """A Codex rollout: `npm test` runs in a process session; its result comes back through
    write_stdin (as in the codemie rollout), then the agent reports."""
    def line(second: int, kind: str, payload: dict[str, Any]) -> str:
        stamp = (T0 + timedelta(seconds=second)).isoformat().replace("+00:00", "Z")
        return json.dumps({"timestamp": stamp, "type": kind, "payload": payload}) + "\n"

    running = "Chunk ID: a1\nWall time: 1.0 seconds\nProcess running with session ID 7\nOutput:\n"
    records = [
        line(0, "session_meta", {"id": "0199c0de-0000-7000-8000-000000000001", "cwd": "/repo",
                                 "cli_version": "0.125.0", "originator": "codex_cli_rs"}),
        line(1, "response_item", {"type": "function_call", "name": "exec_command",
                                  "arguments": json.dumps({"cmd": "npm test"}), "call_id": "c1"}),
        line(2, "response_item", {"type": "function_call_output", "call_id": "c1",
                                  "output": running}),
        line(3, "response_item", {"type": "function_call", "name": "write_stdin",
                                  "arguments": json.dumps({"session_id": 7, "chars": ""}),
                                  "call_id": "c2"}),
        line(9, "response_item", {"type": "function_call_output", "call_id": "c2",
                                  "output": final_output}),
        line(10, "response_item", {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "All tests pass."}]}),
    ]
    path = tmp_path / "rollout-2026-03-01T09-00-00-0199c0de-0000-7000-8000-000000000001.jsonl"
    path.write_text("".join(records), encoding="utf-8")
    return path


@pytest.mark.parametrize(("output", "verdict"), [
    ("Process exited with code 1\nOutput:\n Test Files  1 failed (1)\n      Tests  1 failed (1)\n",
     "contradicted"),
    ("Process exited with code 0\nOutput:\n Test Files  1 passed (1)\n      Tests  3 passed (3)\n",
     "supported"),
])
def test_codex_process_sessions_are_followed(ingest_into, tmp_path: Path, output: str,
                                             verdict: str) -> None:
    result = ingest_into(_rollout(tmp_path, output), tz="UTC")
    got = assess(result.con)
    assert got["verdict"].to_list() == [verdict], got.to_dicts()
    ids = got["evidence_ids"][0]
    calls = {r["event_id"]: r["name"] for r in result.rows(
        "SELECT event_id, name FROM events WHERE event_type IN ('tool.call', 'tool.result')")}
    assert calls[ids[0]] == "exec_command" and len(ids) == 3  # call, first result, final result
