"""The shipped seed runbooks: which system each belongs to, and the section a cited line sits in."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# "000_2b1888b16b525627.txt:14 quote" as alert rules and failure modes cite a runbook line.
CITATION = re.compile(r"(?P<file>[\w.-]+\.(?:txt|md)):(?P<line>\d+)")
MAX_SECTION_LINES = 60


@dataclass(frozen=True)
class Reference:
    """A runbook line, named by its system and the runbook's own section headings."""

    file: str
    line: int
    system: str
    title: str
    section: str  # heading path, "Primary Signals and Alert Thresholds › Tool execution"
    text: str  # the section's Markdown, from its heading to the next one of the same level
    quote: str  # the cited line itself

    @property
    def anchor(self) -> str:
        return f"runbook-{self.file.split('.')[0]}-{self.line}"

    @property
    def label(self) -> str:
        return f"{self.system} runbook, {self.section or self.title}, line {self.line}"


def _folder() -> Traversable:
    return resources.files("incidentlab") / "rules" / "runbooks"


@cache
def catalog() -> dict[str, dict[str, str]]:
    """file name -> {system, source} of the shipped runbooks."""
    data = tomllib.loads((_folder() / "index.toml").read_text(encoding="utf-8"))
    return {entry["file"]: entry for entry in data.get("runbook", [])}


@cache
def _lines(file: str) -> tuple[str, ...] | None:
    if file not in catalog():
        return None
    return tuple((_folder() / file).read_text(encoding="utf-8").splitlines())


def reference(file: str, line: int) -> Reference | None:
    """The cited line's system, heading path and section text; None for an unknown runbook or a
    line past its end."""
    lines = _lines(file)
    if lines is None or not 1 <= line <= len(lines):
        return None
    headings: list[tuple[int, str, int]] = []  # (level, text, line index) of the open headings
    title = ""
    for index, text in enumerate(lines[:line]):
        match = _HEADING.match(text)
        if match:
            level = len(match.group(1))
            title = title or (match.group(2) if level == 1 else "")
            headings = [h for h in headings if h[0] < level] + [(level, match.group(2), index)]
    inner = [h for h in headings if h[0] > 1] or headings
    level, _text, start = inner[-1] if inner else (0, "", 0)
    end = next((i for i in range(start + 1, len(lines))
                if (m := _HEADING.match(lines[i])) and len(m.group(1)) <= max(level, 1)),
               len(lines))
    end = min(end, start + MAX_SECTION_LINES)
    return Reference(
        file=file, line=line, system=catalog()[file]["system"], title=title,
        section=" › ".join(h[1] for h in inner), text="\n".join(lines[start:end]),
        quote=lines[line - 1].strip())


def cited(texts: list[str | None]) -> list[Reference]:
    """Every runbook line cited in these texts ("file.txt:14 ..."), once each, in file/line order."""
    found = {(m.group("file"), int(m.group("line"))) for text in texts if text
             for m in CITATION.finditer(text)}
    refs = (reference(file, line) for file, line in sorted(found))
    return [r for r in refs if r is not None]
