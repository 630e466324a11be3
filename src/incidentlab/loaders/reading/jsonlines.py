"""JSON Lines: every line parsed on its own, numbered as in the file, bad ones quarantined."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .jsonvalue import parse_json
from .quarantine import Quarantine
from .text import decode, escaped, excerpt, iter_raw_lines


class JsonLines:
    """Iterate a JSON Lines file as (physical line number, object, raw line).

    `read` counts the non-blank lines seen; a line that is not a JSON object goes to `quarantine`
    with its number and its exact bytes, and a loader may append its own rejects to the same list.
    The raw line is the text with any invalid UTF-8 byte written as a \\xNN escape.
    """

    def __init__(self, path: Path, quarantine: list[Quarantine] | None = None) -> None:
        self.path = path
        self.read = 0
        self.quarantine: list[Quarantine] = [] if quarantine is None else quarantine

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any], str]]:
        for number, raw in iter_raw_lines(self.path):
            self.read += 1
            value, problem = parse_json(decode(raw))
            if problem is None and not isinstance(value, dict):
                problem = "not a JSON object"
            if problem is not None:
                self.quarantine.append(Quarantine(number, problem, excerpt(raw)))
                continue
            yield number, value, escaped(raw)
