"""A wheel installed with `pip install --user` into a clean environment runs `incidentlab demo`
and `incidentlab report` from an unrelated directory: notebooks, template and rules are package
data, nothing is read from the checkout.

No download: the wheel is built without build isolation (setuptools from the dev extra), the
fresh venv sees the project venv's site-packages for the dependencies through a .pth line
(which does not activate the checkout's editable install) and their data files through
JUPYTER_PATH, and pip installs with --no-deps --no-index into a private PYTHONUSERBASE.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREE = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "src", "notebooks", "templates")


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_user_install_of_the_wheel_runs_demo_and_report(tmp_path: Path) -> None:
    started = time.monotonic()
    source = tmp_path / "source"
    source.mkdir()
    for name in TREE:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.egg-info", ".ipynb_checkpoints"))
        else:
            shutil.copy2(path, source / name)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--quiet", "-w", str(dist), str(source)])
    wheel = next(dist.glob("incidentlab-*.whl"))

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                         "['purelib'])"]).stdout.strip())
    deps = [p for p in (sysconfig.get_paths()["purelib"], *site.getsitepackages()) if p]
    (purelib / "_project_deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")

    userbase = tmp_path / "userbase"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH", "PYTHONHOME",
                        "PYTHONNOUSERSITE")}
    env.update(PYTHONUSERBASE=str(userbase), PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    # The dependencies' own data files (nbconvert's base templates, under share/jupyter) are
    # where they were installed, as they would be in an environment pip installed them into.
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    _run([str(python), "-m", "pip", "install", "--user", "--no-deps", "--no-index", "--quiet",
          str(wheel)], env=env, cwd=elsewhere)

    where = _run([str(python), "-c", "import incidentlab, incidentlab.reports.paths as p; "
                  "print(incidentlab.__file__); print(p.notebooks_dir()); "
                  "print(p.templates_dir())"], env=env, cwd=elsewhere).stdout.split()
    assert all(line.startswith(str(userbase)) for line in where), where

    script = userbase / "bin" / "incidentlab"
    demo = _run([str(script), "demo", "--out", "demo-out"], env=env, cwd=elsewhere)
    assert (elsewhere / "demo-out" / "report" / "05_postmortem.html").is_file(), demo.stdout
    report = _run([str(script), "report", "--db", "demo-out/demo.duckdb", "--out", "rep",
                   "-p", "title=From a wheel"], env=env, cwd=elsewhere)
    html = (elsewhere / "rep" / "05_postmortem.html").read_text(encoding="utf-8")
    assert "From a wheel" in html
    for output in (demo.stderr, report.stderr):
        assert "KeyboardInterrupt caught in kernel" not in output
        assert "Traceback" not in output
    assert time.monotonic() - started < 120


def test_the_kernel_launcher_drops_only_the_shutdown_line() -> None:
    import logging

    from incidentlab.reports.kernel import ShutdownNoise

    noise = ShutdownNoise()

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("IPKernelApp", logging.ERROR, __file__, 1, message, None, None)

    assert not noise.filter(record("KeyboardInterrupt caught in kernel"))
    assert not noise.filter(record("KeyboardInterrupt caught in kernel."))
    assert noise.filter(record("Exception in message handler:"))
