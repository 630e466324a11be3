"""Tapps advanced manager `workflow-state/<workflow_id>.meta.json`: which state file is current."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from ..base import LoadContext, LoadResult
from .common import SYSTEM, in_tapps
from .pointers import load_pointer


class StateMetaLoader:
    name: ClassVar[str] = "tapps.state_meta"
    system: ClassVar[str] = SYSTEM
    source: ClassVar[str] = "state_meta"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "Tapps <workflow_id>.meta.json (state file, checksum, saved_at)"

    def detect(self, path: Path, head: bytes) -> bool:
        if not path.name.endswith(".meta.json"):
            return False
        return in_tapps(path) or (b'"state_file"' in head and b'"checksum"' in head)

    def load(self, ctx: LoadContext) -> LoadResult:
        return load_pointer(ctx, "state_meta", ("workflow_id", "state_file"))
