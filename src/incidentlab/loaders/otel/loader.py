"""OpenTelemetry: OTLP/JSON traces, logs and metrics (file or JSON lines) and JS SDK span dumps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from ...errors import LoaderError
from ...timeparse import parse_ts
from ..base import Check, JsonLines, LoadContext, LoadResult, Quarantine, Usage, excerpt
from ..reading import read_document
from ..reading.head import head_objects
from ..reading.text import BOM
from ..records import unmapped
from . import claude_code
from .checks import CHECKS
from .otlp import any_value, attributes, get, hex_id, is_envelope, items, listed, mapping, nanos
from .semconv import USAGE_METRICS, normalize, severity_of, span_kind

ENVELOPE_KEYS = (b'"resourceSpans"', b'"resourceLogs"', b'"resourceMetrics"',
                 b'"resource_spans"', b'"resource_logs"', b'"resource_metrics"')
STATUS = {0: None, 1: "ok", 2: "error", "STATUS_CODE_UNSET": None, "STATUS_CODE_OK": "ok",
          "STATUS_CODE_ERROR": "error"}
KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
POINT_KINDS = ("sum", "gauge", "histogram", "exponentialHistogram", "summary")
# GenAI inference spans: one point per call, named after its gen_ai.usage attribute (label
# "attribute"). The semantic conventions count cached input inside input_tokens and reasoning
# inside output_tokens.
_SPAN_WITHIN = {"cache_read_tokens": "input_tokens", "cache_creation_tokens": "input_tokens",
                "reasoning_tokens": "output_tokens"}
SPAN_USAGE = tuple(
    Usage(metric, metric, within=_SPAN_WITHIN.get(metric), where=("attribute", attr),
          key="span_id")
    for attr, metric in USAGE_METRICS.items())
# Claude Code's api_request log events (label source): Anthropic counts, cache beside input.
CLAUDE_CODE_USAGE = tuple(
    Usage(metric, metric, where=("source", "claude_code.api_request"))
    for metric in claude_code.USAGE.values())


def _ts(value: Any) -> tuple[Any, str, str | None]:
    """(UTC datetime or None, quality, raw text) from an OTel time value."""
    ns = nanos(value)
    if ns is None:
        return None, "missing", None
    ts, quality = parse_ts(ns)
    return ts, quality, str(value if not isinstance(value, list) else ns)


def _iso(value: Any) -> str | None:
    ts, _, _ = _ts(value)
    return ts.isoformat() if ts else None


class _Out:
    """Rows and quarantine collected while walking the file; `n` numbers the records."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self.quarantine: list[Quarantine] = []
        self.n = 0
        self.line: int | None = None  # JSON lines: records are numbered by line, items by key
        self.item = 0
        self.facts: dict[str, Any] = {"spans": 0, "log_records": 0, "metric_points": 0}
        self.envelopes = 0  # export requests seen (JSON lines: none means not JSON lines)

    def next(self) -> int:
        self.n += 1
        if self.line is None:
            return self.n
        self.item += 1
        return self.line

    def key(self, own: str | None = None) -> str | None:
        """event_key: the item within its line (JSON lines) plus the event's own key."""
        if self.line is None:
            return own
        return f"{self.item}:{own}" if own else str(self.item)

    def bad(self, record_no: int, reason: str, raw: Any) -> None:
        self.quarantine.append(Quarantine(record_no, reason, excerpt(_json(raw))))


def _take_broken(out: _Out, broken: list[Quarantine]) -> None:
    """Lines that are not JSON objects, as records of their own (in file order)."""
    for problem in broken:
        out.n += 1
        out.quarantine.append(Quarantine(problem.record_no,
                                         f"line {problem.record_no}: {problem.reason}",
                                         problem.raw))
    broken.clear()


def _json(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        return str(value)


class OtelLoader:
    name: ClassVar[str] = "otel.otlp_json"
    system: ClassVar[str] = "otel"
    source: ClassVar[str] = "otlp_json"
    checks: ClassVar[tuple[Check, ...]] = CHECKS  # replay checks of this system: checks.py
    version: ClassVar[str] = "1"
    description: ClassVar[str] = (
        "OTLP/JSON traces, logs, metrics (one document or one export per line); "
        "OTel JS SDK span arrays (Vercel AI SDK); GenAI semconv and Claude Code events"
    )
    # Generic OTLP metric points (e.g. claude_code.token.usage) are not declared: their
    # temporality and overlap with the events above are not known here.
    usage: ClassVar[tuple[Usage, ...]] = (*SPAN_USAGE, *CLAUDE_CODE_USAGE)

    def detect(self, path: Path, head: bytes) -> bool:
        head = head.removeprefix(BOM)
        start = head.lstrip()[:1]
        if start == b"{":
            return any(key in head[:4096] for key in ENVELOPE_KEYS)
        if start == b"[":
            return b'"spanContext"' in head and b'"startTime"' in head
        # JSON lines whose first line is damaged: the next export requests decide.
        return any(key in head for key in ENVELOPE_KEYS) and any(
            is_envelope(record) for record in head_objects(head, 5))

    def load(self, ctx: LoadContext) -> LoadResult:
        doc = read_document(ctx.path)
        if doc.ok:
            out = self._document(ctx, doc.value)
        else:
            out = self._json_lines(ctx.path)
            if not out.envelopes:
                # Not one line is an export request: a damaged document, one record.
                out = _Out()
                out.facts["layout"] = "document"
                out.n = 1
                out.quarantine.append(doc.problem)
        out.facts["records"] = out.n
        return LoadResult(records_read=out.n, events=out.events, metrics=out.metrics,
                          quarantine=out.quarantine, facts=out.facts)

    def _document(self, ctx: LoadContext, doc: Any) -> _Out:
        out = _Out()
        out.facts["layout"] = "document"
        if isinstance(doc, list):
            out.facts["layout"] = "js_sdk_spans"
            for item in doc:
                number = out.next()
                self._guarded(out, number, item, self._span, out, number, item, {}, {},
                              js_sdk=True)
        elif is_envelope(doc):
            self._export(out, doc, None)
        elif isinstance(doc, dict):
            out.bad(out.next(), "not an OTLP/JSON export request (no resourceSpans, resourceLogs "
                    "or resourceMetrics)", doc)
        else:
            raise LoaderError(str(ctx.path), "not an OTLP/JSON export or a span array",
                              hint="ingest it with another loader (--loader)")
        return out

    def _json_lines(self, path: Path) -> _Out:
        out = _Out()
        out.facts["layout"] = "json_lines"
        broken: list[Quarantine] = []
        for line, doc, raw in JsonLines(path, broken):
            _take_broken(out, broken)
            out.line, out.item = line, 0
            if is_envelope(doc):
                self._export(out, doc, line)
            else:
                out.bad(out.next(), f"line {line}: not an OTLP/JSON export request", raw)
        _take_broken(out, broken)
        return out

    def _export(self, out: _Out, doc: dict[str, Any], line: int | None) -> None:
        out.envelopes += 1
        for signal, resource, scope, item in items(doc):
            if signal == "metric":
                self._guarded(out, None, item, self._metric, out, item, resource, scope, line)
            else:
                number = out.next()
                handler = self._span if signal == "span" else self._log
                self._guarded(out, number, item, handler, out, number, item, resource, scope,
                              line=line)

    @staticmethod
    def _guarded(out: _Out, number: int | None, raw: Any, handler: Any, *args: Any,
                 **kwargs: Any) -> None:
        """Map one item; a value the mapping did not expect quarantines it (its rows withdrawn)."""
        marks = len(out.events), len(out.metrics), dict(out.facts)
        try:
            handler(*args, **kwargs)
        except Exception as exc:  # whatever the values, only this item is lost
            del out.events[marks[0]:]
            del out.metrics[marks[1]:]
            out.facts = marks[2]
            out.bad(out.next() if number is None else number, unmapped(exc), raw)

    def _span(
        self, out: _Out, number: int, span: Any, resource: dict[str, Any], scope: dict[str, Any],
        *, js_sdk: bool = False, line: int | None = None,
    ) -> None:
        if not isinstance(span, dict):
            out.bad(number, "span is not a JSON object", span)
            return
        context = span.get("spanContext") if js_sdk else span
        context = context if isinstance(context, dict) else {}
        trace_id, span_id = hex_id(get(context, "traceId")), hex_id(get(context, "spanId"))
        start_raw = span.get("startTime") if js_sdk else get(span, "startTimeUnixNano")
        end_raw = span.get("endTime") if js_sdk else get(span, "endTimeUnixNano")
        start, quality, ts_raw = _ts(start_raw)
        if trace_id is None or span_id is None:
            out.bad(number, "span without traceId/spanId", span)
            return
        if start is None:
            out.bad(number, "span without a valid start time", span)
            return
        out.facts["spans"] += 1
        end, _, end_raw_text = _ts(end_raw)
        attrs_in = attributes(span.get("attributes"))
        gen_ai, mapped = normalize(attrs_in)
        status = span.get("status") or {}
        status = status if isinstance(status, dict) else {"raw": status}
        code = status.get("code")
        outcome = STATUS.get(code) if isinstance(code, int | str) else None
        kind = span.get("kind")
        if isinstance(kind, str):
            kind = kind.removeprefix("SPAN_KIND_").lower()
        parent = hex_id(span.get("parentSpanId") or span.get("parent_span_id")
                        or mapping(span.get("parentSpanContext")).get("spanId"))
        duration = (nanos(end_raw) - nanos(start_raw)) / 1e6 if end is not None else None
        service = resource.get("service.name") or attrs_in.get("resource.name")
        record_attrs = {
            "trace_id": trace_id, "span_id": span_id, "parent_span_id": parent,
            "span_name": span.get("name"),
            "kind": KINDS.get(kind, kind) if isinstance(kind, int | str) else None,
            "status": status, "end_ts": end.isoformat() if end else None,
            "attributes": attrs_in, "gen_ai": gen_ai, "semconv_aliases": mapped or None,
            "events": [
                {**e, "time": _iso(e.get("time") or e.get("timeUnixNano")),
                 "attributes": attributes(e.get("attributes"))}
                for e in listed(span.get("events")) if isinstance(e, dict)
            ],
            "links": [
                {**link, "traceId": hex_id(get(link, "traceId")),
                 "spanId": hex_id(get(link, "spanId")),
                 "attributes": attributes(link.get("attributes"))}
                for link in listed(span.get("links")) if isinstance(link, dict)
            ],
            "resource": resource, "scope": scope, "line": line,
        }
        exception = next(
            (e["attributes"] for e in record_attrs["events"] if e.get("name") == "exception"), {}
        )
        error_code = attrs_in.get("error.type") or (
            (exception.get("exception.type") or status.get("message"))
            if outcome == "error" else None
        )
        base = {
            "record_no": number, "event_key": out.key(), "ts": start, "ts_raw": ts_raw,
            "ts_quality": quality,
            "stream": trace_id, "correlation_id": trace_id, "event_type_raw": span.get("name"),
            "actor": service, "duration_ms": duration,
            "severity": "error" if outcome == "error" else "info",
            "error_code": error_code, "attrs": record_attrs,
        }
        what = span_kind(gen_ai)
        model = gen_ai.get("gen_ai.request.model") or gen_ai.get("gen_ai.response.model")
        if what == "llm":
            out.events.append({**base, "event_type": "llm.request",
                               "name": model or span.get("name"),
                               "outcome": outcome or ("ok" if end else None),
                               "message": span.get("name")})
            if outcome == "error":
                out.events.append({**base, "event_key": out.key("error"), "event_type": "llm.error",
                                   "ts": end or start, "ts_raw": end_raw_text or ts_raw,
                                   "name": model, "outcome": "error",
                                   "message": status.get("message") or error_code})
            self._usage(out, number, base, gen_ai, model)
        elif what == "tool":
            tool = gen_ai.get("gen_ai.tool.name") or span.get("name")
            call_id = gen_ai.get("gen_ai.tool.call.id") or trace_id
            common = {**base, "name": tool, "correlation_id": call_id}
            out.events.append({**common, "event_type": "tool.call", "event_key": out.key("call"),
                               "severity": "info", "error_code": None,
                               "message": _clip(gen_ai.get("gen_ai.tool.call.arguments"))})
            if end is not None:
                out.events.append({
                    **common, "event_type": "tool.result", "event_key": out.key("result"),
                    "ts": end,
                    "ts_raw": end_raw_text, "outcome": outcome or "ok",
                    "message": _clip(gen_ai.get("gen_ai.tool.call.result")
                                     or status.get("message")),
                })
        else:
            out.events.append({**base, "event_type": "span", "name": span.get("name"),
                               "outcome": outcome, "message": status.get("message")})

    @staticmethod
    def _usage(out: _Out, number: int, base: dict[str, Any], gen_ai: dict[str, Any],
               model: Any) -> None:
        labels = {"model": model, "provider": gen_ai.get("gen_ai.provider.name"),
                  "trace_id": base["attrs"]["trace_id"], "span_id": base["attrs"]["span_id"]}
        for attr, metric in USAGE_METRICS.items():
            value = gen_ai.get(attr)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out.metrics.append({
                    "record_no": number, "ts": base["ts"], "ts_quality": base["ts_quality"],
                    "stream": base["stream"], "name": metric, "value": float(value),
                    "unit": "{token}", "labels": {**labels, "attribute": attr},
                })

    def _log(
        self, out: _Out, number: int, record: Any, resource: dict[str, Any],
        scope: dict[str, Any], *, line: int | None = None,
    ) -> None:
        if not isinstance(record, dict):
            out.bad(number, "log record is not a JSON object", record)
            return
        out.facts["log_records"] += 1
        attrs_in = attributes(record.get("attributes"))
        body = any_value(record.get("body"))
        ts, quality, ts_raw = _ts(get(record, "timeUnixNano"))
        if ts is None:
            ts, quality, ts_raw = _ts(get(record, "observedTimeUnixNano"))
            quality = "derived" if ts is not None else "missing"
        trace_id = hex_id(get(record, "traceId"))
        service = resource.get("service.name")
        severity = severity_of(get(record, "severityNumber"), get(record, "severityText"))
        event_name = get(record, "eventName")
        row: dict[str, Any] = {
            "record_no": number, "event_key": out.key(), "ts": ts, "ts_raw": ts_raw,
            "ts_quality": quality, "stream": trace_id or service, "correlation_id": trace_id,
            "event_type": "log", "event_type_raw": event_name, "name": event_name,
            "actor": service, "severity": severity,
            "message": body if isinstance(body, str) or body is None else json.dumps(body),
            "attrs": {
                "trace_id": trace_id, "span_id": hex_id(get(record, "spanId")),
                "severity_number": get(record, "severityNumber"),
                "severity_text": get(record, "severityText"), "body": body,
                "attributes": attrs_in, "resource": resource, "scope": scope,
                "observed_ts": _iso(get(record, "observedTimeUnixNano")), "line": line,
            },
        }
        cc_name = claude_code.event_name(record, attrs_in, body, service)
        if cc_name:
            self._claude_code(out, row, cc_name, attrs_in)
        out.events.append(row)

    @staticmethod
    def _claude_code(out: _Out, row: dict[str, Any], name: str, attrs: dict[str, Any]) -> None:
        own_ts, own_quality = parse_ts(attrs.get("event.timestamp"))
        if own_ts is not None:
            row |= {"ts": own_ts, "ts_quality": own_quality, "ts_raw": attrs["event.timestamp"]}
        mapped = claude_code.mapping(name, attrs)
        row |= {k: v for k, v in mapped.items() if v is not None or k in ("correlation_id",)}
        row["stream"] = row.get("stream") or row["attrs"]["resource"].get("service.name")
        if name == "claude_code.api_request":
            for metric, value in claude_code.usage_metrics(attrs).items():
                out.metrics.append({
                    "record_no": row["record_no"], "ts": row["ts"], "ts_quality": row["ts_quality"],
                    "stream": row["stream"], "name": metric, "value": value,
                    "unit": "USD" if metric == "cost_usd" else "{token}",
                    "labels": {"model": attrs.get("model"), "prompt_id": attrs.get("prompt.id"),
                               "source": name},
                })

    def _metric(
        self, out: _Out, metric: Any, resource: dict[str, Any], scope: dict[str, Any],
        line: int | None,
    ) -> None:
        if not isinstance(metric, dict) or not metric.get("name"):
            out.bad(out.next(), "metric without a name", metric)
            return
        name, unit = str(metric["name"]), metric.get("unit") or None
        kinds = [k for k in POINT_KINDS if isinstance(get(metric, k), dict)]
        if not kinds:
            out.bad(out.next(), f"metric {name!r} has no data (sum/gauge/histogram/...)", metric)
            return
        data = get(metric, kinds[0])
        for point in listed(data.get("dataPoints") or data.get("data_points")):
            number = out.next()
            self._guarded(out, number, point, self._point, out, number, point, name, unit,
                          kinds[0], data, resource, scope)

    def _point(self, out: _Out, number: int, point: Any, name: str, unit: Any, kind: str,
               data: dict[str, Any], resource: dict[str, Any], scope: dict[str, Any]) -> None:
        values = self._point_values(kind, point) if isinstance(point, dict) else {}
        if not values:
            out.bad(number, f"data point of {name!r} without a value", point)
            return
        out.facts["metric_points"] += 1
        ts, quality, _ = _ts(get(point, "timeUnixNano"))
        labels = {**attributes(point.get("attributes")), "metric_kind": kind,
                  "resource": resource, "scope": scope.get("name")}
        if get(data, "aggregationTemporality") is not None:
            labels["temporality"] = get(data, "aggregationTemporality")
        for suffix, value in values.items():
            out.metrics.append({
                "record_no": number, "ts": ts, "ts_quality": quality,
                "stream": resource.get("service.name"), "name": name + suffix,
                "value": value, "unit": unit, "labels": labels,
            })

    @staticmethod
    def _point_values(kind: str, point: dict[str, Any]) -> dict[str, float]:
        def num(key: str) -> float | None:
            value = get(point, key)
            try:
                return None if value is None else float(value)
            except (TypeError, ValueError, OverflowError):
                return None

        if kind in ("sum", "gauge"):
            value = num("asDouble")
            value = num("asInt") if value is None else value
            return {} if value is None else {"": value}
        found = {f".{k}": num(k) for k in ("count", "sum", "min", "max")}
        return {k: v for k, v in found.items() if v is not None}


def _clip(value: Any, limit: int = 2000) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "…"
