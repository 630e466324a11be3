"""Where the notebooks, the nbconvert template and the incident database are, in a checkout or installed."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import DatabaseNotFoundError, UsageError

DEMO_DB = "demo-out/demo.duckdb"
TEMPLATE_NAME = "incidentlab"
_REPO_ROOT = Path(__file__).resolve().parents[3]
# A wheel installs the folders as data files (see pyproject.toml) under <prefix>/share.
_INSTALLED = Path(sys.prefix) / "share" / "incidentlab"


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise UsageError(
        f"cannot find {candidates[0].name}/ (looked in {', '.join(str(c) for c in candidates)})",
        hint="reinstall incidentlab (`make test` bootstraps .venv)",
    )


def notebooks_dir() -> Path:
    return _first_existing(_REPO_ROOT / "notebooks", _INSTALLED / "notebooks")


def templates_dir() -> Path:
    """The folder that holds the `incidentlab` nbconvert template (an extra template base dir)."""
    return _first_existing(_REPO_ROOT / "templates", _INSTALLED / "templates")


def list_notebooks() -> list[str]:
    return sorted(p.stem for p in notebooks_dir().glob("[0-9][0-9]_*.ipynb"))


def notebook_path(name: str) -> Path:
    """A notebook by stem (`05_postmortem`), short name (`postmortem`) or path."""
    as_path = Path(name)
    if as_path.suffix == ".ipynb" and as_path.is_file():
        return as_path
    known = list_notebooks()
    for stem in known:
        if name in (stem, stem.split("_", 1)[1]):
            return notebooks_dir() / f"{stem}.ipynb"
    raise UsageError(f"no notebook named {name!r}", hint=f"choose one of: {', '.join(known)}")


def resolve_db(db: str | Path) -> Path:
    """A relative path resolves against the current dir, then each parent (notebooks run in notebooks/)."""
    path = Path(db).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        cwd = Path.cwd()
        candidates = [base / path for base in (cwd, *cwd.parents)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    hint = (
        "run `make demo` to build the demo database"
        if Path(db).as_posix().endswith(DEMO_DB)
        else "pass an existing database (`incidentlab ingest` creates one, `make demo` the demo)"
    )
    raise DatabaseNotFoundError(f"no database at {db} (looked from {Path.cwd()} upwards)", hint=hint)
