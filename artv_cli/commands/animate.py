"""`artv animate IMAGE PROMPT`: the image is frame 0, ART-V makes the rest (text-image-to-video)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from artv_cli import options as o
from artv_cli.commands.render_common import request_from_cli, run_render


@o.render_settings
def animate(
    ctx: typer.Context,
    image: Annotated[
        Path,
        typer.Argument(
            help="Frame 0: a PNG, JPEG or WebP image of any size (scaled to cover the video's size, then "
            "centre-cropped).",
            show_default=False,
        ),
    ],
    prompt: Annotated[str, typer.Argument(help="What happens in the video.", show_default=False)],
    negative_prompt: o.NegativePrompt = "",
    model: o.Model = None,
    frames: o.Frames = 16,
    fps: o.Fps = 8.0,
    size: o.Size = None,
    fast: o.Fast = False,
    compile: o.Compile = False,
    seed: o.Seed = None,
    device: o.Device = "auto",
    dtype: o.Dtype = o.DtypeName.auto,
    out: o.Out = None,
    force: o.Force = False,
    quality: o.Quality = 8.0,
    frames_dir: o.FramesDir = None,
    json: o.Json = False,
    **settings,
) -> None:
    """Animate an image: it becomes frame 0 and the anchor; every next frame follows the prompt.

    Examples:

      artv animate examples/red-ball.png "a red circle moves right quickly, on a plain grey background"

      artv animate examples/blue-square.png "a blue square moves up quickly" --frames 32 -o square.mp4

      artv animate examples/red-ball.png "a red circle moves left slowly" --fast --json
    """
    run_render(request_from_cli(ctx.params), json)
