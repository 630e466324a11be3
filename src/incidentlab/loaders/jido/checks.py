"""What replay integrity checks in Jido events: tool calls and LLM requests are closed."""

from __future__ import annotations

from ..base import Check, Pairing

CHECKS: tuple[Check, ...] = (
    Pairing("jido_tool_unclosed", "event_type = 'tool.call'", "event_type = 'tool.result'",
            "coalesce(correlation_id, '') || '|' || coalesce(name, '')"),
    Pairing("jido_llm_unclosed", "event_type = 'llm.request'",
            "event_type IN ('llm.response', 'llm.error')", "coalesce(correlation_id, '')"),
)
