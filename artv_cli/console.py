"""Where output goes (results on stdout, everything else on stderr) and how errors reach the user."""

from __future__ import annotations

import os
import sys

import click
from rich.console import Console
from typer.core import TyperGroup

from artv_cli.errors import ArtvError

err = Console(stderr=True, highlight=False)


def debug() -> bool:
    return os.environ.get("ARTV_DEBUG", "") not in ("", "0")


class ArtvGroup(TyperGroup):
    """Turns the project's errors into one line plus the fix, exit code 2 (traceback with ARTV_DEBUG=1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ArtvError as error:
            if debug():
                raise
            err.print(f"[bold red]error:[/] {error.message}", markup=True, soft_wrap=True)
            if error.hint:
                err.print(f"  fix: {error.hint}", soft_wrap=True, markup=False)
            sys.exit(2)
        except KeyboardInterrupt:
            if debug():
                raise
            err.print("interrupted: nothing half-written was left behind", soft_wrap=True)
            sys.exit(130)
