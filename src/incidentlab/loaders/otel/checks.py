"""What replay integrity checks in OTel spans: a tool call and its result share the call id."""

from __future__ import annotations

from ..transcripts.checks import CHECKS

__all__ = ["CHECKS"]
