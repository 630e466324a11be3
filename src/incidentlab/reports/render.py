"""Execute a report notebook with papermill, then convert it to one offline HTML file with nbconvert."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml
from nbconvert.preprocessors import Preprocessor

from ..errors import IncidentLabError, UsageError
from .display import FIGURE_CLASS, FIGURE_KIND_ATTR, PLOTLYJS_ATTR, SUMMARY_MIME, plotlyjs_script
from .paths import TEMPLATE_NAME, notebook_path, resolve_db, templates_dir
from .secrets import MASK, looks_secret

KERNEL_NAME = "incidentlab"
DEFAULT_NOTEBOOK = "05_postmortem"
CELL_TIMEOUT_S = 600
_HIDDEN_TAGS = {"parameters", "injected-parameters", "summary", "notebook-intro"}


class ReportError(IncidentLabError):
    """A notebook cell failed; the message names the cell and the partial notebook."""

    exit_code = 1


@dataclass
class RenderResult:
    notebook: str
    ipynb: Path
    html: Path
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


# --- kernel -----------------------------------------------------------------------------------


def ensure_kernel() -> str:
    """A kernelspec that runs this very interpreter, so a bare venv (CI) needs no `jupyter` setup.

    It goes to <sys.prefix>/share/jupyter/kernels when writable, else to a per-interpreter temp
    folder; either folder is put first on JUPYTER_PATH so no user-level spec can shadow it.
    """
    spec = {
        # ERROR level: ipykernel 7 warns on every start that local TCP is unencrypted;
        # reports.kernel is ipykernel without its "KeyboardInterrupt caught" line at shutdown
        "argv": [sys.executable, "-m", "incidentlab.reports.kernel", "-f", "{connection_file}",
                 "--IPKernelApp.log_level=ERROR"],
        "display_name": "incidentlab (Python 3)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    digest = hashlib.sha256(sys.executable.encode()).hexdigest()[:12]
    roots = [
        Path(sys.prefix) / "share" / "jupyter",
        Path(os.environ.get("TMPDIR", "/tmp")) / f"incidentlab-jupyter-{digest}",
    ]
    for root in roots:
        target = root / "kernels" / KERNEL_NAME / "kernel.json"
        try:
            if not target.is_file() or json.loads(target.read_text()) != spec:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(spec, indent=1))
                tmp.replace(target)
        except OSError:
            continue
        paths = os.environ.get("JUPYTER_PATH", "")
        if str(root) not in paths.split(os.pathsep):
            os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(root), paths) if p)
        return KERNEL_NAME
    raise UsageError("cannot write a Jupyter kernelspec", hint="check that TMPDIR is writable")


# --- parameters -------------------------------------------------------------------------------


def known_parameters(path: Path) -> dict[str, dict[str, Any]]:
    import papermill as pm

    return dict(pm.inspect_notebook(str(path)))


def _coerce(name: str, raw: str, declared: str) -> Any:
    declared = (declared or "").lower()
    if declared in ("str", "none", ""):
        return raw
    if declared == "list" and not raw.lstrip().startswith("["):
        return [v.strip() for v in raw.split(",") if v.strip()]
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise UsageError(f"parameter {name}: cannot read {raw!r} as {declared}") from exc
    expected = {"int": int, "float": (int, float), "bool": bool, "list": list, "dict": dict}.get(
        declared)
    if expected is not None and (not isinstance(value, expected) or (
            declared in ("int", "float") and isinstance(value, bool))):
        raise UsageError(f"parameter {name}: expected {declared}, got {raw!r}")
    return value


def parse_parameters(pairs: list[str] | tuple[str, ...], known: dict[str, dict[str, Any]]
                     ) -> dict[str, Any]:
    """`name=value` strings -> typed values, by the type declared in the parameters cell."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"parameter {pair!r} is not name=value")
        check_names([name], known)
        values[name] = _coerce(name, raw, known[name].get("inferred_type_name", "str"))
    return values


def check_names(names: list[str], known: dict[str, dict[str, Any]]) -> None:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            hint=f"this notebook takes: {', '.join(known)}",
        )


def shown_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters safe to print: secret-looking values masked."""
    return {k: MASK if looks_secret(k, v) else v for k, v in params.items()}


def _scrub_notebook(path: Path, params: dict[str, Any]) -> nbformat.NotebookNode | None:
    """Mask secret-looking parameter values papermill wrote in plain text (cell and metadata)."""
    if not path.is_file():
        return None
    nb = nbformat.read(path, as_version=4)
    masked = shown_parameters(params)
    if masked != params:
        from papermill.translators import translate_parameters

        for cell in nb.cells:
            if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
                cell.source = translate_parameters(KERNEL_NAME, "python", masked, "Parameters")
        meta = nb.metadata.get("papermill", {})
        if "parameters" in meta:
            meta["parameters"] = masked
        nbformat.write(nb, path)
    return nb


# --- nbconvert --------------------------------------------------------------------------------


_CARRIED_BUNDLE = re.compile(
    rf'<script type="text/javascript" {PLOTLYJS_ATTR}="[^"]*">.*?</script>', re.DOTALL)
_FIGURE_KIND = re.compile(rf'class="{FIGURE_CLASS}"(?: {FIGURE_KIND_ATTR}="(\w+)")?')


class ReportPreprocessor(Preprocessor):
    """Drops parameter and summary cells and puts plotly.js (once) into the resources.

    Figure outputs carry their own copy of plotly.js for plain nbconvert; the report moves it into
    the head instead: the partial bundle when every figure says it suffices, else the full one
    (figures from an older incidentlab say nothing)."""

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        nb.cells = [c for c in nb.cells
                    if not _HIDDEN_TAGS & set(c.get("metadata", {}).get("tags", []))]
        kinds: set[str] = set()
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.outputs = [o for o in cell.get("outputs", [])
                            if SUMMARY_MIME not in o.get("data", {})]
            for output in cell.outputs:
                markup = output.get("data", {}).get("text/html")
                if not isinstance(markup, str) or FIGURE_CLASS not in markup:
                    continue
                kinds.update(m.group(1) or "full" for m in _FIGURE_KIND.finditer(markup))
                output["data"]["text/html"] = _CARRIED_BUNDLE.sub("", markup)
        if kinds and not resources.get("plotly_js"):
            resources["plotly_js"] = plotlyjs_script("basic" if kinds == {"basic"} else "full")
        return nb, resources


def to_html(nb: nbformat.NotebookNode) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(templates_dir())],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": nb.metadata.get(
        "title", "incident report")}})
    return body


def extract_summary(nb: nbformat.NotebookNode) -> dict[str, Any]:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if SUMMARY_MIME in data:
                return dict(data[SUMMARY_MIME])
    return {}


def _describe_cell(nb: nbformat.NotebookNode | None, exc: Any) -> str:
    """The failing cell's call (not its imports) and the heading of the section it belongs to."""
    lines = [ln.strip() for ln in str(exc.source).splitlines() if ln.strip()]
    call = next((ln for ln in lines if not ln.startswith(("import ", "from ", "#"))), "")
    label = f"`{call[:80]}`"
    if nb is not None and 0 <= exc.cell_index < len(nb.cells):
        for cell in reversed(nb.cells[: exc.cell_index]):
            if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
                label += f" (section {cell.source.lstrip().splitlines()[0].lstrip('# ')!r})"
                break
    return label


# --- execution: progress and saves ---------------------------------------------------------

# papermill writes the whole output notebook at every cell's start and end (two writes of a
# notebook of several MB per cell at 1M events; benchmarks/render.py). The partial notebook
# is written at most this often, and always when the run ends (a failed cell or a dead kernel
# included), so a render killed from outside leaves one at most this old.
SAVE_EVERY_S = 10.0


def _engine(progress: bool) -> str:
    """A papermill engine (nbclient's) that saves the partial notebook every SAVE_EVERY_S and at
    the end, and with `progress` writes one line per cell to stderr as it starts:
    `05_postmortem [3/19] sections.pm_summary(ctx)` and the seconds the notebook has run."""
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    engine = PROGRESS_ENGINE if progress else ENGINE

    class Manager(NotebookExecutionManager):
        saved = -float("inf")
        final = False

        def save(self, **kwargs: Any) -> None:
            if self.final or time.monotonic() - self.saved >= SAVE_EVERY_S:
                super().save(**kwargs)
                self.saved = time.monotonic()

        def notebook_complete(self, **kwargs: Any) -> None:
            self.final = True
            super().notebook_complete(**kwargs)

        def cell_start(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
            super().cell_start(cell, cell_index, **kwargs)
            if not progress or cell_index is None or cell.get("cell_type") != "code":
                return
            code = [i for i, c in enumerate(self.nb.cells) if c.get("cell_type") == "code"]
            lines = [ln.strip() for ln in str(cell.source).splitlines() if ln.strip()]
            call = next((ln for ln in lines if not ln.startswith(("import ", "from ", "#"))), "")
            if {"parameters", "injected-parameters"} & set(cell.get("metadata", {}).get("tags", [])):
                call = "parameters"
            name = self.nb.metadata.get("papermill", {}).get("input_path", "") or "notebook"
            sys.stderr.write(f"{Path(str(name)).stem} [{code.index(cell_index) + 1}/{len(code)}] "
                             f"{call[:70]} ({time.monotonic() - self.started:.0f}s)\n")
            sys.stderr.flush()

        def notebook_start(self, **kwargs: Any) -> None:
            self.started = time.monotonic()
            super().notebook_start(**kwargs)

    class Engine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb: Any, kernel_name: str, output_path: Any = None,
                             progress_bar: Any = False, log_output: bool = False,
                             autosave_cell_every: int = 30, **kwargs: Any) -> Any:
            nb_man = Manager(nb, output_path=output_path, progress_bar=False,
                             log_output=log_output, autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(engine, Engine)
    return engine


ENGINE = "incidentlab"
PROGRESS_ENGINE = "incidentlab-progress"


# --- the whole run ----------------------------------------------------------------------------


def render_report(
    db: str | Path,
    out_dir: str | Path,
    params: dict[str, Any] | None = None,
    *,
    notebook: str = DEFAULT_NOTEBOOK,
    cell_timeout: int = CELL_TIMEOUT_S,
    progress: bool | None = None,
) -> RenderResult:
    """Execute `notebook` against `db` into out_dir/<notebook>.ipynb and .html.

    `progress`: a line per cell on stderr as it starts (default: when stderr is a terminal)."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    source = notebook_path(notebook)
    known = known_parameters(source)
    params = dict(params or {})
    check_names(list(params), known)
    params["db"] = str(resolve_db(db))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ipynb = out / f"{source.stem}.ipynb"
    html_path = out / f"{source.stem}.html"
    if progress is None:
        progress = sys.stderr.isatty()
    started = time.monotonic()
    try:
        pm.execute_notebook(
            str(source), str(ipynb), parameters=params, kernel_name=ensure_kernel(),
            progress_bar=False, log_output=False, execution_timeout=cell_timeout,
            request_save_on_cell_execute=True, engine_name=_engine(progress),
        )
    except PapermillExecutionError as exc:
        partial = _scrub_notebook(ipynb, params)
        raise ReportError(
            f"{source.stem}: cell [{exc.exec_count}] {_describe_cell(partial, exc)} failed with "
            f"{exc.ename}: {str(exc.evalue)[:300]}",
            hint=f"partial notebook with the traceback: {ipynb}",
        ) from None
    except Exception as exc:  # kernel died or would not start: still name the partial notebook
        _scrub_notebook(ipynb, params)
        raise ReportError(f"{source.stem}: execution failed: {type(exc).__name__}: {exc}",
                          hint=f"partial notebook (if any): {ipynb}") from None
    nb = _scrub_notebook(ipynb, params)
    assert nb is not None
    summary = extract_summary(nb)
    if summary.get("title"):
        nb.metadata["title"] = f"{summary['title']} · {nb.metadata.get('title', source.stem)}"
    html_path.write_text(to_html(nb), encoding="utf-8")
    return RenderResult(source.stem, ipynb, html_path, time.monotonic() - started, summary)
