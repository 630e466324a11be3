"""What replay integrity checks in agent transcripts: a tool call and its result share the
tool call id."""

from __future__ import annotations

from ..base import Check, Pairing

CHECKS: tuple[Check, ...] = (
    Pairing("tool_call_unclosed", "event_type = 'tool.call'", "event_type = 'tool.result'",
            "coalesce(correlation_id, '')"),
)
