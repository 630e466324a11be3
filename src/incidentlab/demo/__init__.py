"""The demo incident: a multi-system bundle with its ground truth, ingested and checked in one call."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import coding_loops, codingbuddy, curriculum, jido, tapps
from .story import END, LOCAL_TZ, Story

WRITERS = (codingbuddy, jido, coding_loops, curriculum, tapps)


@dataclass
class Bundle:
    root: Path
    manifest: dict[str, Any]

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"


def build_bundle(out: Path, *, seed: int = 7, scale: int = 1) -> Bundle:
    """Write the evidence of all five systems under `out/bundle/evidence` plus manifest.json."""
    root = out / "bundle"
    if root.exists():
        shutil.rmtree(root)
    evidence = root / "evidence"
    evidence.mkdir(parents=True)
    story = Story(seed=seed, scale=scale)
    for writer in WRITERS:
        writer.write(story, evidence)
    _settle_mtimes(evidence)
    bundle = Bundle(root, story.manifest)
    bundle.manifest_path.write_text(json.dumps(story.manifest, indent=2, sort_keys=True))
    return bundle


def _settle_mtimes(evidence: Path) -> None:
    """Files copied off a machine after the incident: no mtime later than the story's end."""
    end = END.timestamp()
    for path in evidence.rglob("*"):
        if path.is_file() and path.stat().st_mtime > end:
            os.utime(path, (end, end))


__all__ = ["LOCAL_TZ", "Bundle", "build_bundle"]
