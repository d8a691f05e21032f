"""What `animate` and `generate` share: turning their options into a request and printing the result.

The work itself (checks, model, frame loop, sidecar) is the engine's: `engine.sampling.request`.
"""

from __future__ import annotations

import json
import sys
from enum import Enum

from artv_cli.console import err, progress_bar, raise_if_terminated


def request_from_cli(values: dict):
    """A RenderRequest from a command's parsed parameters (click's `ctx.params`: its own options and the
    render settings' of `options.render_settings`), choices turned into values."""
    from artv_cli.engine.sampling.request import RenderRequest

    values = {key: value.value if isinstance(value, Enum) else value for key, value in values.items()}
    values.pop("json", None)
    values |= values.pop("settings", {})  # the render settings' options (options.render_settings)
    return RenderRequest(**values)


def run_render(request, json_out: bool) -> None:
    """Check everything, render with a progress bar on stderr, print the path (or JSON) on stdout."""
    from artv_cli.engine.sampling.request import plan, render_video

    job = plan(request)
    for notice in job.notices:
        err.print(f"note: {notice}")
    dtype_name = str(job.dtype).removeprefix("torch.")
    err.print(
        f"model {job.ref.name} on {job.device} ({dtype_name}), seed {job.seed}, {job.width}x{job.height}"
    )
    made = request.frames - (1 if job.pixels is not None else 0)
    total = max(1, made * job.steps + (job.first_frame_steps or job.steps) - job.steps)
    with progress_bar(preview=bool(request.preview)) as progress:
        task = progress.add_task(f"frame 1/{request.frames}", total=total)

        def on_step(frame: int, step: int, steps: int, preview) -> None:
            raise_if_terminated()
            progress.show(preview)  # a finished frame, with --preview
            progress.update(task, advance=1, description=f"frame {frame + 1}/{request.frames}")

        result = render_video(request, job, on_step=on_step, argv=sys.argv[1:])
        progress.update(task, completed=total)
    plural = "s" if result.frames != 1 else ""
    err.print(f"wrote {result.frames} frame{plural} to {result.video} in {result.seconds:.1f} s")
    if json_out:
        summary = {
            "video": str(result.video),
            "sidecar": str(result.sidecar),
            "frames": result.frames,
            "width": result.width,
            "height": result.height,
            "fps": result.fps,
            "seed": result.seed,
            "frames_dir": result.frames_dir,
            "seconds": result.seconds,
        }
        print(json.dumps(summary))
    else:
        print(result.video)
