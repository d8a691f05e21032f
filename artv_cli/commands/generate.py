"""`artv generate PROMPT`: text only; ART-V makes frame 0 itself from blank references (Sec. 4.1)."""

from __future__ import annotations

from typing import Annotated

import typer

from artv_cli import options as o
from artv_cli.commands.render_common import request_from_cli, run_render


@o.render_settings
def generate(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="What the video shows and how it moves.", show_default=False)],
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
    """Generate a video from text alone: frame 0 from blank references, then frame after frame.

    Examples:

      artv generate "a blue square moves up slowly, on a plain grey background" --seed 3 -o square.mp4

      artv generate "a yellow triangle moves left quickly, on a plain navy background" --frames-dir frames/

      artv generate "a green circle moves down slowly, on a plain black background" --noise-level 100 --json
    """
    run_render(request_from_cli(ctx.params), json)
