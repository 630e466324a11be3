"""Loader registry: built-ins listed explicitly, third-party loaders via the `incidentlab.loaders` entry points."""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points

from ..errors import UnknownLoaderError
from .base import Loader, LoadContext, LoadResult, Quarantine
from .codingbuddy.events import EventsJsonlLoader
from .codingbuddy.observe import ObserveLogLoader
from .codingbuddy.patches import PatchDiffLoader, PatchLoader
from .codingbuddy.snapshots import SnapshotLoader
from .codingbuddy.store import StoreSqliteLoader
from .jido.conversation import ConversationEventsLoader
from .jido.diagnostics import DiagnosticsLoader
from .jido.telemetry_jsonl import TelemetryJsonlLoader
from .jido.timeline import IncidentTimelineLoader
from .textlog import TextLogLoader

__all__ = ["Loader", "LoadContext", "LoadResult", "Quarantine", "all_loaders", "get_loader"]

ENTRY_POINT_GROUP = "incidentlab.loaders"

# Order is detection priority: specific formats first, generic catch-alls last.
BUILTIN_LOADERS: list[type] = [
    EventsJsonlLoader,
    StoreSqliteLoader,
    ObserveLogLoader,
    PatchLoader,
    PatchDiffLoader,
    SnapshotLoader,
    IncidentTimelineLoader,
    DiagnosticsLoader,
    ConversationEventsLoader,
    TelemetryJsonlLoader,
    # generic catch-alls stay last (in this order)
    TextLogLoader,
]


def _plugin_loaders() -> list[Loader]:
    found: list[Loader] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = entry.load()
            found.append(obj() if isinstance(obj, type) else obj)
        except Exception as exc:  # a broken plugin must not take the CLI down
            warnings.warn(f"loader plugin {entry.name!r} failed to load: {exc}", stacklevel=2)
    return found


def all_loaders() -> list[Loader]:
    loaders: list[Loader] = [cls() for cls in BUILTIN_LOADERS]
    names = {loader.name for loader in loaders}
    for plugin in _plugin_loaders():
        if plugin.name not in names:
            loaders.append(plugin)
            names.add(plugin.name)
    return loaders


def get_loader(name: str) -> Loader:
    loaders = all_loaders()
    for loader in loaders:
        if loader.name == name:
            return loader
    raise UnknownLoaderError(name, [loader.name for loader in loaders])
