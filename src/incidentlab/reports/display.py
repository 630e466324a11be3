"""Safe HTML blocks for notebook outputs: every value is escaped, figures are plain divs."""

from __future__ import annotations

import functools
import html
import itertools
import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
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


# --- plotly.js: carried once per notebook output ------------------------------------------------

PLOTLYJS_ATTR = "data-incidentlab-plotlyjs"
"""Marks the <script> that carries plotly.js inside a figure's output (the report moves it)."""
FIGURE_KIND_ATTR = "data-plotlyjs"
"""On each figure container: which bundle the figure needs ("basic" or "full")."""
BASIC_VERSION = "4.1.1"
BASIC_TRACES = frozenset({"bar", "pie", "scatter"})
_JS_DIR = Path(__file__).with_name("js")
_QUEUE = "window.__incidentlabPlots"
_FLUSH = (
    f"(function () {{ var waiting = {_QUEUE} || []; {_QUEUE} = [];"
    " for (var i = 0; i < waiting.length; i++) { waiting[i](); } })();"
)


def figure_bundle(fig: go.Figure) -> str:
    """"basic" when the shipped partial bundle draws every trace of `fig`, else "full"."""
    from plotly.offline import get_plotlyjs_version

    types = {getattr(trace, "type", None) or "scatter" for trace in fig.data}
    same_major = get_plotlyjs_version().split(".")[0] == BASIC_VERSION.split(".")[0]
    return "basic" if same_major and types <= BASIC_TRACES else "full"


@functools.cache
def plotlyjs_source(kind: str) -> str:
    """plotly.js itself: the shipped partial bundle (bar, pie, scatter) or plotly's full one."""
    if kind == "basic":
        return (_JS_DIR / "plotly-basic.min.js").read_text(encoding="utf-8")
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def plotlyjs_script(kind: str) -> str:
    """The body of one <script>: plotly.js, then every figure that was waiting for it."""
    return (f"window.PlotlyConfig = {{MathJaxConfig: 'local'}};\n{plotlyjs_source(kind)}\n"
            f"{_FLUSH}")


def plotlyjs_tag(kind: str) -> str:
    return (f'<script type="text/javascript" {PLOTLYJS_ATTR}="{esc(kind)}">'
            f"{plotlyjs_script(kind)}</script>")


def _kernel_request() -> dict[str, Any]:
    """The metadata of the execute request being run (JupyterLab sends cellId, deletedCells)."""
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        parent = kernel.get_parent() if kernel is not None else None
    except Exception:  # not in a kernel, or an older one
        return {}
    meta = (parent or {}).get("metadata") if isinstance(parent, dict) else None
    return meta if isinstance(meta, dict) else {}


class _BundleTracker:
    """Which output of this kernel carries plotly.js, so a notebook holds it once.

    The first figure displayed carries it (papermill, nbclient and plain Python: one run, one
    copy). Where the frontend names its cells (JupyterLab sends cellId and deletedCells with each
    execute request) the copy is carried again once the cell that held it runs again or is
    deleted, since that output is then gone. Figures displayed before plotly.js in the page wait
    for it, so its place among the outputs does not matter."""

    def __init__(self) -> None:
        self.holders: dict[str, str | None] = {}  # bundle kind -> cell id of its output
        self.hooked = False

    def take(self, kind: str) -> bool:
        """True when this figure's output must carry the `kind` bundle."""
        if "full" in self.holders or kind in self.holders:
            return False
        self.holders[kind] = _kernel_request().get("cellId")
        self._hook()
        return True

    def forget(self, gone: set[str]) -> None:
        for kind, cell in list(self.holders.items()):
            if cell is not None and cell in gone:
                del self.holders[kind]

    def _pre_run_cell(self, info: Any = None) -> None:
        meta = _kernel_request()
        gone = {str(c) for c in meta.get("deletedCells") or [] if c}
        cell = getattr(info, "cell_id", None) or meta.get("cellId")
        if cell:
            gone.add(str(cell))
        self.forget(gone)

    def _hook(self) -> None:
        if self.hooked:
            return
        try:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None:
                shell.events.register("pre_run_cell", self._pre_run_cell)
        except Exception:
            return
        self.hooked = True

    def reset(self) -> None:
        self.holders.clear()


BUNDLES = _BundleTracker()
_FIGURE_IDS = itertools.count(1)


class Figure:
    """A plotly figure as an HTML div that draws itself wherever the notebook's HTML goes (plain
    nbconvert, JupyterLab's HTML export, the report), plus the plotly JSON for live JupyterLab.

    The first figure output of a run carries plotly.js (the shipped partial bundle when its trace
    types allow); the report template moves that copy into the page head."""

    CONFIG: ClassVar[dict[str, Any]] = {"displaylogo": False, "responsive": True}

    def __init__(self, fig: go.Figure, name: str) -> None:
        self.fig = fig
        self.name = name
        self.div_id = f"il-fig-{re.sub(r'[^A-Za-z0-9_-]', '-', name)}-{next(_FIGURE_IDS)}"

    def markup(self, *, with_plotlyjs: bool) -> str:
        kind = figure_bundle(self.fig)
        # `<` never appears outside JSON strings; escaped, no `</script>` can end the script early
        spec = self.fig.to_json().replace("<", "\\u003c")
        height = self.fig.layout.height or 450
        config = json.dumps(self.CONFIG)
        draw = (
            "(function () {"
            f" var spec = {spec};"
            " function draw() {"
            f" var el = document.getElementById({json.dumps(self.div_id)});"
            " if (!el) { return; } el.textContent = '';"
            f" Plotly.newPlot(el, spec.data, spec.layout, {config}); }}"
            f" if (window.Plotly) {{ draw(); }} else {{ ({_QUEUE} = {_QUEUE} || []).push(draw); }}"
            " })();"
        )
        bundle = plotlyjs_tag(kind) if with_plotlyjs else ""
        return (
            f'<div class="{FIGURE_CLASS}" {FIGURE_KIND_ATTR}="{kind}">{bundle}'
            f'<div id="{esc(self.div_id)}" class="plotly-graph-div" '
            f'style="height:{int(height)}px; width:100%;">'
            '<p class="il-figure-missing">Chart not drawn: this page has no plotly.js '
            "(run the whole notebook again, then export it).</p></div>"
            f'<script type="text/javascript">{draw}</script></div>'
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {
            "text/html": self.markup(with_plotlyjs=BUNDLES.take(figure_bundle(self.fig))),
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
