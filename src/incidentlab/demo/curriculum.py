"""Demo artifacts of a curriculum-builder run: a legal auto-sync regression and a codex_exec error."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .story import STORM_START, T0, Story, minutes

RUN_ID = "20260301-093000-agentic-eng"


def _at(minutes_after_t0: float) -> str:
    return (T0 + minutes(minutes_after_t0)).strftime("%Y-%m-%dT%H:%M:%SZ")


def write(story: Story, root: Path) -> None:
    run = root / "runs" / RUN_ID
    for sub in ("inputs", "outputs/reviews", "outputs/curriculum", "logs"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    history = [
        {"at_utc": _at(30), "event_type": "stage_transition", "stage": "initialized",
         "message": "run initialized", "metadata": {}},
        {"at_utc": _at(31), "event_type": "stage_transition", "stage": "spec_ready",
         "message": "topic spec synthesized from scope document",
         "metadata": {"scope_file": "inputs/scope.md", "scope_mode": "full", "scope_sections": []}},
        {"at_utc": _at(50), "event_type": "stage_transition", "stage": "generated",
         "message": "agent generated curriculum", "metadata": {}},
        {"at_utc": _at(51), "event_type": "stage_transition", "stage": "validated",
         "message": "validator passed", "metadata": {}},
        {"at_utc": _at(100), "event_type": "stage_transition", "stage": "generated",
         "message": "auto-sync from artifacts (was validated)",
         "metadata": {"previous_stage": "validated"}},
    ]
    (run / "run.json").write_text(json.dumps({
        "run_id": RUN_ID, "created_at_utc": _at(30), "stage": "generated", "history": history,
        "agent_provider": "codex_exec"}, indent=2))
    (run / "logs" / "events.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    (run / "inputs" / "topic_spec.json").write_text(json.dumps({
        "spec_version": "1.0", "goal": "Agentic engineering fundamentals",
        "audience": "backend engineers", "prerequisites": ["python"], "scope_in": ["agents"],
        "scope_out": [], "constraints": {"hours_per_week": 5, "total_hours_min": 20,
                                         "total_hours_max": 40, "depth": "practical",
                                         "node_count_min": 8, "node_count_max": 20,
                                         "max_prerequisites_per_node": 3},
        "domain_mode": "mature", "evidence_mode": "standard", "misconceptions": []}, indent=2))
    report = run / "outputs" / "reviews" / "validation_report.md"
    report.write_text(
        "## Validation Report\n\n- Verdict: **FAIL**\n\n### Validator Output\n\n```text\n"
        + "=" * 60 + "\nCURRICULUM VALIDATION REPORT\n" + "=" * 60 + "\n"
        "PASSED: 2\n  OK  curriculum.json parses\n  OK  node ids are unique\n"
        "WARNINGS: 1\n  WARN node N7 has no resources\n"
        "FAILED: 1\n  ERR  prerequisite cycle: N3 -> N5 -> N3\n"
        "Total: 2 passed, 1 warnings, 1 failed\n```\n")
    stamp = (STORM_START + minutes(40)).timestamp()
    os.utime(report, (stamp, stamp))
    console = run / "logs" / "orchestration-stderr.log"
    console.write_text(
        "$ python3.11 scripts/orchestration.py run 20260301-093000-agentic-eng\n"
        "[validation_failed] Validation failed for run 20260301-093000-agentic-eng; "
        "see outputs/reviews/validation_report.md\n"
        "$ python3.11 scripts/orchestration.py iterate 20260301-093000-agentic-eng\n"
        "[internal_error] codex_exec mode failed to return valid structured JSON. "
        "(last_error: 429 Too Many Requests, stage: generated)\n"
        "exit code: 10\n")
    stamp = (STORM_START + minutes(42)).timestamp()
    os.utime(console, (stamp, stamp))
    story.alert("curriculum_builder.structured_output_failures", RUN_ID, STORM_START + minutes(40),
                "warn")
    for mode in ("codex_structured_json", "validation_failure", "stale_artifacts"):
        story.failure_mode("curriculum_builder", f"curriculum_builder.{mode}")
    # Generic modes: the iterate run ended in error (exit code 10) on a 429.
    for mode in ("llm_rate_limit", "session_failures"):
        story.failure_mode("curriculum_builder", f"generic.{mode}")
    story.count("curriculum_builder.history", len(history))
