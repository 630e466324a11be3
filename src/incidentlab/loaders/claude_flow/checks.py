"""What replay integrity checks in claude-flow evidence: every spawned process reports its end."""

from __future__ import annotations

from ..base import Check, Pairing

CHECKS: tuple[Check, ...] = (
    Pairing("process_unclosed", "event_type = 'process.start'", "event_type = 'process.end'",
            "coalesce(correlation_id, '')"),
)
