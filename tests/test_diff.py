"""Run diff: the step key's normalization, the LCS, and real trajectories of one task.

The fixtures (tests/fixtures/diff/README.md) are two GPT-4 SWE-agent runs of SWE-agent's
test-repo issue 1 (a missing colon) and the mini-swe-agent run of the same issue. Read by hand:
both SWE-agent runs find the file and open it (quoting and paths differ, the steps do not),
then edit differently (a line-range `edit 4:4` in A, a search/replace `edit 'def ...' 'def
...:' False` in B): that third trajectory step, event step 5 (call, result, call, result,
call), is the first divergence. A runs `python tests/missing_colon.py`, B `python3 /SWE-agent__
test-repo/tests/missing_colon.py`; both print 8.2 and submit the same patch (index
20edef5..5857437); A cost $0.53839 for 52,861 + 326 tokens, B $0.01952 for 7,141 + 243; no
step carries a time, so duration is not determined.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import incidentlab
from incidentlab.analysis import diff
from incidentlab.cli import main
from incidentlab.errors import UsageError
from incidentlab.reports.paths import notebooks_dir
from incidentlab.reports.render import known_parameters

import conftest_reports

demo_db = conftest_reports.demo_db
FIXTURES = Path(__file__).parent / "fixtures" / "diff"
RUN_A = "klieret__swe-agent-test-repo-i1"
RUN_B = "6e44b9__sweagenttestrepo-1c2844"


@pytest.fixture(scope="module")
def runs_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("diff") / "runs.duckdb"
    incidentlab.ingest(FIXTURES, db)
    return db


@pytest.fixture(scope="module")
def two_dbs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("diff2")
    out = []
    for name in ("swe-agent-gpt4", "swe-agent-gpt4o"):
        incidentlab.ingest(FIXTURES / name, root / f"{name}.duckdb")
        out.append(root / f"{name}.duckdb")
    return out[0], out[1]


# --- the step key -----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ('find_file "missing_colon.py"\n', "find_file missing_colon.py"),
    ('open "/SWE-agent__test-repo/tests/missing_colon.py"', "open tests/missing_colon.py"),
    ("cat /Users/x/git/repo/tests/./missing_colon.py", "cat tests/missing_colon.py"),
    ("edit 4:4\n  def f():   pass", "edit <n>:<n> def f(): pass"),
    ("git show 20edef5a", "git show <hex>"),
    ("read 123e4567-e89b-12d3-a456-426614174000", "read <uuid>"),
    ("since 2026-03-01T09:15:00Z and 10:00:01", "since <ts> and <ts>"),
    ("resume call_fJuazlMUN5fQDQ73G6XSpYpx", "resume <id>"),
])
def test_normalize_masks_what_differs_between_runs(raw: str, expected: str) -> None:
    assert diff.normalize_arguments(raw) == expected


@pytest.mark.parametrize(("left", "right"), [
    ("python tests/missing_colon.py", "python3 tests/missing_colon.py"),  # a digit in a word
    ("rm a.py", "rm b.py"),
    ("grep deadbeef x", "grep cafebabe x"),  # hex words without a digit are words
    ("ls src/pkg", "ls src/lib"),
])
def test_normalize_keeps_real_differences(left: str, right: str) -> None:
    assert diff.normalize_arguments(left) != diff.normalize_arguments(right)


def test_key_uses_arguments_for_actions_and_outcome_otherwise() -> None:
    call = diff.step_key("tool.call", "edit", "assistant", None, "edit 4:4 x")
    assert call == ("tool.call", "edit", "edit <n>:<n> x")
    result_ok = diff.step_key("tool.result", "edit", "environment", "ok", "text one")
    assert result_ok == diff.step_key("tool.result", "edit", "environment", "ok", "other text")
    assert result_ok != diff.step_key("tool.result", "edit", "environment", "error", "text one")
    assert diff.step_key("chat.turn", None, "user", None, "hi") == ("chat.turn", "user", "")


# --- the alignment ----------------------------------------------------------------------------


def _lcs_length(a: list[int], b: list[int]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b):
            cur = row[j + 1]
            row[j + 1] = prev + 1 if x == y else max(row[j + 1], row[j])
            prev = cur
    return row[-1]


def test_lcs_is_a_longest_common_subsequence() -> None:
    rng = random.Random(20)
    for _ in range(3000):
        a = [rng.randint(0, 3) for _ in range(rng.randint(0, 12))]
        b = [rng.randint(0, 3) for _ in range(rng.randint(0, 12))]
        pairs, exact = diff.lcs_pairs(a, b)
        assert exact
        assert all(a[i] == b[j] for i, j in pairs)
        assert all(p[0] < q[0] and p[1] < q[1] for p, q in itertools.pairwise(pairs))
        assert len(pairs) == _lcs_length(a, b), (a, b, pairs)


def test_long_runs_with_few_differences_align_exactly() -> None:
    rng = random.Random(5)
    a = [rng.randint(0, 40) for _ in range(20_000)]
    b = list(a)
    for i in rng.sample(range(len(b)), 100):
        b[i] = -1
    pairs, exact = diff.lcs_pairs(a, b)
    assert exact and len(pairs) == len(a) - 100


def test_past_the_bound_the_result_says_it_is_not_exact() -> None:
    _, exact = diff.lcs_pairs([1, 2, 3, 4, 5, 6], [7, 8, 9, 1, 10, 11], max_edit_distance=2)
    assert not exact
    assert diff.lcs_pairs([1, 2, 3, 4, 5, 6], [7, 8, 9, 1, 10, 11])[1]


def test_align_pairs_gaps_in_order() -> None:
    rows, exact = diff.align(["s", "x", "y", "e"], ["s", "z", "e", "t"])
    assert exact
    assert rows == [(0, 0, "same"), (1, 1, "changed"), (2, None, "only_a"), (3, 2, "same"),
                    (None, 3, "only_b")]


# --- real runs of one task ------------------------------------------------------------------


def test_two_swe_agent_runs_diverge_at_the_edit(runs_db: Path) -> None:
    con = duckdb.connect(str(runs_db), read_only=True)
    result = diff.diff_runs(con, RUN_A, RUN_B)
    first = result.first_divergence()
    assert first is not None
    assert (first["step_a"], first["step_b"], first["kind"], first["common_before"]) == (
        5, 5, "changed", 4)
    a, b = first["event_a"], first["event_b"]
    assert a["event_type"] == b["event_type"] == "tool.call"
    assert a["message"].startswith("edit 4:4 def division")
    assert b["message"].startswith("edit 'def division(a: float, b: float) -> float'")
    assert a["record_no"] == b["record_no"] == 3  # the third trajectory step of each file
    assert a["event_id"] == con.execute(
        "SELECT event_id FROM events WHERE stream = ? AND event_type = 'tool.call' AND "
        "record_no = 3", [RUN_A]).fetchone()[0]
    statuses = [r[2] for r in result.rows]
    assert statuses == ["same"] * 4 + ["changed", "same", "changed", "changed"] + ["same"] * 4
    changed_names = [(result.aligned()["name_a"][i], result.aligned()["name_b"][i])
                     for i in (6, 7)]
    assert changed_names == [("python", "python3"), ("python", "python3")]
    after = result.after_divergence()
    assert after is not None and after["a"]["steps"] == after["b"]["steps"] == 8
    assert after["a"]["unmatched"] == after["b"]["unmatched"] == 3
    assert {"kind": "tool.call python3", "count": 1} in after["b"]["kinds"]
    # Both submitted: same final status, nothing red at the end.
    assert result.outcome_a["final_status"]["name"] == "submitted"
    assert result.outcome_b["final_status"]["name"] == "submitted"
    assert diff.compare_outcomes(result.outcome_a, result.outcome_b) == []
    assert result.outcome_a["last_test"] is None and "not determined" in result.outcome_a[
        "last_test_note"]
    # Tokens and cost as the info.model_stats of each file say; no price table.
    assert (result.usage_a["input_tokens"], result.usage_a["output_tokens"],
            result.usage_a["cost_usd"]) == (52861, 326, 0.53839)
    assert (result.usage_b["input_tokens"], result.usage_b["output_tokens"],
            result.usage_b["cost_usd"]) == (7141, 243, 0.01952)
    assert result.usage_a["cache_read_tokens"] is None  # not in evidence, never 0
    # No timestamps anywhere in a .traj.
    for d in (result.duration_a, result.duration_b):
        assert d["seconds"] is None and d["note"] == "not determined (no timed events)"
    con.close()


def test_cli_across_two_databases_and_prefixes(two_dbs: tuple[Path, Path], runs_db: Path) -> None:
    db_a, db_b = two_dbs
    out = CliRunner().invoke(main, ["diff", "--db", str(db_a), "--db-b", str(db_b), "klieret",
                                    "6e44", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["run_a"]["stream"] == RUN_A and data["run_b"]["db"] == str(db_b)
    assert (data["first_divergence"]["step_a"], data["first_divergence"]["step_b"]) == (5, 5)
    assert data["usage"]["delta"]["cost_usd"] == pytest.approx(0.01952 - 0.53839)
    assert data["duration"]["a"]["seconds"] is None and data["duration"]["delta_seconds"] is None
    assert len(data["steps"]) == 12 and data["steps"][4]["status"] == "changed"
    same_db = json.loads(CliRunner().invoke(
        main, ["diff", "--db", str(runs_db), RUN_A, RUN_B, "--json"]).output)["first_divergence"]
    for side in ("event_a", "event_b"):
        assert same_db[side]["event_id"] == data["first_divergence"][side]["event_id"]
    text = CliRunner().invoke(main, ["diff", "--db", str(runs_db), RUN_A, RUN_B])
    assert text.exit_code == 0
    assert "First divergence at row 5" in text.output
    assert "not determined (no timed events)" in text.output
    assert "$0.53839" in text.output and "$0.01952" in text.output


def test_unknown_and_ambiguous_runs_are_usage_errors(runs_db: Path) -> None:
    con = duckdb.connect(str(runs_db), read_only=True)
    with pytest.raises(UsageError, match="near matches: klieret__swe-agent-test-repo-i1"):
        diff.resolve_run(con, "klieret__swe-agent-test-repo-i2")
    assert diff.resolve_run(con, "6e4") == RUN_B
    con.close()
    out = CliRunner().invoke(main, ["diff", "--db", str(runs_db), "", RUN_B])
    assert out.exit_code == 2
    out = CliRunner().invoke(main, ["diff", "--db", str(runs_db), "nosuchrun", RUN_B])
    assert out.exit_code == 2 and "no stream 'nosuchrun'" in out.output


def test_mini_swe_agent_against_swe_agent_on_the_same_issue(runs_db: Path) -> None:
    """The realdata mini-swe-agent run first cats the path from the issue text, which does not
    exist (returncode 1); SWE-agent runs find_file. Tool calls only: they diverge at once."""
    con = duckdb.connect(str(runs_db), read_only=True)
    result = diff.diff_runs(con, "github_issue", RUN_B, event_types=["tool.call"])
    first = result.first_divergence()
    assert first is not None and (first["step_a"], first["step_b"]) == (1, 1)
    assert first["event_a"]["message"].startswith("cat /Users/fuchur/")
    assert first["event_b"]["message"] == "find_file missing_colon.py"
    assert result.a.events.height == 10  # ten commands, the last one submits
    with_results = diff.diff_runs(con, "github_issue", RUN_B, event_types=["tool.*"])
    error = with_results.outcome_a["last_error"]
    assert error is not None and "ZeroDivisionError" in error["message"]
    assert with_results.outcome_a["steps_after_last_error"] == 3
    con.close()


def test_identical_runs_have_no_divergence(runs_db: Path) -> None:
    con = duckdb.connect(str(runs_db), read_only=True)
    result = diff.diff_runs(con, RUN_A, RUN_A)
    assert result.first_divergence() is None and result.after_divergence() is None
    assert "identical" in result.to_dict()
    con.close()


# --- timed runs, the API and the notebook (the demo database) --------------------------------


def test_timed_runs_cite_duration_and_outcome(demo_db: Path) -> None:
    inc = incidentlab.open(demo_db)
    result = inc.diff("019ca8a1", "019ca8de")
    [(first_ts, last_ts)] = inc.con.execute(
        "SELECT min(ts), max(ts) FROM timeline_events WHERE stream = ?",
        [result.a.stream]).fetchall()
    d = result.duration_a
    assert d["seconds"] == pytest.approx((last_ts - first_ts).total_seconds())
    assert d["first"]["ts"] == first_ts and d["last"]["ts"] == last_ts
    first = result.first_divergence()
    assert first is not None and first["event_a"]["name"] == "fs.read"
    assert first["event_b"]["name"] == "bash.run"
    differences = diff.compare_outcomes(result.outcome_a, result.outcome_b)
    assert any("-> Completed" in d and "-> Failed" in d for d in differences)
    assert result.usage_a["cost_usd"] is None and result.usage_a["total_tokens"] > 0
    inc.close()


def test_mtime_times_are_not_a_duration(demo_db: Path) -> None:
    con = duckdb.connect(str(demo_db), read_only=True)
    result = diff.diff_runs(con, "CP-UFS-002/attempt-1", "CP-UFS-002/attempt-4")
    assert result.duration_a["seconds"] is None
    assert "timed only by a file's mtime" in result.duration_a["note"]
    con.close()


def test_notebook_is_thin_and_parameterized() -> None:
    params = known_parameters(notebooks_dir() / "06_diff.ipynb")
    assert list(params) == ["db", "db_b", "run_a", "run_b", "event_types", "min_severity",
                            "display_tz", "redact", "max_rows"]
    assert all(info["help"] for info in params.values())
    nb = json.loads((notebooks_dir() / "06_diff.ipynb").read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert all("".join(c["source"]).startswith("sections.") for c in code[2:])


def test_report_renders_the_diff_notebook(demo_db: Path, tmp_path: Path) -> None:
    from incidentlab.reports.render import render_report

    result = render_report(demo_db, tmp_path, {}, notebook="diff")
    html = result.html.read_text(encoding="utf-8")
    assert "Run diff: " in html and "diverge at aligned row" in html
    shutil.rmtree(tmp_path, ignore_errors=True)
