"""CodingBuddy event kinds mapped into the shared event_type taxonomy, and the SQL that projects them."""

from __future__ import annotations

from pathlib import Path

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


def types_table_sql() -> str:
    """A VALUES list usable as a relation: (variant, event_type)."""
    rows = ", ".join(f"('{raw}', '{mapped}')" for raw, mapped in EVENT_TYPES.items())
    return f"(VALUES {rows}) AS cb_types(type_variant, mapped_type)"


def projection_sql(source: str, project: str | None = None) -> str:
    """Canonical event columns from a relation with (rn, seq_no, at_raw, session_id, kind JSON, raw).

    Shared by events.jsonl and store.sqlite so both copies of an event read the same way.
    """
    return f"""
WITH src AS (
    SELECT s.*, json_extract_string(kind, '$.type') AS raw_type,
           regexp_replace(json_extract_string(kind, '$.type'), 'V1$', '') AS variant,
           il_ts_utc(at_raw) AS parsed_ts
    FROM {source} s
)
SELECT
    rn AS record_no,
    parsed_ts AS ts,
    at_raw AS ts_raw,
    il_ts_quality(at_raw, parsed_ts, 'assumed_utc') AS ts_quality,
    session_id AS stream,
    CAST(seq_no AS BIGINT) AS seq,
    {_sql_literal(project)} AS project,
    rn AS position,
    coalesce(mapped_type, 'unknown') AS event_type,
    raw_type AS event_type_raw,
    CASE variant WHEN 'ChatTurn' THEN json_extract_string(kind, '$.payload.message.role')
                 WHEN 'TurnAdded' THEN json_extract_string(kind, '$.payload.role') ELSE 'agent' END AS actor,
    coalesce(json_extract_string(kind, '$.payload.proposal.call.name'), json_extract_string(kind, '$.payload.tool_name'), json_extract_string(kind, '$.payload.name'),
             json_extract_string(kind, '$.payload.model'), json_extract_string(kind, '$.payload.command'), json_extract_string(kind, '$.payload.plugin_id'), json_extract_string(kind, '$.payload.server_id')) AS name,
    coalesce(json_extract_string(kind, '$.payload.proposal.invocation_id'), json_extract_string(kind, '$.payload.result.invocation_id'),
             json_extract_string(kind, '$.payload.invocation_id'), json_extract_string(kind, '$.payload.run_id'), json_extract_string(kind, '$.payload.patch_id'),
             json_extract_string(kind, '$.payload.task_id'), json_extract_string(kind, '$.payload.job_id')) AS correlation_id,
    CASE
        WHEN variant = 'ToolResult' THEN
            CASE WHEN CAST(json_extract_string(kind, '$.payload.result.success') AS BOOLEAN) THEN 'ok' ELSE 'error' END
        WHEN variant = 'ToolDenied' OR variant = 'PrivacyBlock' THEN 'denied'
        WHEN variant = 'HookExecuted' AND CAST(json_extract_string(kind, '$.payload.timed_out') AS BOOLEAN) THEN 'timeout'
        WHEN variant = 'PatchApplied' THEN
            CASE WHEN CAST(json_extract_string(kind, '$.payload.applied') AS BOOLEAN) THEN 'ok' ELSE 'error' END
        WHEN variant IN ('RunCompleted', 'VerificationRun', 'HookExecuted',
                         'RemoteEnvExecutionCompleted', 'TeleportHandoffLinkConsumed') THEN
            CASE WHEN CAST(json_extract_string(kind, '$.payload.success') AS BOOLEAN) THEN 'ok' ELSE 'error' END
        WHEN variant = 'SubagentFailed' THEN 'error'
        WHEN variant = 'SubagentCompleted' THEN 'ok'
    END AS outcome,
    CASE
        WHEN variant = 'SubagentFailed' OR (variant = 'SessionStateChanged' AND json_extract_string(kind, '$.payload.to') = 'Failed')
            THEN 'error'
        WHEN variant IN ('ToolDenied', 'PrivacyBlock', 'TurnLimitExceeded', 'BudgetExceeded',
                         'DoomLoopDetected', 'CircuitBreakerTripped', 'ErrorRecoveryTriggered',
                         'HallucinationNudgeFired')
            THEN 'warning'
        WHEN variant = 'ToolResult' AND NOT CAST(json_extract_string(kind, '$.payload.result.success') AS BOOLEAN) THEN 'warning'
        WHEN variant = 'PatchApplied' AND NOT CAST(json_extract_string(kind, '$.payload.applied') AS BOOLEAN) THEN 'warning'
        WHEN variant IN ('RunCompleted', 'VerificationRun', 'HookExecuted')
             AND NOT CAST(json_extract_string(kind, '$.payload.success') AS BOOLEAN) THEN 'warning'
        WHEN variant = 'AutopilotRunHeartbeat' AND json_extract_string(kind, '$.payload.last_error') IS NOT NULL THEN 'warning'
        WHEN mapped_type IS NULL THEN 'info'
        ELSE 'info'
    END AS severity,
    CAST(coalesce(json_extract_string(kind, '$.payload.duration_ms'), json_extract_string(kind, '$.payload.elapsed_ms'), json_extract_string(kind, '$.payload.latency_ms')) AS DOUBLE)
        AS duration_ms,
    left(concat_ws(' ', raw_type,
        CASE variant
            WHEN 'ChatTurn' THEN json_extract_string(kind, '$.payload.message.content')
            WHEN 'TurnAdded' THEN json_extract_string(kind, '$.payload.content')
            WHEN 'ToolProposed' THEN (json_extract_string(kind, '$.payload.proposal.call.name')) || ' approved='
                                     || (json_extract_string(kind, '$.payload.proposal.approved'))
            WHEN 'ToolResult' THEN 'success=' || (json_extract_string(kind, '$.payload.result.success'))
            WHEN 'ToolDenied' THEN (json_extract_string(kind, '$.payload.tool_name')) || ': ' || (json_extract_string(kind, '$.payload.reason'))
            WHEN 'SessionStateChanged' THEN (json_extract_string(kind, '$.payload.from')) || ' -> ' || (json_extract_string(kind, '$.payload.to'))
            WHEN 'RunStateChanged' THEN (json_extract_string(kind, '$.payload.from')) || ' -> ' || (json_extract_string(kind, '$.payload.to'))
            WHEN 'PatchApplied' THEN 'applied=' || (json_extract_string(kind, '$.payload.applied'))
            WHEN 'DoomLoopDetected' THEN (json_extract_string(kind, '$.payload.tool_name')) || ' x' || (json_extract_string(kind, '$.payload.repeat_count'))
            WHEN 'CircuitBreakerTripped' THEN (json_extract_string(kind, '$.payload.tool_name')) || ' after '
                                     || (json_extract_string(kind, '$.payload.consecutive_failures')) || ' failures'
            WHEN 'TelemetryEvent' THEN json_extract_string(kind, '$.payload.name')
            WHEN 'UsageUpdated' THEN 'in=' || (json_extract_string(kind, '$.payload.input_tokens')) || ' out='
                                     || (json_extract_string(kind, '$.payload.output_tokens'))
        END), 300) AS message,
    CASE
        WHEN variant = 'ToolDenied' THEN json_extract_string(kind, '$.payload.reason')
        WHEN variant = 'PrivacyBlock' THEN json_extract_string(kind, '$.payload.reason')
        WHEN variant = 'PatchApplied' AND NOT CAST(json_extract_string(kind, '$.payload.applied') AS BOOLEAN)
            THEN 'patch_conflict'
        WHEN variant = 'TurnLimitExceeded' THEN 'turn_limit_exceeded'
        WHEN variant = 'BudgetExceeded' THEN 'budget_exceeded'
        WHEN variant = 'SubagentFailed' THEN left(json_extract_string(kind, '$.payload.error'), 200)
        WHEN variant = 'ToolResult' AND NOT CAST(json_extract_string(kind, '$.payload.result.success') AS BOOLEAN)
            THEN left(json_extract_string(kind, '$.payload.result.output.error'), 200)
    END AS error_code,
    CASE WHEN variant IN ('ToolDenied', 'PrivacyBlock') THEN 'policy' END AS error_category,
    coalesce(CAST(raw AS JSON), json_object('seq_no', seq_no, 'at', at_raw, 'session_id', session_id,
                                            'kind', kind)) AS attrs
FROM src LEFT JOIN {types_table_sql()} ON src.variant = cb_types.type_variant
"""
