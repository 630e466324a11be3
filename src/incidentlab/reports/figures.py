"""Polars frames -> plotly figures. Every string placed in a figure is HTML-escaped first."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import polars as pl

MAX_POINTS = 5000
SEVERITY_COLORS = {
    "debug": "#9aa5b1",
    "info": "#4c78a8",
    "warning": "#f58518",
    "error": "#e45756",
    "critical": "#8b0000",
}
_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 10, "r": 10, "t": 40, "b": 40},
    "hoverlabel": {"align": "left"},
    "legend": {"orientation": "h", "y": -0.2},
}


def _s(value: Any, limit: int = 300) -> str:
    text = "" if value is None else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return html.escape(text, quote=True)


def _local(values: list[Any], tz: ZoneInfo) -> list[Any]:
    """Wall-clock times in the display zone (plotly.js has no zones; the axis title names it)."""
    return [
        v.astimezone(tz).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v
        for v in values
    ]


def _axis_title(tz: ZoneInfo) -> str:
    return f"time ({_s(tz.key)})"


def lane_label(system: Any, stream: Any) -> str:
    stream_text = "" if stream is None else str(stream)
    short = stream_text if len(stream_text) <= 14 else "…" + stream_text[-12:]
    return _s(f"{system} · {short}" if short else f"{system}")


def thin(events: pl.DataFrame, limit: int = MAX_POINTS) -> tuple[pl.DataFrame, int]:
    """Keep every warning and above, then an even sample of the rest, up to `limit` points."""
    if len(events) <= limit:
        return events, 0
    loud = events.filter(pl.col("severity").is_in(["warning", "error", "critical"]))
    quiet = events.filter(~pl.col("severity").is_in(["warning", "error", "critical"]))
    room = max(limit - len(loud), 0)
    if len(quiet) > room:
        step = max(len(quiet) // max(room, 1), 1)
        quiet = quiet.gather_every(step).head(room)
    kept = pl.concat([loud.head(limit), quiet]).sort("ts")
    return kept, len(events) - len(kept)


# What the swimlane draws of each event (a report redacts only these columns of what it shows).
SWIMLANE_COLUMNS = ("ts", "system", "stream", "severity", "event_type", "outcome", "message")


def swimlane(
    events: pl.DataFrame,
    tz: ZoneInfo,
    *,
    milestones: pl.DataFrame | None = None,
    title: str = "Timeline by system and stream",
    findings: pl.DataFrame | None = None,
) -> go.Figure:
    """One lane per (system, stream), a marker per event coloured by severity, milestones as
    lines, and a star per finding (rows of analysis.findings with ts, system and stream)."""
    fig = go.Figure()
    events = events.filter(pl.col("ts").is_not_null())
    # one label per lane, not per event
    pairs = events.select("system", "stream").unique()
    labels = pairs.with_columns(pl.Series("lane", [lane_label(system, stream) for system, stream
                                                   in pairs.iter_rows()], dtype=pl.String))
    events = events.join(labels, on=["system", "stream"], how="left", nulls_equal=True,
                         maintain_order="left")
    for severity, color in SEVERITY_COLORS.items():
        part = events.filter(pl.col("severity").fill_null("info") == severity)
        if part.is_empty():
            continue
        local = [ts.astimezone(tz) for ts in part["ts"].to_list()]
        hover = [
            f"{_s(at.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3])} {_s(at.tzname())}"
            f"<br>{_s(et)} · {_s(outcome or '')}<br>{_s(msg, 200)}"
            for at, (et, outcome, msg) in zip(local, part.select(
                "event_type", "outcome", "message").iter_rows(), strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=[at.replace(tzinfo=None) for at in local],
                y=part["lane"].to_list(),
                mode="markers",
                name=_s(severity),
                marker={"color": color, "size": 9 if severity in ("error", "critical") else 7,
                        "symbol": "diamond" if severity in ("error", "critical") else "circle"},
                hovertext=hover,
                hoverinfo="text",
            )
        )
    if findings is not None and not findings.is_empty():
        timed = findings.filter(pl.col("ts").is_not_null())
        fig.add_trace(go.Scatter(
            x=_local(timed["ts"].to_list(), tz),
            y=[lane_label(sy, st) for sy, st in timed.select("system", "stream").iter_rows()],
            mode="markers", name="finding",
            marker={"color": "#222", "size": 15, "symbol": "star-open", "line": {"width": 1.5}},
            hovertext=[f"{_s(level)} · {_s(taxonomy)} {_s(code)} {_s(name)}<br>{_s(title, 200)}"
                       for level, taxonomy, code, name, title in timed.select(
                           "level", "taxonomy", "code", "code_name", "title").iter_rows()],
            hoverinfo="text"))
    if milestones is not None and not milestones.is_empty():
        for name, ts in milestones.select("milestone", "ts").iter_rows():
            if not isinstance(ts, datetime):
                continue
            x = _local([ts], tz)[0]
            fig.add_vline(x=x, line_width=1, line_dash="dash", line_color="#555")
            fig.add_annotation(x=x, y=1.02, yref="paper", text=_s(name), showarrow=False,
                               textangle=-30, font={"size": 10})
    n_lanes = max(events["lane"].n_unique() if not events.is_empty() else 1, 1)
    fig.update_layout(
        **{k: v for k, v in _LAYOUT.items() if k != "legend"},
        title=_s(title),
        height=min(180 + 24 * n_lanes, 1200),
        xaxis_title=_axis_title(tz),
        legend={"orientation": "v", "x": 1.01, "y": 1, "title": {"text": "severity"}},
        yaxis={"categoryorder": "category descending", "automargin": True},
    )
    return fig


def coverage(systems: pl.DataFrame, tz: ZoneInfo) -> go.Figure:
    """Time covered by each system's evidence: a bar from first to last event."""
    fig = go.Figure()
    for system, n, lo, hi in systems.select("system", "events", "ts_min", "ts_max").iter_rows():
        if lo is None or hi is None:
            continue
        fig.add_trace(
            go.Scatter(
                x=_local([lo, hi], tz),
                y=[_s(system), _s(system)],
                mode="lines+markers",
                line={"width": 14},
                name=_s(system),
                hovertext=[f"{_s(system)}: {n} events"] * 2,
                hoverinfo="text+x",
            )
        )
    fig.update_layout(**_LAYOUT, title="Time coverage per system",
                      height=160 + 40 * max(len(systems), 1), xaxis_title=_axis_title(tz),
                      showlegend=False)
    return fig


def trend(df: pl.DataFrame, tz: ZoneInfo, *, title: str = "Events and error ratio") -> go.Figure:
    """Stacked event counts per bucket and group, with the error ratio on a second axis."""
    fig = go.Figure()
    for (group,), part in df.sort("bucket").group_by(["group"], maintain_order=True):
        x = _local(part["bucket"].to_list(), tz)
        fig.add_trace(go.Bar(x=x, y=part["count"].to_list(), name=_s(f"{group} events")))
        fig.add_trace(
            go.Scatter(x=x, y=part["error_ratio"].to_list(), name=_s(f"{group} error ratio"),
                       mode="lines+markers", yaxis="y2")
        )
    fig.update_layout(
        **_LAYOUT,
        title=_s(title),
        barmode="stack",
        height=420,
        xaxis_title=_axis_title(tz),
        yaxis={"title": "events"},
        yaxis2={"title": "error ratio", "overlaying": "y", "side": "right", "range": [0, 1.05],
                "tickformat": ".0%"},
    )
    return fig


def counts_bar(df: pl.DataFrame, x: str, y: str, *, color: str | None = None,
               title: str = "") -> go.Figure:
    """A simple bar chart of counts (e.g. replay violations per stream and kind)."""
    fig = go.Figure()
    groups = (
        df.group_by(color, maintain_order=True) if color else [(("all",), df)]
    )
    for key, part in groups:
        name = key[0] if isinstance(key, tuple) else key
        fig.add_trace(go.Bar(x=[_s(v, 40) for v in part[x].to_list()], y=part[y].to_list(),
                             name=_s(name)))
    fig.update_layout(**_LAYOUT, title=_s(title), barmode="stack", height=360)
    fig.update_xaxes(categoryorder="total descending")
    return fig
