"""The demo bundle: deterministic, every file claimed by the right loader, only planted quarantine."""

from __future__ import annotations

import hashlib
import json
from fnmatch import fnmatch
from pathlib import Path

import pytest

from incidentlab.demo import build_bundle
from incidentlab.demo.run import run_demo
from incidentlab.store import connect

# (glob relative to the evidence folder, loader that must claim it)
EXPECTED_LOADERS = [
    ("app/.codingbuddy/events.jsonl", "codingbuddy.events_jsonl"),
    ("app/.codingbuddy/store.sqlite", "codingbuddy.store_sqlite"),
    ("app/.codingbuddy/observe.log", "codingbuddy.observe_log"),
    ("app/.codingbuddy/patches/*.json", "codingbuddy.patch"),
    ("app/.codingbuddy/patches/*.diff", "codingbuddy.patch_diff"),
    ("app/.codingbuddy/snapshots/*.json", "codingbuddy.snapshot"),
    ("jido/telemetry.jsonl", "jido.telemetry_jsonl"),
    ("coding-loops/coordination.db", "coding_loops.coordination_db"),
    ("coding-loops/*/specs/health.json", "coding_loops.health_json"),
    ("coding-loops/*/specs/test-state.json", "coding_loops.test_state"),
    ("coding-loops/*/specs/logs/transcripts/*/attempt-*.log", "coding_loops.transcript"),
    ("coding-loops/transcripts/*/unified.jsonl", "coding_loops.unified_transcript"),
    ("runs/*/run.json", "curriculum_builder.run_json"),
    ("runs/*/logs/events.jsonl", "curriculum_builder.events_jsonl"),
    ("runs/*/logs/orchestration-stderr.log", "curriculum_builder.orchestration_log"),
    ("runs/*/inputs/topic_spec.json", "curriculum_builder.topic_spec"),
    ("runs/*/outputs/reviews/validation_report.md", "curriculum_builder.validation_report"),
    (".tapps-agents/workflow-state/workflow-*.json", "tapps.workflow_state"),
    (".tapps-agents/workflow-state/events/*.events.jsonl", "tapps.workflow_events"),
    (".tapps-agents/logs/structured.jsonl", "tapps.structured_log"),
    (".tapps-agents/dead-letter/*.json", "tapps.error_envelope"),
]


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix != ".sqlite" and path.suffix != ".db":
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module", params=[7, 11])
def demo(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"demo-{request.param}")
    return run_demo(out, seed=request.param, render=False)


def test_every_file_is_claimed_by_the_right_loader(demo):
    evidence = demo.bundle.root / "evidence"
    assert demo.summary.unclaimed == []
    assert demo.summary.ok, [(f.path, f.message) for f in demo.summary.files if f.message]
    for outcome in demo.summary.files:
        relative = str(Path(outcome.path).relative_to(evidence.resolve()))
        expected = [loader for pattern, loader in EXPECTED_LOADERS if fnmatch(relative, pattern)]
        assert expected == [outcome.loader], relative


def test_ingest_leaves_no_staging_view_behind(demo):
    """Loaders that hand the writer a relation stage it as a view; the database keeps none."""
    con = connect(demo.db, read_only=True)
    try:
        views = con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    finally:
        con.close()
    assert views == [("timeline_events",)]


def test_only_planted_records_are_quarantined(demo):
    con = connect(demo.db, read_only=True)
    try:
        found = con.execute(
            "SELECT source_path, record_no FROM _load_warnings ORDER BY 1, 2").fetchall()
    finally:
        con.close()
    planted = demo.bundle.manifest["quarantined"]
    assert [(Path(p).name, n) for p, n in found] == [
        (Path(q["path"]).name, q["record_no"]) for q in planted]


def test_counts_match_the_manifest(demo):
    counts = demo.bundle.manifest["counts"]
    con = connect(demo.db, read_only=True)
    try:
        def loaded(loader: str) -> int:
            return con.execute("SELECT sum(records_loaded) FROM _loads WHERE loader = ?",
                               [loader]).fetchone()[0]
        assert loaded("codingbuddy.events_jsonl") == counts["codingbuddy.events_jsonl"]
        assert loaded("codingbuddy.observe_log") == counts["codingbuddy.observe_log"]
        assert loaded("jido.telemetry_jsonl") == counts["jido.telemetry"]
        assert loaded("coding_loops.unified_transcript") == counts["coding_loops.unified"]
        assert loaded("tapps.workflow_events") == counts["tapps.events"]
        assert loaded("tapps.structured_log") == counts["tapps.structured_log"]
        mirrors = con.execute("SELECT count(*) FROM events WHERE is_mirror AND system = "
                              "'codingbuddy'").fetchone()[0]
        assert mirrors == counts["codingbuddy.store_sqlite"]
        local = con.execute("SELECT count(*), count(*) FILTER (WHERE ts_quality = 'assumed_local')"
                            " FROM events WHERE source_path LIKE '%structured.jsonl'").fetchone()
        assert local[0] == local[1] > 0
    finally:
        con.close()


def _planted(manifest: dict) -> dict:
    """What was planted, without ids that depend on how much background traffic came first."""
    return {
        "violations": [(v["system"], v["rule"]) for v in manifest["replay_violations"]],
        "alerts": [(a["rule"], a["level"], a["first_window"]) for a in manifest["alerts"]],
        "failure_modes": manifest["failure_modes"],
        "quarantined": [q["why"] for q in manifest["quarantined"]],
        "milestones": manifest["milestones"],
        "secrets": manifest["secrets"],
    }


def test_same_seed_same_bundle_and_scale_keeps_the_anomalies(tmp_path):
    one = build_bundle(tmp_path / "a", seed=3)
    two = build_bundle(tmp_path / "b", seed=3)
    assert _digest(one.root) == _digest(two.root)
    bigger = build_bundle(tmp_path / "c", seed=3, scale=3)
    assert _planted(bigger.manifest) == _planted(one.manifest)
    assert bigger.manifest["counts"]["jido.telemetry"] > one.manifest["counts"]["jido.telemetry"]
    assert json.loads(one.manifest_path.read_text())["seed"] == 3
