"""TOML catalogs (alert rules, failure modes) read with their `include = [...]` files."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from ..errors import UsageError


def read_entries(source: Path, key: str, what: str, seen: set[Path] | None = None
                 ) -> list[dict[str, Any]]:
    """The `[[key]]` tables of `source` and of the files it includes, in order."""
    seen = set() if seen is None else seen
    if source.resolve() in seen:
        raise UsageError(f"{source} includes itself", hint="remove the include cycle")
    seen.add(source.resolve())
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the {what} {source}: {exc.strerror or exc}",
                         hint="check the path") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source} is not valid TOML: {exc}", hint="fix the file") from exc
    entries = list(data.get(key, []))
    for name in data.get("include", []):
        entries += read_entries(source.parent / name, key, what, seen)
    return entries
