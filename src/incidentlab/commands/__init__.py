"""CLI commands, one module per area; `register` adds them all to the root group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from . import analysis_cmds, demo_cmds, ingest_cmds, lake_cmds, report_cmds, usage_cmds

    for command in analysis_cmds.COMMANDS:
        group.add_command(command)
    for command in demo_cmds.COMMANDS:
        group.add_command(command)
    for command in ingest_cmds.COMMANDS:
        group.add_command(command)
    for command in lake_cmds.COMMANDS:
        group.add_command(command)
    for command in report_cmds.COMMANDS:
        group.add_command(command)
    for command in usage_cmds.COMMANDS:
        group.add_command(command)
