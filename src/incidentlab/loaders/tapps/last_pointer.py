"""Tapps `workflow-state/last.json`: the pointer to the most recently saved workflow state."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from ..base import LoadContext, LoadResult
from .common import SYSTEM, in_tapps
from .pointers import load_pointer


class LastPointerLoader:
    name: ClassVar[str] = "tapps.last_pointer"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "last_pointer"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "Tapps workflow-state/last.json (latest state pointer)"

    def detect(self, path: Path, head: bytes) -> bool:
        if path.name != "last.json":
            return False
        return in_tapps(path) or (b'"state_file"' in head and b'"workflow_id"' in head)

    def load(self, ctx: LoadContext) -> LoadResult:
        return load_pointer(ctx, "last_pointer", ("workflow_id", "state_file"))
