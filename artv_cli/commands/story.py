"""`artv story FILE`: render a YAML storyboard of chained prompts into one long video."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from artv_cli import options as o
from artv_cli.console import command_line, err, interrupted_status, raise_if_terminated
from artv_cli.versions import versions

# Seconds per denoising step of one frame, measured (2-core CPU, fp32, tiny preset at 64x64, 3 branches).
MEASURED_STEP_SECONDS = {"tiny": 0.016}


@o.render_settings
def story(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The storyboard (.yaml).", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output (replaces output.path): .mp4 (H.264), .gif, .webm (VP9), or a name without an "
            "extension for a folder of PNG frames.",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted render of the same storyboard.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option(help="Check the storyboard and print the plan; render nothing.")
    ] = False,
    sheet: Annotated[
        Path | None,
        typer.Option(
            help="With --dry-run: also render the first 3 frames of each segment at 4 steps, chained, into "
            "this PNG, each segment's prompt under its frames (a look before the long render)."
        ),
    ] = None,
    model: o.Model = None,
    size: o.Size = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the first segment. (default: the storyboard's)")
    ] = None,
    fast: o.Fast = False,
    device: o.Device = "auto",
    dtype: o.Dtype = o.DtypeName.auto,
    force: o.Force = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    **settings,
) -> None:
    """Render a storyboard: segments of prompts chained into one long video (paper Sec. 4.1).

    Each segment continues from the last two frames of the one before; keyframe images, re-anchoring
    and prompt transitions are set per segment (docs/storyboards.md). Ctrl-C keeps a playable video of
    the finished segments; --resume continues it.

    Examples:

      artv story storyboards/demo.yaml --dry-run

      artv story storyboards/demo.yaml -o demo.mp4

      artv story storyboards/keyframes.yaml -o keyframes.mp4 --resume

      artv story storyboards/demo.yaml --steps 6 --seed 3 -o draft.mp4
    """
    from artv_cli.engine.hub.registry import DEFAULT_MODEL
    from artv_cli.engine.sampling.story import plan_story, work_dir
    from artv_cli.errors import ArtvError

    # 1. Everything that needs no model (the engine's `plan_story`): the file, the overrides, the model
    #    name, the size, the output, the sidecar's settings.
    given = dict(model=model, size=size, seed=seed) | settings

    def note(text: str) -> None:
        err.print(f"note: {text}", soft_wrap=True)

    job = plan_story(file, given, fast=fast, out=out, force=force, resume=resume, note=note)
    board, planned, size, ref, target, record, speed = (
        job.board,
        job.planned,
        job.size,
        job.ref,
        job.target,
        job.record,
        job.speed,
    )
    if sheet is not None and (not dry_run or sheet.suffix.lower() != ".png"):
        raise ArtvError(
            f"--sheet {sheet}: a PNG written by --dry-run",
            f"use --dry-run --sheet {sheet.with_suffix('.png')}",
        )
    if sheet is not None and sheet.exists() and not force:
        raise ArtvError(
            f"{sheet} exists; nothing was changed", "add --force to replace it, or give another name"
        )
    resume = job.resume  # without a partial render, the command is the one without --resume
    total_frames = sum(p.frames for p in planned)
    work = work_dir(target)
    if dry_run:
        print(_plan_text(planned, board, size, ref, target))
        if sheet is not None:
            _write_sheet(sheet, job, device, dtype)
        return
    if (work / "state.pt").is_file() and not resume:
        raise ArtvError(
            f"a partial render of {target} exists ({work})",
            f"add --resume to continue it, or delete {work} to start over",
        )

    # 2. The model, then the segments, streamed to the video.
    from artv_cli.engine.hub.devices import resolve_device, resolve_dtype
    from artv_cli.engine.hub.registry import load_model
    from artv_cli.engine.sampling.story import render_story

    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype.value, torch_device)
    if board.model is None:
        err.print(f"note: no model in the storyboard; using {DEFAULT_MODEL}", soft_wrap=True)
    err.print(
        f"model {ref.name} on {torch_device}, {size[0]}x{size[1]}, "
        f"{len(planned)} segments, {total_frames} frames"
    )
    model = load_model(ref, torch_device, torch_dtype)
    from artv_cli.engine.model.lora import check_all

    check_all(model, [p.lora for p in planned])  # every segment's adapters fit the model, before any frame
    record["versions"] = versions()
    record["argv"] = sys.argv[1:]
    record["device"] = str(torch_device)
    record["model_config"] = model.config.__dict__

    def steps_of(i: int, p) -> int:  # a story's frame 0 from text may take its own steps (preset or model)
        first = speed.get("first_frame_steps") if i == 0 and not p.image else None
        return (p.frames - (1 if p.image else 0)) * p.steps + (first - p.steps if first else 0)

    steps_total = sum(steps_of(i, p) for i, p in enumerate(planned))
    finished = {"segments": 0}
    started = time.perf_counter()
    from artv_cli.console import progress_bar

    progress = progress_bar(preview=any(p.preview for p in planned))
    try:
        with progress:
            task = progress.add_task("story", total=max(1, steps_total))
            done_before = sum(
                steps_of(i, p) for i, p in enumerate(planned[: _segments_done(work) if resume else 0])
            )
            progress.update(task, completed=done_before)

            def on_frame(segment: int, frame: int, step: int, steps: int, preview=None) -> None:
                raise_if_terminated()  # a SIGTERM that landed in a finalizer is not lost
                progress.show(preview)  # a finished frame, with preview on
                progress.update(
                    task,
                    advance=1,
                    description=f"segment {segment + 1}/{len(planned)} "
                    f"frame {frame + 1}/{planned[segment].frames}",
                )

            def on_segment(segment: int, path: Path) -> None:
                finished["segments"] = segment + 1

            render_story(
                model,
                board,
                planned,
                size,
                target,
                record,
                resume=resume,
                on_frame=on_frame,
                on_segment=on_segment,
                speed=speed,
            )
    except KeyboardInterrupt as interruption:
        done = max(finished["segments"], _segments_done(work))  # the state may be ahead of the callback
        if done:
            err.print(
                f"interrupted: {target} holds the first {done} of {len(planned)} segments (playable); "
                f"continue with: {command_line(ctx, add=('--resume',), drop=('--force',))}",
                soft_wrap=True,
            )
        else:
            err.print("interrupted before the first segment was finished: nothing to keep", soft_wrap=True)
        raise typer.Exit(interrupted_status(interruption)) from None
    seconds = time.perf_counter() - started
    err.print(
        f"wrote {total_frames} frames ({total_frames / board.fps:.1f} s of video) to {target} "
        f"in {seconds:.1f} s"
    )
    if json_out:
        print(
            json.dumps(
                {
                    "video": str(target),
                    "sidecar": str(target.with_suffix(".json")),
                    "frames": total_frames,
                    "segments": len(planned),
                    "seconds": round(seconds, 3),
                }
            )
        )
    else:
        print(target)


def _segments_done(work: Path) -> int:
    import torch

    state = work / "state.pt"
    return (
        int(torch.load(state, map_location="cpu", weights_only=True)["segments_done"])
        if state.is_file()
        else 0
    )


def _plan_text(planned, board, size, ref, target) -> str:
    lines = [
        f"storyboard: {len(planned)} segments, {size[0]}x{size[1]} at {board.fps:g} fps, model {ref.name}",
        f"{'#':>3}  {'frames':>6}  {'start':>5}  {'seconds':>7}  {'seed':>6}  {'steps':>5}  what",
    ]
    for p in planned:
        extras = [
            f"image {Path(p.image).name}" if p.image else "",
            "re-anchor" if p.reanchor else "",
            f"transition {p.transition}" if p.transition else "",
        ]
        what = p.prompt + "".join(f" [{e}]" for e in extras if e)
        lines.append(
            f"{p.index + 1:>3}  {p.frames:>6}  {p.start:>5}  {p.frames / board.fps:>7.2f}  "
            f"{p.seed:>6}  {p.steps:>5}  {what}"
        )
    frames = sum(p.frames for p in planned)
    steps = sum((p.frames - (1 if p.image else 0)) * p.steps for p in planned)
    rate = MEASURED_STEP_SECONDS.get(ref.preset or "")
    estimate = (
        f"about {steps * rate:.0f} s on a 2-core CPU (measured rate of the {ref.preset} preset)"
        if rate
        else "no measured rate for this model"
    )
    lines.append(
        f"total: {frames} frames, {frames / board.fps:.2f} s of video, {steps} denoising steps; {estimate}"
    )
    lines.append(f"output: {target}")
    return "\n".join(lines)


def _write_sheet(path: Path, job, device, dtype) -> None:
    """`--dry-run --sheet`: a few low-step frames of each segment in one PNG (engine: `plan_sheet`)."""
    import os

    from artv_cli.console import progress_bar
    from artv_cli.engine.hub.devices import resolve_device, resolve_dtype
    from artv_cli.engine.hub.registry import load_model
    from artv_cli.engine.sampling.story import plan_sheet

    started = time.perf_counter()
    torch_device = resolve_device(device)
    model = load_model(job.ref, torch_device, resolve_dtype(dtype.value, torch_device))
    with progress_bar() as progress:
        task = progress.add_task("sheet", total=len(job.planned))

        def on_segment(index: int) -> None:
            raise_if_terminated()
            progress.update(task, completed=index + 1, description=f"sheet: segment {index + 1}")

        image = plan_sheet(model, job.planned, job.size, job.speed, on_segment=on_segment)
    partial = path.with_name(f".{path.name}.partial.png")
    image.save(partial)
    os.replace(partial, path)
    err.print(
        f"wrote the sheet of {len(job.planned)} segments to {path} in {time.perf_counter() - started:.1f} s"
    )
