"""incidentlab: post-incident forensics for AI coding-agent systems.

```python
import incidentlab
inc = incidentlab.open("incident.duckdb", pivot="2026-03-01T09:10:00Z")
timeline, replay, alerts = inc.timeline(), inc.replay(), inc.alerts()
```

`open`, `open_lake` (a Parquet lake), `ingest` and `report` are the whole public API (see
`incidentlab.api`). Importing the package is cheap: the names load their modules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .api import Classification, Incident, Info, LakeIncident, Replay, ingest, open, open_lake, report
    from .scope import Scope

__all__ = ["Classification", "Incident", "Info", "LakeIncident", "Replay", "Scope", "__version__",
           "ingest", "open", "open_lake", "report"]

_LAZY = {"Classification": "api", "Incident": "api", "Info": "api", "LakeIncident": "api",
         "Replay": "api", "ingest": "api", "open": "api", "open_lake": "api", "report": "api",
         "Scope": "scope"}


def __getattr__(name: str) -> Any:
    # PEP 562: `incidentlab.open` imports incidentlab.api (polars, duckdb) only when used.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
