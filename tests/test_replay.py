"""Replay integrity: every rule fires, stays quiet and is probed at its boundary; mutation properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentlab.analysis.replay import check, codingbuddy_validation

from analysis_helpers import at, insert, make_db, seq_stream


def rows_of(con) -> Any:
    return check(con)


def cb(event_type: str, seq: int, **kw: Any) -> dict[str, Any]:
    return {"system": "codingbuddy", "source": "events_jsonl", "stream": "sess", "seq": seq,
            "position": seq, "record_no": seq, "ts": at(seconds=seq), "event_type": event_type,
            **kw}


def proposed(seq: int, inv: str, approved: bool = True) -> dict[str, Any]:
    return cb("tool.proposed", seq, correlation_id=inv,
              attrs={"kind": {"type": "ToolProposed",
                              "payload": {"proposal": {"invocation_id": inv, "approved": approved}}}})


def state(seq: int, frm: str, to: str) -> dict[str, Any]:
    return cb("session.state", seq,
              attrs={"kind": {"type": "SessionStateChanged", "payload": {"from": frm, "to": to}}})


def stage(pos: int, name: str, message: str = "", source: str = "run_json",
          previous: str | None = None, ts: str | None = None) -> dict[str, Any]:
    meta = {"previous_stage": previous} if previous else {}
    return {"system": "curriculum_builder", "source": source, "stream": "run-1", "position": pos,
            "record_no": pos, "event_type": "stage.transition", "name": name, "message": message,
            "ts": at(minutes=pos), "ts_raw": ts or f"2026-03-01T09:0{pos}:00Z",
            "attrs": {"stage": name, "message": message, "metadata": meta}}


def tapps(event_type: str, pos: int, name: str | None = None, **kw: Any) -> dict[str, Any]:
    return {"system": "tapps", "source": "workflow_events", "stream": "wf", "seq": pos,
            "position": pos, "record_no": pos, "ts": at(seconds=pos), "event_type": event_type,
            "name": name, **kw}


def transcript(event_type: str, position: int, call_id: str, system: str = "claude_code") -> dict:
    return {"system": system, "source": "session_jsonl", "stream": "sess", "position": position,
            "event_type": event_type, "correlation_id": call_id}


def jido(event_type: str, pos: int, corr: str, name: str | None = None) -> dict[str, Any]:
    return {"system": "jido", "source": "conversation", "stream": "c1", "position": pos,
            "record_no": pos, "ts": at(seconds=pos), "event_type": event_type,
            "correlation_id": corr, "name": name}


def renumber(rows: list[dict]) -> list[dict]:
    return [{**r, "position": i + 1, "record_no": i + 1} for i, r in enumerate(rows)]


def with_seqs(seqs: list[int]) -> list[dict]:
    return renumber([{"system": "tapps", "source": "workflow_events", "stream": "s1", "seq": s,
                      "ts": at(seconds=i), "event_id": f"r{i}"} for i, s in enumerate(seqs)])


# (case, rows, expected violations as (rule, position) pairs; [] = passes)
CASES: list[tuple[str, list[dict], list[tuple[str, int]]]] = [
    ("valid sequence", with_seqs([1, 2, 3, 4]), []),
    ("seq_start", with_seqs([2, 3, 4]), [("seq_start", 1)]),
    ("seq_start boundary (starts at 1 after a swap)", with_seqs([2, 1, 3]),
     [("seq_regression", 2)]),
    ("seq_gap", with_seqs([1, 2, 4, 5]), [("seq_gap", 3)]),
    ("seq_gap wide", with_seqs([1, 5]), [("seq_gap", 2)]),
    ("seq_duplicate", with_seqs([1, 2, 2, 3]), [("seq_duplicate", 3)]),
    ("seq_regression", with_seqs([1, 3, 2, 4]), [("seq_regression", 3)]),
    ("ts_regression beyond tolerance",
     renumber([{**r, "ts": at(seconds=[0, 10, 5, 11][i])}
               for i, r in enumerate(with_seqs([1, 2, 3, 4]))]),
     [("ts_regression", 3)]),
    ("ts_skew within tolerance (warning, passes)",
     renumber([{**r, "ts": at(seconds=[0, 10, 9.5, 11][i])}
               for i, r in enumerate(with_seqs([1, 2, 3, 4]))]),
     [("ts_skew", 3)]),
    ("ts without seq: position against time",
     renumber([{"system": "jido", "source": "conversation", "stream": "c1",
                "ts": at(seconds=s)} for s in (0, 5, 2)]),
     [("ts_regression", 3)]),
    ("cb pairing ok", [proposed(1, "a"), cb("tool.result", 2, correlation_id="a")], []),
    ("cb approved proposal without result", [proposed(1, "a")], [("tool_result_missing", 1)]),
    ("cb ToolApproved without result",
     [proposed(1, "a", approved=False), cb("tool.approved", 2, correlation_id="a")],
     [("tool_result_missing", 2)]),
    ("cb unapproved proposal needs no result", [proposed(1, "a", approved=False)], []),
    ("cb orphan result", [cb("tool.result", 1, correlation_id="z")],
     [("tool_result_orphan", 1)]),
    ("session states valid",
     [state(1, "Idle", "Planning"), state(2, "Planning", "ExecutingStep"),
      state(3, "ExecutingStep", "Completed")], []),
    ("session state illegal", [state(1, "Idle", "Completed")],
     [("session_state_transition", 1)]),
    ("session state same->same allowed", [state(1, "Paused", "Paused")], []),
    ("session state discontinuity",
     [state(1, "Idle", "Planning"), state(2, "Verifying", "Completed")],
     [("session_state_discontinuity", 2)]),
    ("stages forward", [stage(1, "initialized"), stage(2, "generated"), stage(3, "validated")],
     []),
    ("stage regression", [stage(1, "initialized"), stage(2, "validated"), stage(3, "generated")],
     [("stage_regression", 3)]),
    ("stage auto-sync regression is legal",
     [stage(1, "generated"), stage(2, "validated"),
      stage(3, "generated", "auto-sync from artifacts (was validated)", previous="validated")],
     []),
    ("stage auto-sync must name the stage it left",
     [stage(1, "generated"), stage(2, "validated"),
      stage(3, "generated", "auto-sync from artifacts (was planned)", previous="planned")],
     [("stage_auto_sync_previous", 3)]),
    ("stage unknown", [stage(1, "initialized"), stage(2, "shipped")], [("stage_unknown", 2)]),
    ("jido pairs", [jido("tool.call", 1, "k", "t"), jido("tool.result", 2, "k", "t"),
                    jido("llm.request", 3, "k"), jido("llm.error", 4, "k")], []),
    ("jido unclosed tool", [jido("tool.call", 1, "k", "t")], [("jido_tool_unclosed", 1)]),
    ("jido orphan tool", [jido("tool.result", 1, "k", "t")], [("jido_tool_orphan", 1)]),
    ("jido unclosed llm", [jido("llm.request", 1, "k"), jido("llm.request", 2, "k"),
                           jido("llm.response", 3, "k")], [("jido_llm_unclosed", 2)]),
    ("transcript tool calls paired",
     [transcript("tool.call", 1, "toolu_1"), transcript("tool.result", 2, "toolu_1")], []),
    ("transcript tool call without result",
     [transcript("tool.call", 1, "toolu_1"), transcript("tool.call", 2, "toolu_2"),
      transcript("tool.result", 3, "toolu_2")], [("tool_call_unclosed", 1)]),
    ("transcript tool result without call",
     [transcript("tool.result", 1, "toolu_9", system="codex_cli")], [("tool_call_orphan", 1)]),
    ("tapps workflow ok",
     [tapps("workflow.start", 1), tapps("step.start", 2, "a"), tapps("step.finish", 3, "a"),
      tapps("workflow.end", 4)], []),
    ("tapps step unclosed",
     [tapps("workflow.start", 1), tapps("step.start", 2, "a"), tapps("workflow.end", 3)],
     [("tapps_step_unclosed", 2)]),
    ("tapps step closed by skip",
     [tapps("workflow.start", 1), tapps("step.start", 2, "a"), tapps("step.skip", 3, "a")], []),
    ("tapps workflow.start not first",
     [tapps("step.start", 1, "a"), tapps("workflow.start", 2), tapps("step.finish", 3, "a")],
     [("workflow_start_not_first", 1)]),
    ("tapps workflow.end not last",
     [tapps("workflow.start", 1), tapps("workflow.end", 2), tapps("log", 3)],
     [("workflow_end_not_last", 3)]),
    ("tapps completed_steps agree",
     [tapps("workflow.start", 1), tapps("step.start", 2, "a"), tapps("step.finish", 3, "a"),
      {"system": "tapps", "source": "workflow_state", "stream": "wf", "position": 1,
       "event_type": "workflow.state", "attrs": {"completed_steps": ["a"]}}], []),
    ("tapps completed step missing from log",
     [tapps("workflow.start", 1), tapps("step.start", 2, "a"), tapps("step.fail", 3, "a"),
      {"system": "tapps", "source": "workflow_state", "stream": "wf", "position": 1,
       "event_type": "workflow.state", "attrs": {"completed_steps": ["a"]}}],
     [("completed_step_not_in_log", 1)]),
    ("curriculum mirror agrees",
     [stage(1, "initialized"), stage(2, "generated"),
      stage(1, "initialized", source="events_jsonl"), stage(2, "generated", source="events_jsonl")],
     []),
    ("curriculum mirror differs",
     [stage(1, "initialized"), stage(2, "generated"),
      stage(1, "initialized", source="events_jsonl"),
      stage(2, "generated", source="events_jsonl", ts="2026-03-01T09:09:00Z")],
     [("mirror_mismatch", 2)]),
    ("curriculum mirror line missing",
     [stage(1, "initialized"), stage(2, "generated"),
      stage(1, "initialized", source="events_jsonl")],
     [("mirror_missing", 2)]),
]


@pytest.mark.parametrize(("case", "rows", "expected"), CASES, ids=[c[0] for c in CASES])
def test_replay_rule(tmp_path, case, rows, expected):
    con = make_db(tmp_path)
    insert(con, rows)
    report = check(con)
    found = sorted(zip(report.violations["rule"], report.violations["position"], strict=True))
    assert found == sorted(expected), report.violations
    failing = any(r not in ("ts_skew", "session_state_discontinuity") for r, _ in expected)
    assert report.passed is (not failing)
    assert report.verdicts.height >= 1


def test_violation_row_is_fully_specified(tmp_path):
    con = make_db(tmp_path)
    insert(con, with_seqs([1, 2, 4]))
    row = check(con).violations.row(0, named=True)
    assert row == {"stream": "s1", "system": "tapps", "rule": "seq_gap", "severity": "error",
                   "position": 3, "record_no": 3, "expected": "3", "found": "4",
                   "event_id": "r2", "source": "workflow_events"}


def test_tolerance_separates_skew_from_reordering(tmp_path):
    con = make_db(tmp_path)
    insert(con, renumber([{**r, "ts": at(seconds=[0, 10, 8, 11][i])}
                          for i, r in enumerate(with_seqs([1, 2, 3, 4]))]))
    assert check(con, tolerance_ms=1000).violations["rule"].to_list() == ["ts_regression"]
    assert check(con, tolerance_ms=2000).violations["rule"].to_list() == ["ts_skew"]
    assert check(con, tolerance_ms=2000).passed


def test_codingbuddy_mirror(tmp_path):
    con = make_db(tmp_path)
    primary = [cb("chat.turn", i) for i in (1, 2, 3)]
    mirror = [{**cb("chat.turn", i), "source": "store_sqlite", "is_mirror": True,
               "event_id": f"m{i}"} for i in (1, 2)]
    mirror[1]["ts"] = at(seconds=99)
    insert(con, primary + mirror)
    v = check(con).violations
    assert sorted(zip(v["rule"], v["position"], strict=True)) == [
        ("mirror_mismatch", 2), ("mirror_missing", 3)]


def test_codingbuddy_mirror_skipped_without_store(tmp_path):
    con = make_db(tmp_path)
    insert(con, [cb("chat.turn", i) for i in (1, 2)])
    assert check(con).passed


def test_codingbuddy_validation_matches_deepseek(tmp_path):
    """monotonic_seq allows equal seq_no; missing/orphan are sorted sets (validate_replay_events)."""
    con = make_db(tmp_path)
    insert(con, [proposed(1, "b"), cb("tool.approved", 2, correlation_id="a"),
                 cb("tool.result", 2, correlation_id="z"), cb("tool.result", 3, correlation_id="y"),
                 proposed(4, "c", approved=False), cb("tool.result", 5, correlation_id="c")])
    insert(con, [{**cb("chat.turn", 1), "stream": "other"}, {**cb("chat.turn", 3),
                 "stream": "other", "position": 9}, {**cb("chat.turn", 2), "stream": "other",
                                                     "position": 10}])
    out = codingbuddy_validation(con).to_dicts()
    assert out == [
        {"session_id": "other", "monotonic_seq": False, "missing_tool_results": [],
         "orphan_tool_results": [], "passed": False},
        {"session_id": "sess", "monotonic_seq": True, "missing_tool_results": ["a", "b"],
         "orphan_tool_results": ["c", "y", "z"], "passed": False},
    ]


def test_streams_filter(tmp_path):
    con = make_db(tmp_path)
    insert(con, with_seqs([1, 3]) + [{**r, "stream": "ok"} for r in seq_stream(3)])
    report = check(con, streams=["ok"])
    assert report.passed and report.verdicts["stream"].to_list() == ["ok"]


@pytest.mark.parametrize("listed", [3, 1000])
def test_many_open_streams_are_read_alike(tmp_path, monkeypatch, listed):
    """Open streams past the scanned list (membership.SCANNED_ITEMS) and past the listed ones
    (MAX_LISTED_STREAMS, lowered here) give the violations of a few open streams."""
    import incidentlab.analysis.replay as replay_module

    con = make_db(tmp_path)
    rows = []
    for k in range(250):  # every other stream skips seq 3: 125 open streams
        stream = seq_stream(5, stream=f"w{k:03d}")
        rows += [r for r in stream if not (k % 2 == 0 and r["seq"] == 3)]
    insert(con, rows)
    monkeypatch.setattr(replay_module, "MAX_LISTED_STREAMS", listed)
    report = check(con)
    gaps = report.violations.filter(report.violations["rule"] == "seq_gap")
    assert sorted(gaps["stream"].to_list()) == [f"w{k:03d}" for k in range(0, 250, 2)]
    assert gaps["position"].to_list() == [4] * 125
    assert (~report.verdicts["passed"]).sum() == 125


# ---- properties: mutations of a valid stream are reported where they happen

N = st.integers(min_value=3, max_value=30)


_SHARED: dict[str, Any] = {}


def load(tmp_path_factory, seqs: list[int]):
    """One database reused across examples (emptied each time): fast enough for hypothesis."""
    if "con" not in _SHARED:
        _SHARED["con"] = make_db(tmp_path_factory.mktemp("p"))
    con = _SHARED["con"]
    con.execute("DELETE FROM events")
    insert(con, with_seqs(seqs))
    return check(con)


def found(report) -> list[tuple[str, int]]:
    v = report.violations
    return sorted(zip(v["rule"], v["position"], strict=True))


SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(n=N)
def test_valid_stream_passes(tmp_path_factory, n):
    report = load(tmp_path_factory, list(range(1, n + 1)))
    assert report.passed and report.violations.height == 0


@SETTINGS
@given(n=N, data=st.data())
def test_drop_is_reported_at_the_next_position(tmp_path_factory, n, data):
    k = data.draw(st.integers(min_value=0, max_value=n - 2))  # dropping the last is undetectable
    seqs = [s for s in range(1, n + 1) if s != k + 1]
    expected = [("seq_start", 1)] if k == 0 else [("seq_gap", k + 1)]
    assert found(load(tmp_path_factory, seqs)) == expected


@SETTINGS
@given(n=N, data=st.data())
def test_duplicate_is_reported_at_the_copy(tmp_path_factory, n, data):
    k = data.draw(st.integers(min_value=0, max_value=n - 1))
    seqs = list(range(1, n + 1))
    seqs.insert(k + 1, seqs[k])
    assert found(load(tmp_path_factory, seqs)) == [("seq_duplicate", k + 2)]


@SETTINGS
@given(n=N, data=st.data())
def test_adjacent_swap_is_reported_at_the_late_element(tmp_path_factory, n, data):
    k = data.draw(st.integers(min_value=0, max_value=n - 2))
    seqs = list(range(1, n + 1))
    seqs[k], seqs[k + 1] = seqs[k + 1], seqs[k]
    assert found(load(tmp_path_factory, seqs)) == [("seq_regression", k + 2)]


def test_cli_replay_exit_codes_and_json(tmp_path):
    import json

    from click.testing import CliRunner

    from incidentlab.cli import main

    con = make_db(tmp_path)
    insert(con, with_seqs([1, 2, 3]))
    con.close()
    db = str(tmp_path / "x.duckdb")
    ok = CliRunner().invoke(main, ["replay", "--db", db, "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["passed"] is True
    con = make_db(tmp_path)
    insert(con, [{**r, "stream": "bad"} for r in with_seqs([1, 3])])
    con.close()
    bad = CliRunner().invoke(main, ["replay", "--db", db, "--json"])
    assert bad.exit_code == 1
    data = json.loads(bad.output)
    assert data["violations"][0]["rule"] == "seq_gap"
    assert {v["stream"]: v["passed"] for v in data["verdicts"]} == {"s1": True, "bad": False}
    only_good = CliRunner().invoke(main, ["replay", "--db", db, "--stream", "s1"])
    assert only_good.exit_code == 0 and "0 of 1 stream(s) failed" in only_good.output


@SETTINGS
@given(n=N, data=st.data())
def test_time_swap_without_seq_is_reported_at_the_late_element(tmp_path_factory, n, data):
    """No native sequence: file position against time; 2 s apart is beyond the 1 s tolerance."""
    k = data.draw(st.integers(min_value=0, max_value=n - 2))
    times = list(range(n))
    times[k], times[k + 1] = times[k + 1], times[k]
    if "con" not in _SHARED:
        _SHARED["con"] = make_db(tmp_path_factory.mktemp("p"))
    con = _SHARED["con"]
    con.execute("DELETE FROM events")
    insert(con, renumber([{"system": "jido", "source": "conversation", "stream": "c",
                           "ts": at(seconds=2 * t)} for t in times]))
    assert found(check(con)) == [("ts_regression", k + 2)]


def test_sparse_sequences_and_multi_row_records(tmp_path):
    """OpenHands ids skip numbers by design; rows of one record share its seq: neither is a fault."""
    con = make_db(tmp_path)
    rows = [{"system": "openhands", "source": "events_json", "stream": "run", "position": p,
             "record_no": r, "seq": seq, "event_type": "tool.call" if p % 2 else "chat.turn"}
            for p, (r, seq) in enumerate([(1, 0), (1, 0), (2, 3), (3, 6), (3, 6)], start=1)]
    rows.append({"system": "openhands", "source": "events_json", "stream": "run", "position": 6,
                 "record_no": 4, "seq": 6, "event_type": "log"})
    insert(con, rows)
    found = check(con).violations
    assert [(r["rule"], r["position"]) for r in found.iter_rows(named=True)
            if r["rule"].startswith("seq")] == [("seq_duplicate", 6)]


# ---- declared checks: a system's checks live with its loaders; a new system adds only its own

def _new_system_rows() -> list[dict]:
    base = {"system": "newsys", "source": "log", "stream": "n1"}
    kinds = ["begin", "open", "close", "open", "state", "state", "end", "after"]
    rows = []
    for i, kind in enumerate(kinds, start=1):
        row = {**base, "position": i, "record_no": i, "seq": i, "ts": at(seconds=i),
               "event_type": kind, "correlation_id": "k"}
        if kind == "state":
            row["attrs"] = {"from": "a", "to": "c"} if i == 5 else {"from": "b", "to": "a"}
        rows.append(row)
    return rows


NEW_SYSTEM_CASES = [
    ("pairing", "Pairing('newsys_unclosed', \"event_type = 'open'\", \"event_type = 'close'\", "
                "'correlation_id')", [("newsys_unclosed", 4)]),
    # a declared key is any expression: one without a value pairs like any other key
    ("pairing, key NULL", "Pairing('newsys_unclosed', \"event_type = 'open'\", "
                          "\"event_type = 'close'\", 'NULL::VARCHAR')", [("newsys_unclosed", 4)]),
    ("pairing any order, key NULL",
     "Pairing('newsys_unclosed', \"event_type = 'open'\", \"event_type = 'nothing'\", "
     "'NULL::VARCHAR', order='any')", [("newsys_unclosed", 2)]),
    ("state machine", "StateMachine('newsys_transition', 'newsys_discontinuity', "
                      "\"event_type = 'state'\", \"json_extract_string(attrs, '$.from')\", "
                      "\"json_extract_string(attrs, '$.to')\", (('a', ('b',)), ('b', ('a',))))",
     [("newsys_transition", 5), ("newsys_discontinuity", 6)]),
    ("bounds", "Bounds(\"seq IS NOT NULL\", 'begin', 'end', 'newsys_first', 'newsys_last')",
     [("newsys_last", 8)]),
]


@pytest.mark.parametrize(("kind", "declaration", "expected"), NEW_SYSTEM_CASES,
                         ids=[c[0] for c in NEW_SYSTEM_CASES])
def test_new_system_declares_its_checks(tmp_path, monkeypatch, kind, declaration, expected):
    from incidentlab.analysis import replay
    from incidentlab.loaders import base

    declared = eval(declaration, vars(base))  # the declarations in the table above

    class NewLoader:
        name, system, source, version, description = "newsys.log", "newsys", "log", "1", "x"
        checks = (declared,)

    loaders = replay.all_loaders()
    monkeypatch.setattr(replay, "all_loaders", lambda: [*loaders, NewLoader()])
    con = make_db(tmp_path)
    insert(con, _new_system_rows())
    assert found(check(con)) == sorted(expected)
    monkeypatch.setattr(replay, "all_loaders", lambda: loaders)
    assert found(check(con)) == []


def test_every_kind_is_declared_by_a_system():
    from incidentlab.analysis.replay import declared_checks

    kinds = {type(c).__name__ for _, c in declared_checks()}
    assert kinds == {"Pairing", "StateMachine", "Progression", "Bounds", "Mirror", "Listed"}
    systems = {s for s, c in declared_checks() if type(c).__name__ == "Pairing"}
    assert {"jido", "tapps", "codingbuddy", "claude_code", "codex_cli", "gemini_cli", "swe_agent",
            "mini_swe_agent", "openhands", "otel"} <= systems
