"""Write docs/cli.md from the command line's own --help (run after changing a command).

    python docs/gen_cli.py          # rewrite docs/cli.md
    python docs/gen_cli.py --check  # exit 1 when docs/cli.md is not what --help says

tests/test_docs.py runs the check, and checks that every command and option is in the page.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

PAGE = Path(__file__).with_name("cli.md")

INTRO = """\
# Command line

Generated from `incidentlab --help` by `docs/gen_cli.py`; do not edit by hand.
`python -m incidentlab` is the same command line.

## One vocabulary

Every command that filters takes the same options with the same names and defaults:

- **scope** (`timeline`, `export`, `incidents`, `replay`, `alerts`, `classify`, `usage`, and as
  notebook parameters on `report` and `batch`): `--start`, `--end` (ISO 8601, naive = UTC),
  `--pivot` with `--span` minutes either side (default 30), `--system`, `--project`, `--stream`
  (repeatable) and `--correlation-id`;
- **event listings** (`timeline`, `export`): `--type` (repeatable, `security.*` matches a
  prefix; `--event-type` is an old name still accepted) and `--min-severity`; `--limit` keeps
  the newest N on `timeline` (default 200, a screenful) and the first N on `export` (default:
  all);
- **redaction**: every output is redacted; `--no-redact` is the one switch that shows secrets;
- `--db FILE` names the incident database, `--json` prints JSON.

JSON is the same on every command: times are ISO 8601 with their offset
(`2026-03-01T12:00:00+00:00`); every duration is a number of seconds under its own key
(`seconds`, `*_seconds`, `time_to_detect`, ...) with a human form beside it under
`<key>_human` (`"time_to_detect": 754.0, "time_to_detect_human": "12m 34s"`).

Exit codes: 0 ok; 1 the check found problems (replay violations, alerts at or above
`--fail-on`, files that failed to ingest, `ingest --strict` with quarantined records of the
files given, in this run or an earlier one); 2 bad usage or bad input; 130 interrupted.

## Shell completion

Completion comes from click: commands, options, choices, file names, and the names of the
registered loaders (`ingest --loader`) and of the report notebooks (`report --notebook`).
Enable it once per shell:

```sh
# bash (~/.bashrc)
eval "$(_INCIDENTLAB_COMPLETE=bash_source incidentlab)"
# zsh (~/.zshrc)
eval "$(_INCIDENTLAB_COMPLETE=zsh_source incidentlab)"
# fish (~/.config/fish/completions/incidentlab.fish)
_INCIDENTLAB_COMPLETE=fish_source incidentlab | source
```

To avoid running incidentlab at every shell start, write the script to a file once
(`_INCIDENTLAB_COMPLETE=bash_source incidentlab > ~/.incidentlab-complete.bash`) and source
that file instead.
"""


def _help(command: click.Command, name: str, parent: click.Context | None = None
          ) -> tuple[str, click.Context]:
    """The help text exactly as `--help` prints it (the root group's context settings apply)."""
    ctx = command.make_context(name, [], parent=parent, resilient_parsing=True,
                               terminal_width=100, max_content_width=100)
    return command.get_help(ctx), ctx


def render() -> str:
    from incidentlab.cli import main

    text, root = _help(main, "incidentlab")
    parts = [INTRO, "## incidentlab\n", "```text", text, "```\n"]
    for name in sorted(main.commands):
        command = main.commands[name]
        parts += [f"## incidentlab {name}\n", "```text", _help(command, name, root)[0], "```\n"]
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not PAGE.is_file() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is out of date: run python docs/gen_cli.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
