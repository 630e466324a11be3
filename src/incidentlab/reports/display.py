"""Safe HTML blocks for notebook outputs: every value is escaped, figures are plain divs."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import polars as pl

SUMMARY_MIME = "application/vnd.incidentlab.summary+json"
FIGURE_CLASS = "il-figure"
MAX_CELL_CHARS = 400


def esc(value: Any) -> str:
    """Escape for HTML text and attribute values (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt_ts(value: Any, tz: ZoneInfo) -> str:
    """A timestamp in the display zone with its zone name and offset; other values unchanged."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat(sep=" ") + " (no zone)"
        local = value.astimezone(tz)
        return local.strftime("%Y-%m-%d %H:%M:%S") + f" {local.tzname()}"
    return "" if value is None else str(value)


def fmt_cell(value: Any, tz: ZoneInfo) -> str:
    if isinstance(value, datetime):
        return fmt_ts(value, tz)
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list | dict):
        value = json.dumps(value, default=str)
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS] + "…"


class Html:
    """Pre-escaped HTML: build it only from `esc` output and literal markup."""

    def __init__(self, markup: str, text: str = "") -> None:
        self.markup = markup
        self.text = text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/html": self.markup, "text/plain": self.text or "(html)"}


def paragraph(text: str, css: str = "") -> Html:
    cls = f' class="{esc(css)}"' if css else ""
    return Html(f"<p{cls}>{esc(text)}</p>", text)


def notice(text: str, kind: str = "note") -> Html:
    return Html(f'<div class="il-notice il-{esc(kind)}">{esc(text)}</div>', f"[{kind}] {text}")


def prompt(text: str) -> Html:
    """A place where a person must write: clearly marked, never filled with guesses."""
    return Html(
        f'<div class="il-prompt"><strong>TO WRITE:</strong> {esc(text)}</div>', f"TO WRITE: {text}"
    )


def definition_list(items: Sequence[tuple[str, Any]], tz: ZoneInfo) -> Html:
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(fmt_cell(v, tz))}</dd>" for k, v in items)
    text = "\n".join(f"{k}: {fmt_cell(v, tz)}" for k, v in items)
    return Html(f'<dl class="il-facts">{rows}</dl>', text)


def bullet_list(items: Iterable[str]) -> Html:
    items = list(items)
    body = "".join(f"<li>{esc(i)}</li>" for i in items)
    return Html(f"<ul>{body}</ul>", "\n".join(f"- {i}" for i in items))


def table(df: pl.DataFrame, tz: ZoneInfo, *, caption: str = "", max_rows: int = 200) -> Html:
    """An escaped HTML table (polars' own repr is not relied on for escaping)."""
    if df.is_empty():
        return notice(f"{caption or 'table'}: no rows", "empty")
    shown = df.head(max_rows)
    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(fmt_cell(v, tz))}</td>" for v in row) + "</tr>"
        for row in shown.iter_rows()
    )
    more = (
        f'<p class="il-more">{len(df) - max_rows} more rows not shown</p>'
        if len(df) > max_rows
        else ""
    )
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    markup = f'<table class="il-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return Html(markup + more, f"{caption} ({len(df)} rows)")


class Figure:
    """A plotly figure as an HTML div (nbconvert keeps it; plotly.js comes once from the template)
    plus the plotly JSON for live JupyterLab."""

    def __init__(self, fig: go.Figure, name: str) -> None:
        self.fig = fig
        self.name = name

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        div = self.fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            config={"displaylogo": False, "responsive": True},
            div_id=f"il-fig-{self.name}",
        )
        return {
            "text/html": f'<div class="{FIGURE_CLASS}">{div}</div>',
            "application/vnd.plotly.v1+json": json.loads(self.fig.to_json()),
            "text/plain": f"<figure {self.name}>",
        }


class Summary:
    """Machine-readable facts for the batch index; stripped from the HTML before conversion."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {SUMMARY_MIME: json.loads(json.dumps(self.data, default=str))}


class Section:
    """What a section function returns: several outputs displayed in order."""

    def __init__(self, *parts: Any) -> None:
        self.parts = [p for p in parts if p is not None]

    def add(self, *parts: Any) -> Section:
        self.parts.extend(p for p in parts if p is not None)
        return self

    def _ipython_display_(self) -> None:
        from IPython.display import display

        for part in self.parts:
            display(part)

    def __repr__(self) -> str:
        return "\n".join(getattr(p, "text", repr(p)) for p in self.parts)
