"""curriculum-builder `inputs/topic_spec.json`: ready or not, which fields are placeholders."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from ..base import LoadContext, LoadResult
from .artifact_base import Summary, is_artifact, load_json_artifact
from .common import SYSTEM

REQUIRED = (
    "spec_version",
    "goal",
    "audience",
    "prerequisites",
    "scope_in",
    "scope_out",
    "constraints",
    "domain_mode",
    "evidence_mode",
)
PLACEHOLDER_PREFIX = "replace_with"


def placeholder_fields(value: Any, path: str = "") -> list[str]:
    """Dotted paths of every string that still starts with the template's `replace_with`."""
    if isinstance(value, str):
        # the templates write `replace_with_x` and, in older ones, `Replace With X`
        normalized = re.sub(r"[\s-]+", "_", value.strip().lower())
        return [path or "$"] if normalized.startswith(PLACEHOLDER_PREFIX) else []
    if isinstance(value, dict):
        return [
            found
            for key, item in value.items()
            for found in placeholder_fields(item, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(value, list):
        return [
            found
            for i, item in enumerate(value)
            for found in placeholder_fields(item, f"{path}[{i}]")
        ]
    return []


def summarize(doc: dict[str, Any]) -> Summary:
    placeholders = placeholder_fields(doc)
    missing = [key for key in REQUIRED if key not in doc]
    ready = not placeholders and not missing
    problems = []
    if placeholders:
        problems.append(f"placeholders in {', '.join(placeholders)}")
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    message = "topic spec ready" if ready else "topic spec not ready: " + "; ".join(problems)
    return Summary(
        message=message,
        severity="info" if ready else "warning",
        outcome="ok" if ready else "error",
        metrics={"topic_spec.placeholder_fields": (len(placeholders), "fields")},
        facts={
            "topic_spec_ready": ready,
            "placeholder_fields": placeholders,
            "missing_fields": missing,
            "evidence_mode": doc.get("evidence_mode"),
        },
    )


class TopicSpecLoader:
    name: ClassVar[str] = "curriculum_builder.topic_spec"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "topic_spec"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "curriculum-builder inputs/topic_spec.json: ready or not, which fields are placeholders"
    )

    def detect(self, path: Path, head: bytes) -> bool:
        return is_artifact(path, "topic_spec.json", "inputs", head, b'"scope_in"', b'"goal"')

    def load(self, ctx: LoadContext) -> LoadResult:
        return load_json_artifact(ctx, "topic_spec", summarize)
