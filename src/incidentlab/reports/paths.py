"""Where the notebooks, the nbconvert template and the incident database are.

The notebooks and the template are package data (`incidentlab/reports/notebooks/`,
`incidentlab/reports/templates/`, copied from the checkout's `notebooks/` and `templates/` when
a wheel is built, see setup.py), read with importlib.resources; an editable checkout reads
the checkout's folders, so an edited notebook is used as is. Either way it works from any
directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import DatabaseNotFoundError, UsageError

DEMO_DB = "demo-out/demo.duckdb"
TEMPLATE_NAME = "incidentlab"
# An editable install (`pip install -e .`) imports src/incidentlab from the checkout.
_CHECKOUT = Path(__file__).resolve().parents[3]


def _shipped(name: str) -> Path | None:
    """A folder of package data as a file-system path (wheels install packages unzipped)."""
    folder = resources.files(__package__) / name
    if folder.is_dir():
        return Path(str(folder))
    return None


def _checkout(name: str) -> Path | None:
    """The checkout's folder, only when this module is the checkout's own src/incidentlab."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "src" / "incidentlab").is_dir():
        folder = _CHECKOUT / name
        return folder if folder.is_dir() else None
    return None


def _find(name: str) -> Path:
    found = _shipped(name) or _checkout(name)
    if found is None:
        raise UsageError(
            f"cannot find the report {name}/ (neither package data of {__package__} nor a "
            f"checkout at {_CHECKOUT})",
            hint="reinstall incidentlab from a wheel or sdist (`pip install --force-reinstall "
                 "incidentlab`), or from a checkout with `pip install -e .`",
        )
    return found


def notebooks_dir() -> Path:
    return _find("notebooks")


def templates_dir() -> Path:
    """The folder that holds the `incidentlab` nbconvert template (an extra template base dir)."""
    return _find("templates")


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
