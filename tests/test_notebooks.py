"""The report notebooks: thin, parameterized, committed clean, and runnable under nbval (lax)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from incidentlab.reports.paths import DEMO_DB, list_notebooks, notebooks_dir
from incidentlab.reports.render import known_parameters

import conftest_reports

demo_db = conftest_reports.demo_db

NOTEBOOKS = ["01_overview", "02_timeline", "03_replay", "04_alerts", "05_postmortem"]


def _read(stem: str) -> nbformat.NotebookNode:
    return nbformat.read(notebooks_dir() / f"{stem}.ipynb", as_version=4)


def test_all_notebooks_present() -> None:
    assert list_notebooks() == [*NOTEBOOKS, "06_diff"]  # 06_diff: tests/test_diff.py


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_is_thin_and_clean(stem: str) -> None:
    nb = _read(stem)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell holds parameters"
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, "commit without outputs"
        tree = ast.parse(cell.source)
        assert not any(isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Lambda)
                       for n in ast.walk(tree)), "no definitions in notebooks"
        assert "open(" not in cell.source and "SELECT" not in cell.source.upper()
    for cell in code[2:]:
        assert len(cell.source.splitlines()) == 1 and cell.source.startswith("sections."), (
            "one library call per cell")


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_parameters_are_documented(stem: str) -> None:
    params = known_parameters(notebooks_dir() / f"{stem}.ipynb")
    assert params["db"]["default"] == f'"{DEMO_DB}"'
    assert list(params) == list(known_parameters(notebooks_dir() / "05_postmortem.ipynb"))
    for name, info in params.items():
        assert info["inferred_type_name"] not in ("None", ""), name
        assert info["help"], f"{name} needs a one-line help comment"


@pytest.mark.slow
def test_notebooks_run_under_nbval(demo_db, tmp_path: Path) -> None:
    """nbval --nbval-lax on copies of the notebooks, placed so the default db path resolves."""
    pytest.importorskip("nbval")
    work = tmp_path / "notebooks"
    work.mkdir()
    for stem in NOTEBOOKS:
        shutil.copy(notebooks_dir() / f"{stem}.ipynb", work)
    # relative default `demo-out/demo.duckdb` is found walking up from the kernel's cwd
    (tmp_path / "demo-out").mkdir()
    shutil.copy(demo_db, tmp_path / "demo-out" / "demo.duckdb")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", "--rootdir", str(tmp_path), str(work)],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
