"""The `artv` command: registers the subcommands, nothing else."""

from __future__ import annotations

import typer

from artv_cli.commands.animate import animate
from artv_cli.commands.batch import batch
from artv_cli.commands.data import data_app
from artv_cli.commands.download import download
from artv_cli.commands.eval import eval_videos
from artv_cli.commands.generate import generate
from artv_cli.commands.init import init
from artv_cli.commands.lora import lora_app
from artv_cli.commands.models import models_app
from artv_cli.commands.show import show
from artv_cli.commands.story import story
from artv_cli.commands.train import train
from artv_cli.console import ArtvGroup

app = typer.Typer(
    rich_markup_mode="markdown",
    cls=ArtvGroup,
    name="artv",
    help=(
        "ART-V: auto-regressive text-to-video with diffusion models, one frame at a time.\n\n"
        "Examples:\n\n"
        '  artv animate examples/red-ball.png "a red ball rolls to the right" -o ball.mp4\n\n'
        '  artv generate "a blue square slides up" --frames 24 --seed 3\n\n'
        "  artv data synth synth-data --videos 64\n\n"
        "  artv train --data synth-data --model tiny-random --out runs/tiny --steps 200 --lr 1e-3\n\n"
        "  artv animate --help\n\n"
        "Set ARTV_DEBUG=1 to see a traceback with an error."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("animate")(animate)
app.command("generate")(generate)
app.command("batch")(batch)
app.add_typer(data_app, name="data")
app.command("download")(download)
app.add_typer(models_app, name="models")
app.command("init")(init)
app.command("story")(story)
app.command("train")(train)
app.command("eval")(eval_videos)
app.command("show")(show)
app.add_typer(lora_app, name="lora")


def _print_version(value: bool) -> None:
    if value:
        from artv_cli import __version__

        print(f"artv {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    """ART-V: auto-regressive text-to-video with diffusion models."""


def main() -> None:
    from artv_cli.console import install_signal_handlers

    install_signal_handlers()
    app()
