"""What replay integrity checks in CodingBuddy evidence.

Approved proposals and ToolApproved need a ToolResult and a ToolResult needs an approval
(`validate_replay_events`); SessionStateChanged follows `is_valid_session_state_transition`
(FORMATS §1.1); events.jsonl rows agree 1:1 with their store.sqlite copies by (session, seq_no).
"""

from __future__ import annotations

from ..base import Check, Mirror, Pairing, StateMachine

APPROVES = ("event_type = 'tool.approved' OR (event_type = 'tool.proposed' AND "
            "json_extract_string(attrs, '$.kind.payload.proposal.approved') = 'true')")
RESULT = "event_type = 'tool.result'"

SESSION_TRANSITIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Idle", ("Planning", "Paused", "Failed")),
    ("Planning", ("ExecutingStep", "Verifying", "Paused", "Failed")),
    ("ExecutingStep", ("AwaitingApproval", "Verifying", "Planning", "Completed", "Paused",
                       "Failed")),
    ("AwaitingApproval", ("ExecutingStep", "Planning", "Paused", "Failed")),
    ("Verifying", ("Planning", "ExecutingStep", "Completed", "Paused", "Failed")),
    ("Completed", ("Idle", "Planning")),
    ("Paused", ("Planning", "ExecutingStep", "Failed")),
    ("Failed", ("Planning", "Idle")),
)

CHECKS: tuple[Check, ...] = (
    Pairing("tool_result_missing", APPROVES, RESULT, "correlation_id", order="any",
            where="correlation_id IS NOT NULL", orphan="tool_result_orphan",
            wanted="ToolResult for ", wanted_opener="approval of "),
    StateMachine("session_state_transition", "session_state_discontinuity",
                 where="event_type = 'session.state'",
                 from_="json_extract_string(attrs, '$.kind.payload.from')",
                 to="json_extract_string(attrs, '$.kind.payload.to')",
                 allowed=SESSION_TRANSITIONS),
    Mirror(where="seq IS NOT NULL", reference="NOT is_mirror AND source = 'events_jsonl'",
           copy="is_mirror AND source = 'store_sqlite'", match=("seq",),
           compare=("event_type", "ts"), columns=("seq", "event_type", "ts"),
           missing=("'store.sqlite row for seq ' || r.seq", "'none'"),
           extra=("'events.jsonl line for seq ' || c.seq", "'none'"),
           mismatch=("r.event_type || ' at ' || r.ts", "c.event_type || ' at ' || c.ts"),
           report="r", when="copies"),
)
