"""The advanced state manager's `_checksum` (StateValidator.calculate_checksum), recomputed."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def state_checksum(state: dict[str, Any]) -> str | None:
    """sha256 over the stable subset the tool hashes; `_checksum` itself is not part of it.

    None when the tool itself could not have hashed the state (steps of mixed types do not sort).
    """
    completed = state.get("completed_steps", [])
    skipped = state.get("skipped_steps", [])
    try:
        stable = {
            "workflow_id": state.get("workflow_id"),
            "current_step": state.get("current_step"),
            "completed_steps": sorted(completed) if isinstance(completed, list) else completed,
            "skipped_steps": sorted(skipped) if isinstance(skipped, list) else skipped,
            "status": state.get("status"),
            "variables": json.dumps(state.get("variables", {}), sort_keys=True),
        }
    except TypeError:
        return None
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()
