"""What replay integrity checks in TappsCodingAgents evidence.

Steps pair only in the workflow event log (rows with `seq`): structured logs only write "Step
completed" and state files are snapshots. The event log starts with workflow.start and ends with
workflow.end; every step a state file lists as completed has a step.finish in the log.
"""

from __future__ import annotations

from ..base import Bounds, Check, Listed, Pairing

STEP = "coalesce(name, json_extract_string(attrs, '$.step_id'))"

CHECKS: tuple[Check, ...] = (
    Pairing("tapps_step_unclosed", "seq IS NOT NULL AND event_type = 'step.start'",
            "seq IS NOT NULL AND event_type IN ('step.finish', 'step.fail', 'step.skip')",
            "coalesce(name, json_extract_string(attrs, '$.step_id'), '')"),
    Bounds(applies="seq IS NOT NULL AND (event_type LIKE 'step.%' OR event_type LIKE 'workflow.%')",
           first="workflow.start", last="workflow.end", first_rule="workflow_start_not_first",
           last_rule="workflow_end_not_last"),
    Listed("completed_step_not_in_log", where="json_type(attrs, '$.completed_steps') = 'ARRAY'",
           items="CAST(json_extract(attrs, '$.completed_steps') AS VARCHAR[])",
           log="event_type IN ('workflow.start', 'step.start', 'step.finish', 'step.fail', "
               "'step.skip', 'workflow.end')",
           log_key=STEP, proof="event_type = 'step.finish'", expected="step.finish for "),
)
