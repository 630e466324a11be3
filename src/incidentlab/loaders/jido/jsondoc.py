"""Read a whole JSON document for the Jido loaders, turning failures into one quarantine record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..base import Quarantine, excerpt


def read_json(path: Path) -> tuple[Any, Quarantine | None]:
    raw = path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8-sig", "replace")), None
    except json.JSONDecodeError as exc:
        return None, Quarantine(exc.lineno, f"malformed JSON document: {exc.msg}", excerpt(raw))


def raw_excerpt(value: Any) -> str | None:
    """A quarantined record as JSON text (cut to the usual excerpt length)."""
    return excerpt(json.dumps(value, default=str, ensure_ascii=False))
