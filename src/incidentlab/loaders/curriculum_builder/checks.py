"""What replay integrity checks in curriculum-builder runs: stages move forward (`auto-sync from
artifacts` may go back, naming the stage it left in metadata.previous_stage), and run.json's
history agrees with logs/events.jsonl transition by transition."""

from __future__ import annotations

from ..base import Check, Mirror, Progression

STAGE_ORDER = ("initialized", "spec_ready", "generated", "validated", "planned", "iterated")
AUTO_SYNC_PREFIX = "auto-sync from artifacts"
TRANSITION = "event_type = 'stage.transition'"

CHECKS: tuple[Check, ...] = (
    Progression(where=TRANSITION, state="name", order=STAGE_ORDER, unknown="stage_unknown",
                regression="stage_regression",
                reset=f"starts_with(coalesce(message, ''), '{AUTO_SYNC_PREFIX}')",
                reset_names="json_extract_string(attrs, '$.metadata.previous_stage')",
                reset_rule="stage_auto_sync_previous",
                reset_expected="metadata.previous_stage = "),
    Mirror(where=TRANSITION, reference="source = 'run_json'", copy="source <> 'run_json'",
           match=(), compare=("name", "ts_raw", "coalesce(message, '')"),
           columns=("name", "ts_raw"),
           missing=("'history[' || r.k || '] ' || r.name || ' at ' || coalesce(r.ts_raw, '?')",
                    "'no line ' || r.k || ' in logs/events.jsonl'"),
           extra=("'no entry ' || c.k || ' in run.json history'",
                  "c.name || ' at ' || coalesce(c.ts_raw, '?')"),
           mismatch=("'history[' || r.k || '] ' || r.name || ' at ' || coalesce(r.ts_raw, '?')",
                     "c.name || ' at ' || coalesce(c.ts_raw, '?')"),
           report="c", when="both"),
)
