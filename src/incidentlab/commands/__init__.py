"""CLI commands, one module per area; `register` adds them all to the root group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from . import ingest_cmds

    for command in ingest_cmds.COMMANDS:
        group.add_command(command)
