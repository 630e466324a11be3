"""JSON text to Python values without ever raising: limits and repairs that keep the record."""

from __future__ import annotations

import json
import re
from typing import Any

# Deeper than this is not an agent's record but damage (and would exhaust recursion downstream).
MAX_DEPTH = 200
# One record above this is quarantined rather than parsed (a whole document may be larger).
MAX_TEXT = 256 * 1024 * 1024

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _keep_constant(name: str) -> str:
    # NaN and Infinity are not JSON; kept as their text, they cannot poison a JSON column later.
    return name


_decoder = json.JSONDecoder(parse_constant=_keep_constant)


def parse_json(text: str, *, max_depth: int = MAX_DEPTH) -> tuple[Any, str | None]:
    """(value, None) for JSON text, or (None, the reason it is not a usable record)."""
    if len(text) > MAX_TEXT:
        return None, f"record of {len(text)} characters is above the {MAX_TEXT} limit"
    try:
        value = _decoder.decode(text)
    except RecursionError:
        return None, f"JSON nested deeper than {max_depth} levels"
    except ValueError as exc:  # JSONDecodeError, and integers above Python's digit limit
        return None, f"malformed JSON: {exc}"
    if (text.count("[") + text.count("{")) > max_depth and _depth(value, max_depth) > max_depth:
        return None, f"JSON nested deeper than {max_depth} levels"
    if _SURROGATE_ESCAPE.search(text):
        value = without_lone_surrogates(value)
    return value, None


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of containers, iteratively, stopping once it passes `limit`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _fix(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def without_lone_surrogates(value: Any) -> Any:
    """A lone surrogate (\\ud800) cannot be stored as UTF-8: its three bytes become U+FFFD each,
    the rest of the value stays."""
    if isinstance(value, str):
        return _fix(value)
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_fix(key): without_lone_surrogates(item) for key, item in value.items()}
    return value
