"""The rendered postmortem in headless Chromium, offline: no console errors, every chart drew."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import conftest_reports

incident_db = conftest_reports.incident_db
rendered_postmortem = conftest_reports.rendered_postmortem

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome", "headless_shell")
CHROME = next((found for name in BROWSERS if (found := shutil.which(name))), None)
try:  # DevTools over a websocket when websocket-client is installed, else the chromium CLI
    import websocket
except ImportError:
    websocket = None

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROME is None, reason="no chromium binary on PATH (apt-get install "
                       "chromium); the browser test needs one"),
]


class DevTools:
    """Just enough of the Chrome DevTools protocol: commands, and the events seen meanwhile."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


@pytest.fixture
def browser(tmp_path: Path):
    if websocket is None:
        pytest.skip("websocket-client not installed; test_postmortem_in_chromium_cli covers it")
    process = subprocess.Popen(
        [CHROME, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
         "--remote-allow-origins=*", f"--user-data-dir={tmp_path / 'profile'}",
         # network off: every non-file request goes to a closed local port
         "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
         "--window-size=1280,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if match := re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line):
                port = int(match.group(1))
        if port is None:
            pytest.fail("chromium did not start its DevTools endpoint")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            pages = [t for t in json.load(resp) if t["type"] == "page"]
        tools = DevTools(pages[0]["webSocketDebuggerUrl"])
        yield tools
        tools.ws.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_postmortem_renders_offline_without_errors(browser: DevTools, rendered_postmortem,
                                                   tmp_path: Path) -> None:
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable")
    browser.call("Network.emulateNetworkConditions", offline=True, latency=0,
                 downloadThroughput=-1, uploadThroughput=-1)
    browser.call("Page.navigate", url=rendered_postmortem.html.as_uri())
    browser.wait_for("Page.loadEventFired")
    charts = with_svg = 0
    for _ in range(40):  # plotly draws asynchronously after load
        charts, with_svg = browser.evaluate(
            "[document.querySelectorAll('.il-figure').length,"
            " [...document.querySelectorAll('.il-figure')]"
            "   .filter(e => e.querySelector('.js-plotly-plot svg.main-svg')).length]")
        if charts and charts == with_svg:
            break
        time.sleep(0.25)
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    target_dir = Path(os.environ.get("INCIDENTLAB_ARTIFACTS", tmp_path))
    target_dir.mkdir(parents=True, exist_ok=True)
    screenshot = target_dir / "postmortem.png"
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    print(f"screenshot: {screenshot}")

    events = browser.events
    errors = [e["params"] for e in events if e.get("method") == "Runtime.exceptionThrown"]
    errors += [e["params"] for e in events if e.get("method") == "Runtime.consoleAPICalled"
               and e["params"]["type"] in ("error", "assert")]
    errors += [e["params"]["entry"] for e in events if e.get("method") == "Log.entryAdded"
               and e["params"]["entry"]["level"] == "error"]
    fetched = [e["params"]["request"]["url"] for e in events
               if e.get("method") == "Network.requestWillBeSent"
               and not e["params"]["request"]["url"].startswith(("file:", "data:", "about:"))]
    assert errors == []
    assert not [e for e in events if e.get("method") == "Page.javascriptDialogOpening"]
    assert fetched == [], "the report must not fetch anything"
    assert charts >= 1 and with_svg == charts, (charts, with_svg)
    assert browser.evaluate("document.querySelectorAll('script:not([src])').length") >= 1
    assert not browser.evaluate("window.__pwned === true || document.querySelectorAll("
                                "'img[src=\"x\"]').length > 0")
    assert screenshot.stat().st_size > 10_000


class _PlotCounter(HTMLParser):
    """Counts figure containers (.il-figure) and those holding an svg.main-svg (the chart drew)."""

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                      "source", "track", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.plots = 0
        self.drawn: set[int] = set()
        self.current: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag in self.VOID:
            return
        is_plot = "il-figure" in classes
        if is_plot:
            self.plots += 1
            self.current.append(self.plots)
        if tag == "svg" and "main-svg" in classes and self.current:
            self.drawn.add(self.current[-1])
        self.stack.append((tag, is_plot))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            name, is_plot = self.stack.pop()
            if is_plot:
                self.current.pop()
            if name == tag:
                break


def test_postmortem_in_chromium_cli(rendered_postmortem, tmp_path: Path) -> None:
    """Without DevTools: --dump-dom after scripts ran, console lines from --enable-logging."""
    common = [CHROME, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--no-first-run", "--proxy-server=http://127.0.0.1:9",
              "--proxy-bypass-list=<-loopback>", "--enable-logging=stderr", "--v=0",
              "--virtual-time-budget=10000"]
    url = rendered_postmortem.html.as_uri()
    dom = subprocess.run([*common, f"--user-data-dir={tmp_path / 'p1'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    console = [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln]
    assert console == [], console
    counter = _PlotCounter()
    counter.feed(dom.stdout)
    assert counter.plots >= 1 and len(counter.drawn) == counter.plots, (counter.plots,
                                                                        counter.drawn)
    target_dir = Path(os.environ.get("INCIDENTLAB_ARTIFACTS", tmp_path))
    target_dir.mkdir(parents=True, exist_ok=True)
    screenshot = target_dir / "postmortem-cli.png"
    subprocess.run([*common, f"--user-data-dir={tmp_path / 'p2'}", "--window-size=1280,3000",
                    f"--screenshot={screenshot}", url], capture_output=True, timeout=120)
    print(f"screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000
