"""Report parameters checked before a kernel starts: zone, scope times, milestones, severity."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import UsageError
from ..scope import FIELDS as SCOPE_FIELDS
from ..scope import Scope, parse_time

MILESTONES = ("started", "detected", "mitigated", "resolved")


def validate_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """Raise UsageError (exit 2) for a value the notebook would only reject inside the kernel.

    Checks `display_tz` (an IANA zone), the scope (`start`, `end`, `pivot`, `span_minutes`, ...:
    readable times, a window that does not end before it starts), `milestones` (known names,
    readable times) and `rules_path` (an existing file). Returns `values` unchanged.
    """
    zone = values.get("display_tz")
    if zone not in (None, ""):
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise UsageError(f"display_tz: unknown time zone {zone!r}",
                             hint="use an IANA name such as UTC or Europe/Berlin") from exc
    Scope.build(**{k: values[k] for k in SCOPE_FIELDS if k in values})
    milestones = values.get("milestones")
    if milestones not in (None, ""):
        if not isinstance(milestones, dict):
            raise UsageError(f"milestones: expected a mapping, got {milestones!r}",
                             hint='e.g. -p milestones="{resolved: 2026-03-01T11:00:00Z}"')
        for name, when in milestones.items():
            if str(name) not in MILESTONES:
                raise UsageError(f"milestones: unknown milestone {name!r}",
                                 hint=f"choose from: {', '.join(MILESTONES)}")
            parse_time(when, f"milestones[{name}]")
    rules = values.get("rules_path")
    if rules not in (None, "") and not Path(str(rules)).expanduser().is_file():
        raise UsageError(f"rules_path: no file at {rules}", hint="pass an existing rules TOML")
    return values
