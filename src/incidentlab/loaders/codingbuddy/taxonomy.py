"""CodingBuddy event kinds mapped into the shared event_type taxonomy, and the SQL that projects them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# kind.type -> shared event_type. Legacy "<Variant>V1" names are stripped of the suffix first.
EVENT_TYPES: dict[str, str] = {
    "SessionStarted": "session.start",
    "SessionResumed": "session.resume",
    "SessionStateChanged": "session.state",
    "SessionForked": "session.fork",
    "RunStarted": "run.start",
    "RunStateChanged": "run.state",
    "RunCompleted": "run.end",
    "TurnAdded": "chat.turn",
    "ChatTurn": "chat.turn",
    "TurnReverted": "chat.revert",
    "ContextCompacted": "context.compacted",
    "CompactionTriggered": "context.compaction",
    "EffortChanged": "config.change",
    "PermissionModeChanged": "config.change",
    "TurnLimitExceeded": "limit.turns_exceeded",
    "BudgetExceeded": "limit.budget_exceeded",
    "ToolProposed": "tool.proposed",
    "ToolApproved": "tool.approved",
    "ToolResult": "tool.result",
    "ToolDenied": "policy.denied",
    "ToolCacheHit": "tool.cache_hit",
    "PlanCreated": "plan.created",
    "PlanRevised": "plan.revised",
    "StepMarked": "plan.step",
    "EnterPlanMode": "plan.mode",
    "ExitPlanMode": "plan.mode",
    "TaskCreated": "task.created",
    "TaskCompleted": "task.completed",
    "TaskUpdated": "task.updated",
    "TaskDeleted": "task.deleted",
    "PatchStaged": "patch.staged",
    "PatchApplied": "patch.applied",
    "VerificationRun": "verify.run",
    "CommitProposal": "commit.proposed",
    "UsageUpdated": "llm.usage",
    "CostUpdated": "llm.cost",
    "ProviderSelected": "llm.provider",
    "PromptCacheHit": "llm.cache_hit",
    "OffPeakScheduled": "llm.deferred",
    "ProviderCompatibilityApplied": "llm.compat",
    "ModelRoutingChanged": "llm.routing",
    "ReplayExecuted": "replay.executed",
    "SubagentSpawned": "subagent.start",
    "SubagentCompleted": "subagent.end",
    "SubagentFailed": "subagent.fail",
    "AutopilotRunStarted": "autopilot.start",
    "AutopilotRunHeartbeat": "autopilot.heartbeat",
    "AutopilotRunStopped": "autopilot.stop",
    "BackgroundJobStarted": "job.start",
    "BackgroundJobResumed": "job.resume",
    "BackgroundJobStopped": "job.stop",
    "PluginInstalled": "plugin.change",
    "PluginRemoved": "plugin.change",
    "PluginEnabled": "plugin.change",
    "PluginDisabled": "plugin.change",
    "PluginCatalogSynced": "plugin.catalog",
    "PluginVerified": "plugin.verified",
    "SkillLoaded": "skill.loaded",
    "McpServerAdded": "mcp.server",
    "McpServerRemoved": "mcp.server",
    "McpToolDiscovered": "mcp.tool",
    "HookExecuted": "hook.executed",
    "CheckpointCreated": "checkpoint.created",
    "CheckpointRewound": "checkpoint.rewound",
    "MemorySynced": "memory.synced",
    "MemoryObservations": "memory.observations",
    "TranscriptExported": "export.transcript",
    "ProfileCaptured": "profile.captured",
    "ReviewStarted": "review.start",
    "ReviewCompleted": "review.end",
    "ReviewPublished": "review.published",
    "ArtifactBundled": "artifact.created",
    "VisualArtifactCaptured": "artifact.created",
    "RemoteEnvConfigured": "remote.config",
    "RemoteEnvExecutionStarted": "remote.start",
    "RemoteEnvExecutionCompleted": "remote.end",
    "TeleportBundleCreated": "teleport.bundle",
    "TeleportHandoffLinkCreated": "teleport.link",
    "TeleportHandoffLinkConsumed": "teleport.link",
    "IdeSessionStarted": "ide.session",
    "WebSearchExecuted": "web.search",
    "NotebookEdited": "notebook.edit",
    "PdfTextExtracted": "pdf.extract",
    "TelemetryEvent": "telemetry",
    "RouterDecision": "telemetry",
    "RouterEscalation": "telemetry",
    "IndexBuild": "index.build",
    "IndexUpdate": "index.update",
    "IndexQueryEvent": "index.query",
    "Retrieval": "retrieval",
    "PrivacyRedaction": "privacy.redaction",
    "PrivacyBlock": "privacy.block",
    "Autocomplete": "autocomplete",
    "DoomLoopDetected": "agent.doom_loop",
    "CircuitBreakerTripped": "agent.circuit_breaker",
    "HallucinationNudgeFired": "agent.nudge",
    "ErrorRecoveryTriggered": "agent.error_recovery",
}


def _sql_literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def workspace_name(path: Path) -> str | None:
    """The workspace folder that holds `.codingbuddy/` (or `.deepseek/`): the event's project."""
    for parent in path.parents:
        if parent.name in (".codingbuddy", ".deepseek"):
            return parent.parent.name or None
    return None


def types_map_sql() -> str:
    """EVENT_TYPES as a DuckDB MAP literal (a lookup per row is cheaper than a join)."""
    pairs = ", ".join(f"'{raw}': '{mapped}'" for raw, mapped in EVENT_TYPES.items())
    return "MAP {" + pairs + "}"


# Payload fields the projection reads, extracted with ONE json_transform call per row (separate
# extraction calls would re-parse the document each time): alias -> JSON path under `kind`.
FIELDS: dict[str, str] = {
    "raw_type": "$.type",
    "msg_role": "$.payload.message.role",
    "msg_content": "$.payload.message.content",
    "role": "$.payload.role",
    "content": "$.payload.content",
    "call_name": "$.payload.proposal.call.name",
    "approved": "$.payload.proposal.approved",
    "tool_name": "$.payload.tool_name",
    "p_name": "$.payload.name",
    "model": "$.payload.model",
    "command": "$.payload.command",
    "plugin_id": "$.payload.plugin_id",
    "server_id": "$.payload.server_id",
    "proposal_inv": "$.payload.proposal.invocation_id",
    "result_inv": "$.payload.result.invocation_id",
    "invocation_id": "$.payload.invocation_id",
    "run_id": "$.payload.run_id",
    "patch_id": "$.payload.patch_id",
    "task_id": "$.payload.task_id",
    "job_id": "$.payload.job_id",
    "result_success": "$.payload.result.success",
    "result_error": "$.payload.result.output.error",
    "success": "$.payload.success",
    "timed_out": "$.payload.timed_out",
    "applied": "$.payload.applied",
    "state_from": "$.payload.from",
    "state_to": "$.payload.to",
    "last_error": "$.payload.last_error",
    "error": "$.payload.error",
    "reason": "$.payload.reason",
    "repeat_count": "$.payload.repeat_count",
    "consecutive_failures": "$.payload.consecutive_failures",
    "input_tokens": "$.payload.input_tokens",
    "output_tokens": "$.payload.output_tokens",
    "duration_ms": "$.payload.duration_ms",
    "elapsed_ms": "$.payload.elapsed_ms",
    "latency_ms": "$.payload.latency_ms",
}
_SUCCESS_VARIANTS = (
    "'RunCompleted', 'VerificationRun', 'HookExecuted', 'RemoteEnvExecutionCompleted', "
    "'TeleportHandoffLinkConsumed'"
)
_WARNING_VARIANTS = (
    "'ToolDenied', 'PrivacyBlock', 'TurnLimitExceeded', 'BudgetExceeded', 'DoomLoopDetected', "
    "'CircuitBreakerTripped', 'ErrorRecoveryTriggered', 'HallucinationNudgeFired'"
)


# chrono's `at` (RFC 3339 with Z) casts directly; other spellings go through the general parser.
AT_SQL = ("CASE WHEN NOT il_bad_offset(at_raw) THEN "
          "coalesce(try_cast(at_raw AS TIMESTAMPTZ), il_ts_utc(at_raw)) END")



def _transform_spec() -> str:
    """The json_transform structure for FIELDS: every leaf read as text."""
    spec: dict[str, Any] = {}
    for path in FIELDS.values():
        *parents, leaf = path[2:].split(".")
        node = spec
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = "VARCHAR"
    return json.dumps(spec)


def line_spec() -> str:
    """json_transform structure for a whole envelope line: the three top-level values as JSON
    (read with top_level_text, exactly as `->>` reads them) and `kind` with the FIELDS structure."""
    return json.dumps({"seq_no": "JSON", "at": "JSON", "session_id": "JSON",
                       "kind": json.loads(_transform_spec())})


def top_level_text(value: str) -> str:
    """SQL for `line->>'key'` from the JSON text json_transform gave for that key: a string
    unescaped (cut out of its quotes when it has no escape), anything else as its JSON text
    (json_transform's own VARCHAR would print 1.5E+300 as 1.5e+300, `->>` as 1.5e300)."""
    return (f"CASE WHEN NOT starts_with({value}, '\"') THEN CAST({value} AS VARCHAR) "
            f"WHEN contains({value}, '\\') THEN json_extract_string({value}, '$') "
            f"ELSE CAST({value} AS VARCHAR)[2:-2] END")


def projection_sql(source: str, project: str | None = None, *, transformed: bool = False) -> str:
    """Canonical event columns from a relation with (rn, seq_no, at_raw, session_id, kind JSON, raw).

    Shared by events.jsonl and store.sqlite so both copies of an event read the same way. With
    `transformed` the relation carries `f` (kind through json_transform with the FIELDS
    structure) instead of `kind` and `parsed_ts` (AT_SQL), and `raw`, the record's exact text,
    is its attrs.
    """
    named = ",\n           ".join(
        "f." + ".".join(f'"{key}"' for key in path[2:].split(".")) + f" AS {alias}"
        for alias, path in FIELDS.items()
    )
    fields = "" if transformed else (
        f", json_transform(kind, '{_transform_spec()}') AS f, {AT_SQL} AS parsed_ts")
    # The whole EventEnvelope as the writer serialized it (serde keeps field order), for a source
    # without the record's text: spliced from the already-serialized `kind` instead of
    # json_object(), which would parse `kind` again.
    attrs = "raw" if transformed else (
        "coalesce(raw, '{\"seq_no\":' || seq_no || ',\"at\":' || to_json(at_raw) || "
        "',\"session_id\":' || to_json(session_id) || ',\"kind\":' || kind || '}')")
    return f"""
WITH extracted AS (
    SELECT s.*{fields}
    FROM {source} s
), src AS (
    SELECT * EXCLUDE (f),
           {named},
           regexp_replace(f."type", 'V1$', '') AS variant
    FROM extracted
), typed AS (
    SELECT src.*, {types_map_sql()}[variant] AS mapped_type,
           result_success = 'true' AS ok_result, success = 'true' AS ok_success,
           applied = 'true' AS ok_applied,
           try_cast(coalesce(duration_ms, elapsed_ms, latency_ms) AS DOUBLE) AS duration_value
    FROM src
)
SELECT
    rn AS record_no,
    parsed_ts AS ts,
    at_raw AS ts_raw,
    CASE WHEN parsed_ts IS NULL THEN 'missing' WHEN suffix(at_raw, 'Z') THEN 'exact'
         ELSE il_ts_quality(at_raw, parsed_ts, 'assumed_utc') END AS ts_quality,
    session_id AS stream,
    CAST(seq_no AS BIGINT) AS seq,
    {_sql_literal(project)} AS project,
    rn AS position,
    coalesce(mapped_type, 'unknown') AS event_type,
    raw_type AS event_type_raw,
    CASE variant WHEN 'ChatTurn' THEN msg_role WHEN 'TurnAdded' THEN role ELSE 'agent' END
        AS actor,
    coalesce(call_name, tool_name, p_name, model, command, plugin_id, server_id) AS name,
    coalesce(proposal_inv, result_inv, invocation_id, run_id, patch_id, task_id, job_id)
        AS correlation_id,
    CASE
        WHEN variant = 'ToolResult' THEN CASE WHEN ok_result THEN 'ok' ELSE 'error' END
        WHEN variant IN ('ToolDenied', 'PrivacyBlock') THEN 'denied'
        WHEN variant = 'HookExecuted' AND timed_out = 'true' THEN 'timeout'
        WHEN variant = 'PatchApplied' THEN CASE WHEN ok_applied THEN 'ok' ELSE 'error' END
        WHEN variant IN ({_SUCCESS_VARIANTS}) THEN CASE WHEN ok_success THEN 'ok' ELSE 'error' END
        WHEN variant = 'SubagentFailed' THEN 'error'
        WHEN variant = 'SubagentCompleted' THEN 'ok'
    END AS outcome,
    CASE
        WHEN variant = 'SubagentFailed' OR (variant = 'SessionStateChanged' AND state_to = 'Failed')
            THEN 'error'
        WHEN variant IN ({_WARNING_VARIANTS}) THEN 'warning'
        WHEN variant = 'ToolResult' AND NOT ok_result THEN 'warning'
        WHEN variant = 'PatchApplied' AND NOT ok_applied THEN 'warning'
        WHEN variant IN ('RunCompleted', 'VerificationRun', 'HookExecuted') AND NOT ok_success
            THEN 'warning'
        WHEN variant = 'AutopilotRunHeartbeat' AND last_error IS NOT NULL THEN 'warning'
        ELSE 'info'
    END AS severity,
    -- a duration that is not a finite number ("fast", 1e400) is not one: NULL, kept in attrs
    CASE WHEN isfinite(duration_value) THEN duration_value END AS duration_ms,
    left(concat_ws(' ', raw_type, CASE variant
        WHEN 'ChatTurn' THEN msg_content
        WHEN 'TurnAdded' THEN content
        WHEN 'ToolProposed' THEN call_name || ' approved=' || approved
        WHEN 'ToolResult' THEN 'success=' || result_success
        WHEN 'ToolDenied' THEN tool_name || ': ' || reason
        WHEN 'SessionStateChanged' THEN state_from || ' -> ' || state_to
        WHEN 'RunStateChanged' THEN state_from || ' -> ' || state_to
        WHEN 'PatchApplied' THEN 'applied=' || applied
        WHEN 'DoomLoopDetected' THEN tool_name || ' x' || repeat_count
        WHEN 'CircuitBreakerTripped' THEN tool_name || ' after ' || consecutive_failures
                                          || ' failures'
        WHEN 'TelemetryEvent' THEN p_name
        WHEN 'UsageUpdated' THEN 'in=' || input_tokens || ' out=' || output_tokens
    END), 300) AS message,
    CASE
        WHEN variant IN ('ToolDenied', 'PrivacyBlock') THEN reason
        WHEN variant = 'PatchApplied' AND NOT ok_applied THEN 'patch_conflict'
        WHEN variant = 'TurnLimitExceeded' THEN 'turn_limit_exceeded'
        WHEN variant = 'BudgetExceeded' THEN 'budget_exceeded'
        WHEN variant = 'SubagentFailed' THEN left(error, 200)
        WHEN variant = 'ToolResult' AND NOT ok_result THEN left(result_error, 200)
    END AS error_code,
    CASE WHEN variant IN ('ToolDenied', 'PrivacyBlock') THEN 'policy' END AS error_category,
    {attrs} AS attrs
FROM typed
"""

# A tool call is a ToolProposed envelope, its arguments the proposal's `call.args` (its message
# names only the tool): what findings read as calls (loaders.base).
TOOL_CALL_TYPES = ("tool.proposed",)
TOOL_ARGUMENTS = "json_extract(attrs, '$.kind.payload.proposal.call.args')::VARCHAR"
# A ToolResult's message says only success=true|false; its output is the payload's.
TOOL_OUTPUT = "json_extract(attrs, '$.kind.payload.result.output')::VARCHAR"
