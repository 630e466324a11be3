"""Charts on every export path, offline: plain `jupyter nbconvert --to html --no-input` (what
JupyterLab's "Export as HTML" runs) of the executed notebooks, and `incidentlab report`; the demo
postmortem at or under 3 MB; tables that fit the page on screen and in print."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import pytest
import test_browser
from test_browser import CHROME, DevTools

from incidentlab.reports import display
from incidentlab.reports.display import BASIC_TRACES, BASIC_VERSION, BUNDLES, Figure
from incidentlab.reports.render import ReportPreprocessor, to_html

import conftest_reports

demo_db = conftest_reports.demo_db
browser = test_browser.browser  # the fixture: one headless chromium per test, network off

NOTEBOOKS = ["01_overview", "02_timeline", "03_replay", "04_alerts", "05_postmortem"]
BASIC_HEADER = re.compile(r"\* plotly\.js \(basic - minified\) v\d")
ANY_HEADER = re.compile(r"\* plotly\.js (?:\(basic - minified\) )?v\d")
MAX_DEMO_REPORT_BYTES = 3_000_000
needs_chromium = pytest.mark.skipif(CHROME is None, reason="no chromium binary on PATH "
                                    "(apt-get install chromium)")

# --- without a browser ----------------------------------------------------------------------------


@pytest.fixture
def fresh_bundles():
    BUNDLES.reset()
    yield BUNDLES
    BUNDLES.reset()


def _scatter(title: str = "t") -> go.Figure:
    return go.Figure(go.Scatter(x=[1, 2], y=[3, 4]), layout={"title": title})


def test_shipped_bundle_is_the_partial_plotlyjs_of_the_installed_major() -> None:
    from plotly.offline import get_plotlyjs_version

    js_dir = Path(display.__file__).with_name("js")
    source = (js_dir / "plotly-basic.min.js").read_text(encoding="utf-8")
    assert source.startswith(f"/**\n* plotly.js (basic - minified) v{BASIC_VERSION}\n")
    assert "window.Plotly = Plotly;" in source and "</script" not in source.lower()
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert digest in (js_dir / "README.md").read_text(), "README names the bundle's sha256"
    assert (js_dir / "plotly-basic.LICENSE").read_text().startswith("MIT License")
    assert len(source) < 1_300_000
    # a new plotly major would silently mean the full bundle (and a report over the size limit)
    assert get_plotlyjs_version().split(".")[0] == BASIC_VERSION.split(".")[0]


def test_every_report_figure_uses_only_bundled_trace_types(demo_db: Path) -> None:
    from incidentlab.reports import sections

    ctx = sections.context(db=str(demo_db))
    names = ["coverage", "swimlane", "replay", "trends"]
    seen = set()
    for name in names:
        for part in getattr(sections, name)(ctx).parts:
            if isinstance(part, Figure):
                seen.add(name)
                assert {t.type for t in part.fig.data} <= BASIC_TRACES, name
                assert display.figure_bundle(part.fig) == "basic"
    assert seen == set(names), "the demo draws every kind of report figure"


def test_first_figure_carries_plotlyjs_once(fresh_bundles) -> None:
    first = Figure(_scatter(), "a")._repr_mimebundle_()["text/html"]
    second = Figure(go.Figure(go.Bar(x=[1], y=[2])), "b")._repr_mimebundle_()["text/html"]
    assert len(BASIC_HEADER.findall(first)) == 1 and not ANY_HEADER.search(second)
    assert 'data-plotlyjs="basic"' in first and 'data-plotlyjs="basic"' in second
    # another trace type needs the full bundle: carried once more, then covers everything
    heat = Figure(go.Figure(go.Heatmap(z=[[1, 2]])), "h")._repr_mimebundle_()["text/html"]
    assert 'data-plotlyjs="full"' in heat and re.search(r"\* plotly\.js v\d", heat)
    later = Figure(_scatter(), "c")._repr_mimebundle_()["text/html"]
    assert not ANY_HEADER.search(later)


def test_bundle_is_carried_again_when_its_cell_is_rerun_or_deleted(fresh_bundles,
                                                                   monkeypatch) -> None:
    request = {"cellId": "cell-1"}
    monkeypatch.setattr(display, "_kernel_request", lambda: request)
    assert fresh_bundles.take("basic") and not fresh_bundles.take("basic")
    request = {"cellId": "cell-2"}  # another cell runs: the copy in cell-1 stays
    fresh_bundles._pre_run_cell()
    assert not fresh_bundles.take("basic")
    request = {"cellId": "cell-1"}  # cell-1 runs again: its output, bundle included, is replaced
    fresh_bundles._pre_run_cell()
    assert fresh_bundles.take("basic")
    request = {"cellId": "cell-3", "deletedCells": ["cell-1"]}  # JupyterLab: cell-1 deleted
    fresh_bundles._pre_run_cell()
    assert fresh_bundles.take("basic")


def test_figure_text_cannot_close_its_script(fresh_bundles) -> None:
    markup = Figure(_scatter("</script><script>window.__pwned = true</script>"),
                    "x")._repr_mimebundle_()["text/html"]
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", markup, re.DOTALL)
    assert len(scripts) == 2 and markup.count("</script>") == 2
    assert "__pwned" in scripts[1] and "<" not in scripts[1].replace("\\u003c", "")


def _notebook(*figure_outputs: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for markup in figure_outputs:
        cell = nbformat.v4.new_code_cell("sections.x(ctx)")
        cell.outputs = [nbformat.v4.new_output("display_data", data={
            "text/html": markup, "text/plain": "<figure>"})]
        nb.cells.append(cell)
    return nb


def test_report_moves_the_carried_bundle_into_the_head(fresh_bundles) -> None:
    nb = _notebook(*(Figure(_scatter(), n)._repr_mimebundle_()["text/html"] for n in "abc"))
    assert sum(len(BASIC_HEADER.findall(c.outputs[0].data["text/html"])) for c in nb.cells) == 1
    html = to_html(nb)
    assert len(BASIC_HEADER.findall(html)) == 1 and not re.search(r"\* plotly\.js v\d", html)
    head, body = html.split("</head>", 1)
    assert BASIC_HEADER.search(head) and 'data-incidentlab-plotlyjs' not in body
    # an output from before the partial bundle (no kind on the figure) gets the full one
    old = nb.cells[0].outputs[0].data["text/html"].replace(' data-plotlyjs="basic"', "")
    _, resources = ReportPreprocessor().preprocess(_notebook(old), {})
    assert re.search(r"\* plotly\.js v\d", resources["plotly_js"])


# --- the executed notebooks, exported both ways ----------------------------------------------------


@pytest.fixture(scope="module")
def executed(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every notebook run by `incidentlab report` against the demo database: the executed .ipynb
    (for plain nbconvert) next to the report's HTML."""
    from click.testing import CliRunner

    from incidentlab.cli import main

    out = tmp_path_factory.mktemp("executed")
    for stem in NOTEBOOKS:
        result = CliRunner().invoke(main, ["report", "--db", str(demo_db), "--out", str(out),
                                           "--notebook", stem, "-p", "incident_id=demo"])
        assert result.exit_code == 0, result.output
    return {stem: out / f"{stem}.ipynb" for stem in NOTEBOOKS}


def plain_nbconvert(ipynb: Path, out_dir: Path, template: str = "lab") -> Path:
    """`jupyter nbconvert --to html --no-input` with a stock template, as a Lab user exports."""
    jupyter = Path(sys.executable).with_name("jupyter")
    command = [str(jupyter)] if jupyter.exists() else [sys.executable, "-m", "jupyter"]
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([*command, "nbconvert", "--to", "html", "--no-input", "--template", template,
                    "--output-dir", str(out_dir), str(ipynb)],
                   check=True, capture_output=True, text=True, timeout=300)
    return out_dir / f"{ipynb.stem}.html"


def charts_in(tools: DevTools, html: Path, *, timeout: float = 20) -> dict:
    """Open `html` offline; wait until every .il-figure holds a drawn plot (svg.main-svg)."""
    for domain in ("Page", "Runtime", "Network"):
        tools.call(f"{domain}.enable")
    tools.call("Network.emulateNetworkConditions", offline=True, latency=0,
               downloadThroughput=-1, uploadThroughput=-1)
    tools.events.clear()
    tools.call("Page.navigate", url=html.as_uri())
    tools.wait_for("Page.loadEventFired", timeout=60)
    deadline = time.monotonic() + timeout
    while True:
        figures, drawn = tools.evaluate(
            "[document.querySelectorAll('.il-figure').length,"
            " [...document.querySelectorAll('.il-figure')]"
            "   .filter(e => e.querySelector('.js-plotly-plot svg.main-svg')).length]")
        if (figures and figures == drawn) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    exceptions = [e["params"]["exceptionDetails"] for e in tools.events
                  if e.get("method") == "Runtime.exceptionThrown"]
    return {"figures": figures, "drawn": drawn, "exceptions": exceptions,
            "plotly": tools.evaluate("typeof window.Plotly")}


@needs_chromium
@pytest.mark.slow
@pytest.mark.parametrize("template", ["lab", "classic"])
def test_plain_nbconvert_draws_every_chart_offline(browser: DevTools, executed, tmp_path: Path,
                                                   template: str) -> None:
    total = 0
    for stem, ipynb in executed.items():
        html = plain_nbconvert(ipynb, tmp_path / template, template)
        text = html.read_text(encoding="utf-8")
        # the stock template still names its CDN scripts; the charts need none of them
        assert len(BASIC_HEADER.findall(text)) == (1 if "il-figure" in text else 0), stem
        seen = charts_in(browser, html)
        assert seen["figures"] == seen["drawn"], (stem, seen)
        assert seen["exceptions"] == [], (stem, seen["exceptions"])
        total += seen["figures"]
    assert total >= 4, "overview, timeline, replay and alerts each draw a chart"


@needs_chromium
@pytest.mark.slow
def test_report_draws_every_chart_offline(browser: DevTools, executed) -> None:
    total = 0
    for stem, ipynb in executed.items():
        html = ipynb.with_suffix(".html")
        text = html.read_text(encoding="utf-8")
        assert len(ANY_HEADER.findall(text)) == (1 if "il-figure" in text else 0), stem
        assert not re.search(r"<script[^>]*\bsrc=", text)
        seen = charts_in(browser, html)
        assert seen["figures"] == seen["drawn"] and seen["exceptions"] == [], (stem, seen)
        fetched = [e["params"]["request"]["url"] for e in browser.events
                   if e.get("method") == "Network.requestWillBeSent"
                   and not e["params"]["request"]["url"].startswith(("file:", "data:"))]
        assert fetched == [], (stem, fetched)
        total += seen["figures"]
    assert total >= 4


@needs_chromium
@pytest.mark.slow
def test_figures_before_plotlyjs_wait_for_it(browser: DevTools, fresh_bundles,
                                             tmp_path: Path) -> None:
    """Cells run out of order: a figure output without plotly.js above the one that has it."""
    carrier = Figure(_scatter(), "carrier")._repr_mimebundle_()["text/html"]
    early = Figure(go.Figure(go.Bar(x=["a"], y=[1])), "early")._repr_mimebundle_()["text/html"]
    ipynb = tmp_path / "out_of_order.ipynb"
    nbformat.write(_notebook(early, carrier), ipynb)
    seen = charts_in(browser, plain_nbconvert(ipynb, tmp_path / "html"))
    assert seen["figures"] == seen["drawn"] == 2 and seen["exceptions"] == [], seen
    # no plotly.js anywhere: the chart area says so instead of staying blank
    nbformat.write(_notebook(early), ipynb)
    html = plain_nbconvert(ipynb, tmp_path / "html2")
    seen = charts_in(browser, html, timeout=2)
    assert seen["drawn"] == 0 and seen["exceptions"] == []
    assert "Chart not drawn" in browser.evaluate("document.body.innerText")


# --- size, wrapping and print ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`incidentlab demo`'s postmortem (what `make demo` writes to demo-out/report/)."""
    if not conftest_reports.demo_available():
        pytest.skip("no demo generator in this checkout")
    from incidentlab.demo.run import run_demo

    return run_demo(tmp_path_factory.mktemp("demo-report") / "demo-out").report


@pytest.mark.slow
def test_demo_postmortem_is_at_most_3_mb(demo_report: Path) -> None:
    size = demo_report.stat().st_size
    assert size <= MAX_DEMO_REPORT_BYTES, f"{demo_report}: {size:,} bytes"
    text = demo_report.read_text(encoding="utf-8")
    assert len(ANY_HEADER.findall(text)) == 1


_OVERFLOW = """(() => {
  const page = document.documentElement.clientWidth;
  const box = e => e.closest('.jp-OutputArea-output, .jp-RenderedMarkdown') || document.body;
  const wide = [...document.querySelectorAll('table, dl.il-facts, .il-figure, pre')]
    .filter(e => e.getBoundingClientRect().right > page + 1
                 || box(e).scrollWidth > box(e).clientWidth + 1)
    .map(e => (e.querySelector('caption') || e).textContent.slice(0, 60));
  return {page, scroll: document.documentElement.scrollWidth, wide,
          tables: document.querySelectorAll('table.il-table').length};
})()"""


@needs_chromium
@pytest.mark.slow
def test_tables_wrap_on_screen_and_in_print(browser: DevTools, demo_report: Path,
                                            tmp_path: Path) -> None:
    seen = charts_in(browser, demo_report)
    assert seen["figures"] == seen["drawn"] >= 1
    for width in (1280, 800):
        browser.call("Emulation.setDeviceMetricsOverride", width=width, height=900,
                     deviceScaleFactor=1, mobile=False)
        fit = browser.evaluate(_OVERFLOW)
        assert fit["tables"] >= 3 and fit["wide"] == [] and fit["scroll"] <= fit["page"], fit
    # print: A4 less the page margins is about 700 CSS px
    browser.call("Emulation.setEmulatedMedia", media="print")
    browser.call("Emulation.setDeviceMetricsOverride", width=700, height=1000,
                 deviceScaleFactor=1, mobile=False)
    fit = browser.evaluate(_OVERFLOW)
    assert fit["wide"] == [] and fit["scroll"] <= fit["page"], fit
    browser.call("Emulation.clearDeviceMetricsOverride")
    pdf = browser.call("Page.printToPDF", preferCSSPageSize=True, printBackground=True)
    target = Path(os.environ.get("INCIDENTLAB_ARTIFACTS", tmp_path))  # a look for people
    target.mkdir(parents=True, exist_ok=True)
    (target / "postmortem-print.pdf").write_bytes(base64.b64decode(pdf["data"]))
    assert (target / "postmortem-print.pdf").stat().st_size > 10_000
