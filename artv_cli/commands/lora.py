"""`artv lora merge MODEL ADAPTER... --out FOLDER`: bake LoRA adapters into a new model folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from artv_cli.console import err

lora_app = typer.Typer(
    rich_markup_mode="markdown",
    help=(
        "LoRA adapters: train one with `artv train --lora RANK`, use it with `--lora PATH[:SCALE]` on any "
        "render command, bake it into a model folder with `artv lora merge`; `artv models` lists them.\n\n"
        "Examples:\n\n"
        "  artv lora merge default runs/my-lora/adapter --out my-model\n\n"
        "  artv lora merge default style/adapter:0.7 subject/adapter --out my-model"
    ),
    no_args_is_help=True,
)


@lora_app.command("merge")
def merge(
    model: Annotated[
        str, typer.Argument(help="The base: a model folder or a built-in name.", show_default=False)
    ],
    adapters: Annotated[
        list[str], typer.Argument(help="Adapters, PATH or PATH:SCALE each, stacked.", show_default=False)
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The new model folder.", show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
) -> None:
    """Bake adapters into a new model folder: it renders as the base with `--lora` given, without it.

    The folder's artv_config.json records each adapter's path, sha256 and scale.
    """
    from artv_cli.engine.hub.registry import merge_into_folder

    folder = merge_into_folder(model, adapters, out, force=force)
    err.print(f"merged {len(adapters)} adapter(s) into {folder}")
    print(folder)
