"""The docs: the CLI reference is what --help says and names every command and option, the
schema and rules pages name every column and key, and `mkdocs build --strict` passes."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import click

from incidentlab.cli import main
from incidentlab.store import EVENT_COLUMNS, LOAD_COLUMNS, METRIC_COLUMNS, WARNING_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RULES = ROOT / "src" / "incidentlab" / "rules"


def _gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", DOCS / "gen_cli.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current() -> None:
    assert (DOCS / "cli.md").read_text(encoding="utf-8") == _gen_cli().render(), (
        "docs/cli.md is out of date: run python docs/gen_cli.py")


def test_every_command_and_option_is_documented() -> None:
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## incidentlab (\S+)\n(.*?)(?=^## |\Z)", page, re.M | re.S))
    missing = []
    for name, command in main.commands.items():
        if name not in sections:
            missing.append(f"command {name}")
            continue
        for param in command.params:
            if isinstance(param, click.Option) and param.hidden:
                continue
            for opt in param.opts if isinstance(param, click.Option) else [param.name.upper()]:
                if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", sections[name]):
                    missing.append(f"{name} {opt}")
    assert not missing, "not in docs/cli.md: " + ", ".join(missing)


def test_completion_and_vocabulary_are_documented() -> None:
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    for text in ("_INCIDENTLAB_COMPLETE=bash_source", "zsh_source", "fish_source",
                 "--no-redact", "<key>_human", "python -m incidentlab"):
        assert text in page, text


def test_schema_page_names_every_column() -> None:
    page = (DOCS / "schema.md").read_text(encoding="utf-8")
    for table, columns in (("events", EVENT_COLUMNS), ("metrics", METRIC_COLUMNS),
                           ("_loads", LOAD_COLUMNS), ("_load_warnings", WARNING_COLUMNS)):
        section = page.split(f"## {table}\n", 1)[1].split("\n## ", 1)[0]
        for name, kind in columns:
            assert f"| `{name}` | {kind} |" in section, f"{table}.{name}"


def _keys(entries: list[dict]) -> set[str]:
    keys: set[str] = set()
    for entry in entries:
        keys.update(entry)
        for level in entry.get("levels", []):
            keys.update(level)
        if isinstance(entry.get("escalate"), dict):
            keys.update(entry["escalate"])
    return keys


def test_rules_page_names_every_key_the_shipped_rules_use() -> None:
    page = (DOCS / "rules.md").read_text(encoding="utf-8")
    used: set[str] = set()
    for path in RULES.glob("*.toml"):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        used |= set(data) - {"rule", "mode"}
        used |= _keys(data.get("rule", [])) | _keys(data.get("mode", []))
        used |= set(data.get("redaction", {}))
    missing = sorted(k for k in used if f"`{k}`" not in page)
    assert not missing, f"rules keys not in docs/rules.md: {missing}"


def test_loader_guide_names_the_entry_point_group() -> None:
    page = (DOCS / "loaders.md").read_text(encoding="utf-8")
    assert '[project.entry-points."incidentlab.loaders"]' in page


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """The site builds with every warning an error (broken links, docstrings mkdocstrings
    cannot read). mkdocs is in the dev extra, as CI installs it."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
         "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("incidentlab.api.open", "Incident", "timeline", "replay", "alerts"):
        assert name in api, name
