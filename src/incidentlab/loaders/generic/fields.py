"""Which record fields mean time, message, severity...: a TOML mapping or common names."""

from __future__ import annotations

import fnmatch
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...errors import LoaderError

MAPPING_ENV = "INCIDENTLAB_MAPPING"
MAPPING_FILE = "incidentlab-mapping.toml"
ROLES = ("time", "message", "severity", "stream", "sequence", "correlation_id", "name")

# Common field names, most specific first (ECS, journald, Cloudflare, pino/bunyan, structlog,
# Python logging JSON formatters, Serilog compact, GELF, lnav samples).
CANDIDATES: dict[str, tuple[str, ...]] = {
    "time": ("@timestamp", "timestamp", "time", "ts", "datetime", "date", "__REALTIME_TIMESTAMP",
             "_SOURCE_REALTIME_TIMESTAMP", "EdgeStartTimestamp", "eventTime", "event_time",
             "logged_at", "asctime", "@t", "Timestamp", "TimeGenerated", "time_local", "t"),
    "message": ("message", "msg", "MESSAGE", "@fields.msg", "@m", "@mt", "log", "text",
                "Message", "short_message", "full_message", "summary", "event", "body"),
    "severity": ("level", "log.level", "severity", "lvl", "@fields.lvl", "levelname", "PRIORITY",
                 "@l", "loglevel", "log_level", "Level", "severity_text", "SeverityText"),
    "stream": (),
    "sequence": ("seq", "sequence", "sequence_number"),
    "correlation_id": ("trace_id", "traceId", "trace.id", "correlation_id", "correlationId",
                       "request_id", "requestId", "x_request_id", "RayID"),
    "name": ("logger", "log.logger", "logger_name", "name", "SYSLOG_IDENTIFIER", "component",
             "@fields.logger"),
}
# HTTP access records (Cloudflare, ECS http.*, nginx JSON) get a message built from these.
HTTP = {
    "method": ("ClientRequestMethod", "http.request.method", "request_method", "method"),
    "target": ("ClientRequestURI", "url.path", "request_uri", "uri", "path", "url"),
    "status": ("EdgeResponseStatus", "http.response.status_code", "status_code", "status"),
    "host": ("ClientRequestHost", "url.domain", "host"),
}


@dataclass(frozen=True)
class Mapping_:
    """Field names per role (None = auto-detect) plus how to read the time."""

    fields: dict[str, str | None]
    time_format: str | None = None  # iso | epoch | epoch_s|ms|us|ns | strptime pattern
    naive: str = "local"  # zone-less times: local (needs --tz) | utc
    delimiter: str | None = None
    source: str | None = None

    @property
    def given(self) -> bool:
        return self.source is not None


EMPTY = Mapping_(fields=dict.fromkeys(ROLES))


def lookup(record: Mapping[str, Any], field: str) -> Any:
    """A field by literal key, else by dotted path into nested objects."""
    if field in record:
        return record[field]
    node: Any = record
    for part in field.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def mapping_path(data_file: Path) -> Path | None:
    env = os.environ.get(MAPPING_ENV)
    if env:
        return Path(env)
    beside = data_file.parent / MAPPING_FILE
    return beside if beside.is_file() else None


def load_mapping(data_file: Path) -> Mapping_:
    """The mapping for this data file, or EMPTY; a broken mapping file is an error, not a guess."""
    path = mapping_path(data_file)
    if path is None:
        return EMPTY
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LoaderError(str(path), f"cannot read the mapping file: {exc}",
                          hint=f"fix it or unset {MAPPING_ENV}") from exc
    section = dict(doc.get("fields") or {})
    for pattern, override in (doc.get("files") or {}).items():
        if fnmatch.fnmatch(data_file.name, pattern):
            section |= override.get("fields", override)
    unknown = set(section) - set(ROLES) - {"time_format", "naive"}
    if unknown:
        raise LoaderError(str(path), f"unknown mapping keys {sorted(unknown)}",
                          hint=f"use {', '.join(ROLES)}, time_format, naive")
    naive = str(section.get("naive") or doc.get("naive") or "local")
    if naive not in ("local", "utc"):
        raise LoaderError(str(path), f"naive must be 'local' or 'utc', not {naive!r}")
    return Mapping_(
        fields={role: section.get(role) for role in ROLES},
        time_format=section.get("time_format") or doc.get("time_format"),
        naive=naive,
        delimiter=doc.get("delimiter"),
        source=str(path),
    )


# share of sampled records a candidate must fill: the time decides whether a file is a log at all
SHARE = {"time": 0.8, "message": 0.5, "severity": 0.5}


def pick(
    records: Iterable[Mapping[str, Any]], names: Iterable[str], ok: Any = None,
    share: float = 0.8,
) -> str | None:
    """The first candidate present (and accepted by `ok`) in `share` of the sampled records."""
    sample = list(records)
    if not sample:
        return None
    keys = {key for record in sample for key in record}
    for name in names:
        if name not in keys and name.split(".", 1)[0] not in keys:
            continue  # cheap: most candidate names appear in no record at all
        hits = sum(
            1 for r in sample
            if (value := lookup(r, name)) not in (None, "") and (ok is None or ok(value))
        )
        if hits >= max(1, share * len(sample)):
            return name
    return None


def resolve(mapping: Mapping_, sample: list[dict[str, Any]], time_ok: Any) -> Mapping_:
    """Fill the roles the mapping left open from the common names, using a sample of records."""
    fields = dict(mapping.fields)
    for role in ROLES:
        if fields.get(role) is None and CANDIDATES[role]:
            fields[role] = pick(sample, CANDIDATES[role], time_ok if role == "time" else None,
                                SHARE.get(role, 0.0))
    return replace(mapping, fields=fields)


def http_fields(sample: list[dict[str, Any]]) -> dict[str, str]:
    found = {role: pick(sample, names) for role, names in HTTP.items()}
    return {k: v for k, v in found.items() if v} if found["method"] and found["status"] else {}
