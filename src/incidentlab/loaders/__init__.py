"""Loader registry: built-ins listed explicitly, third-party loaders through entry points."""

from __future__ import annotations

import functools
import warnings
from importlib.metadata import entry_points
from typing import Any

from ..errors import UnknownLoaderError
from .base import LoadContext, Loader, LoadResult, Quarantine
from .claude_flow.hive_db import HiveDbLoader
from .claude_flow.memory_json import MemoryJsonLoader
from .claude_flow.process_metrics import ProcessMetricsLoader
from .coding_loops.coordination_db import CoordinationDbLoader
from .coding_loops.health_json import HealthJsonLoader
from .coding_loops.test_state import TestStateLoader
from .coding_loops.transcript import LoopTranscriptLoader
from .coding_loops.unified_transcript import UnifiedTranscriptLoader
from .codingbuddy.events import EventsJsonlLoader
from .codingbuddy.observe import ObserveLogLoader
from .codingbuddy.patches import PatchDiffLoader, PatchLoader
from .codingbuddy.snapshots import SnapshotLoader
from .codingbuddy.store import StoreSqliteLoader
from .curriculum_builder.console_log import OrchestrationLogLoader
from .curriculum_builder.diff_report import DiffReportLoader
from .curriculum_builder.events_jsonl import RunEventsJsonlLoader
from .curriculum_builder.optimization_trace import OptimizationTraceLoader
from .curriculum_builder.plan import PlanLoader
from .curriculum_builder.run_json import RunJsonLoader
from .curriculum_builder.topic_spec import TopicSpecLoader
from .curriculum_builder.validation_marker import ValidationMarkerLoader
from .curriculum_builder.validation_report import ValidationReportLoader
from .generic import CsvLogLoader, JsonlLogLoader
from .jido.conversation import ConversationEventsLoader
from .jido.diagnostics import DiagnosticsLoader
from .jido.telemetry_jsonl import TelemetryJsonlLoader
from .jido.timeline import IncidentTimelineLoader
from .otel import OtelLoader
from .statuspage.incidents import IncidentsJsonLoader
from .tapps.analytics_history import AnalyticsHistoryLoader
from .tapps.audit_log import AuditLogLoader
from .tapps.error_envelope import ErrorEnvelopeLoader
from .tapps.executions import ExecutionsMetricsLoader
from .tapps.last_pointer import LastPointerLoader
from .tapps.state import WorkflowStateLoader
from .tapps.state_meta import StateMetaLoader
from .tapps.step_marker import StepMarkerLoader
from .tapps.structured_log import StructuredLogLoader
from .tapps.workflow_events import WorkflowEventsLoader
from .textlog import TextLogLoader
from .transcripts.aider import AiderHistoryLoader
from .transcripts.beads import BeadsIssuesLoader
from .transcripts.claude_code import ClaudeCodeLoader
from .transcripts.codex_cli import CodexRolloutLoader
from .transcripts.gemini_cli import GeminiSessionLoader
from .transcripts.mini_swe_agent import MiniSweAgentLoader
from .transcripts.openhands import OpenHandsEventsLoader, OpenHandsOutputLoader
from .transcripts.superpowers import DecisionsLoader, TaskEventsLoader
from .transcripts.superpowers_documents import TaskDocumentsLoader
from .transcripts.swe_agent import SweAgentLogLoader, SweAgentPredsLoader, SweAgentTrajLoader

__all__ = ["LoadContext", "LoadResult", "Loader", "Quarantine", "all_loaders", "get_loader"]

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
    CoordinationDbLoader,
    HealthJsonLoader,
    TestStateLoader,
    LoopTranscriptLoader,
    UnifiedTranscriptLoader,
    RunJsonLoader,
    RunEventsJsonlLoader,
    ValidationReportLoader,
    ValidationMarkerLoader,
    TopicSpecLoader,
    PlanLoader,
    DiffReportLoader,
    OptimizationTraceLoader,
    OrchestrationLogLoader,
    WorkflowStateLoader,
    StateMetaLoader,
    LastPointerLoader,
    WorkflowEventsLoader,
    StepMarkerLoader,
    AuditLogLoader,
    ExecutionsMetricsLoader,
    AnalyticsHistoryLoader,
    StructuredLogLoader,
    ErrorEnvelopeLoader,
    OtelLoader,
    ClaudeCodeLoader,
    CodexRolloutLoader,
    GeminiSessionLoader,
    SweAgentTrajLoader,
    SweAgentPredsLoader,
    SweAgentLogLoader,
    MiniSweAgentLoader,
    OpenHandsEventsLoader,
    OpenHandsOutputLoader,
    AiderHistoryLoader,
    BeadsIssuesLoader,
    TaskEventsLoader,
    DecisionsLoader,
    TaskDocumentsLoader,
    IncidentsJsonLoader,
    HiveDbLoader,
    ProcessMetricsLoader,
    MemoryJsonLoader,
    # generic catch-alls stay last (in this order)
    JsonlLogLoader,
    CsvLogLoader,
    TextLogLoader,
]


@functools.cache
def _plugin_entries() -> tuple[tuple[str, Any], ...]:
    """The installed plugins' loader classes (or instances), looked up once per process: the
    lookup reads every installed package's metadata, and analyses ask for the loaders often."""
    found = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found.append((entry.name, entry.load()))
        except Exception as exc:  # a broken plugin must not take the CLI down
            warnings.warn(f"loader plugin {entry.name!r} failed to load: {exc}", stacklevel=2)
    return tuple(found)


def _plugin_loaders() -> list[Loader]:
    found: list[Loader] = []
    for name, obj in _plugin_entries():
        try:
            found.append(obj() if isinstance(obj, type) else obj)
        except Exception as exc:  # a broken plugin must not take the CLI down
            warnings.warn(f"loader plugin {name!r} failed to load: {exc}", stacklevel=2)
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
