"""`artv init --base BASE OUT`: an untrained ART-V model folder from a Stable Diffusion base."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from artv_cli.console import err


def init(
    out: Annotated[Path, typer.Argument(help="New ART-V model folder.", show_default=False)],
    base: Annotated[
        str,
        typer.Option(
            help="Base: a registry name (sd21-base), a diffusers folder, or a built-in random preset."
        ),
    ] = "sd21-base",
    seed: Annotated[
        int, typer.Option(help="Seed of the fresh parts (Phi_mask, adapters, anchor encoders).")
    ] = 0,
) -> None:
    """Build an untrained ART-V: Phi_dynamic = the base UNet; Phi_mask, new parts fresh (docs/method.md).

    The folder is ready for `artv train --model OUT`.

    Examples:

      artv init --base sd21-base art-v-sd21

      artv init --base path/to/stable-diffusion-folder art-v-custom
    """
    from artv_cli.engine.hub.downloads import local_path, registry
    from artv_cli.engine.hub.registry import RANDOM_MODELS, quiet_libraries
    from artv_cli.engine.model.artv import ARTVModel
    from artv_cli.engine.model.config import CONFIG_NAME
    from artv_cli.errors import ArtvError

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ArtvError(f"{out} exists and is not empty", "give a new folder; nothing was changed")
    quiet_libraries()
    if base in RANDOM_MODELS:
        model = ARTVModel.random(RANDOM_MODELS[base], seed=seed)
    else:
        folder = Path(base).expanduser()
        if not folder.exists():
            if base not in registry():
                raise ArtvError(
                    f"--base {base}: no such folder or registry name",
                    f"give a diffusers Stable Diffusion folder or one of: {', '.join(registry())}",
                )
            folder = local_path(base)
        if (folder / CONFIG_NAME).is_file():
            raise ArtvError(
                f"--base {folder} is an ART-V model already", "train it directly: artv train --model FOLDER"
            )
        err.print(f"building ART-V from {folder}")
        model = ARTVModel.from_base(folder, seed=seed)
    model.config.extra["init"] = {"base": base, "seed": seed}
    model.save(out)
    err.print(f"wrote an untrained ART-V ({model.parameter_count() / 1e6:.0f} M parameters) to {out}")
    print(out)
