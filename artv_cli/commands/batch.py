"""`artv batch PROMPTS_FILE --out DIR`: many videos, one model load per process, resumable, spread by
accelerate (`accelerate launch -m artv_cli batch ...`). The work is the engine's: `engine.sampling.batch`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from artv_cli import options as o
from artv_cli.console import PlainProgress, err, raise_if_terminated
from artv_cli.errors import ArtvError


@o.render_settings
def batch(
    ctx: typer.Context,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Folder of the videos, their sidecars and manifest.jsonl.", show_default=False
        ),
    ],
    prompts: Annotated[
        Path | None,
        typer.Argument(
            help="A .txt file (one prompt a line), or .csv / .jsonl rows with a prompt and, per video, "
            "image (animate; relative to the file), frames, seed, negative_prompt, size, fast, fps, quality "
            "and every render setting below (steps, scheduler, ...; the options' names with underscores).",
            show_default=False,
        ),
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            help="Render an evaluation protocol's prompt set instead of a file: ucf101-fvd2048-16f, "
            "ucf101-is (2048 UCF-101 class prompts) or world-heldout (the default model's 128).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Finish a batch begun in --out: skip the videos it has.")
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option(
            help="Videos of the same settings that advance together, one forward for all (memory allowing)."
        ),
    ] = 1,
    negative_prompt: o.NegativePrompt = "",
    model: o.Model = None,
    frames: o.Frames = 16,
    fps: o.Fps = 8.0,
    size: o.Size = None,
    fast: o.Fast = False,
    compile: o.Compile = False,
    seed: Annotated[
        int, typer.Option(help="Base seed: a row without its own seed gets base + its row number (from 0).")
    ] = 0,
    device: o.Device = "auto",
    dtype: o.Dtype = o.DtypeName.auto,
    quality: o.Quality = 8.0,
    video_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="The videos' format: mp4 (H.264), gif (looping, palette from each clip), webm (VP9) or png "
            "(a folder of numbered PNG frames per video).",
        ),
    ] = "mp4",
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a summary as JSON on stdout instead of the manifest's path.")
    ] = False,
    **settings,
) -> None:
    """Render every row of a prompts file into a folder: one model load, rows shared over processes.

    Video k is named `NNNNN-prompt.mp4` (or `--format`'s extension) and seeded base + k (unless its row
    gives a seed), whatever the number of processes; `manifest.jsonl` records each finished video, and
    `--resume` renders the rest after an interruption. Several GPUs or machines: run it under
    `accelerate launch` (docs/batch.md).

    Examples:

      artv batch examples/batch.csv --out batch/ --fast

      artv batch examples/batch.csv --out batch/ --fast --resume

      artv batch --protocol world-heldout --out world-gen/ --fast

      accelerate launch --num_processes 4 -m artv_cli batch prompts.txt --out batch/
    """
    from dataclasses import replace

    from artv_cli.commands.render_common import request_from_cli
    from artv_cli.engine.sampling import batch as engine

    shared = dict(negative_prompt=negative_prompt, model=model, frames=frames, fps=fps, size=size, fast=fast)
    shared |= dict(compile=compile, device=device, dtype=dtype, quality=quality, settings=settings)
    defaults = request_from_cli(shared | dict(prompt="", out=None, seed=None))

    # 1. Every check that needs no model, in every process (each must know the rows), before any work.
    if batch_size < 1:
        raise ArtvError(
            f"--batch-size must be at least 1 (got {batch_size})", "use --batch-size 4, for example"
        )
    if (prompts is None) == (protocol is None):
        raise ArtvError(
            "give a prompts file or --protocol NAME (one of them)",
            "such as: artv batch prompts.txt --out DIR, or artv batch --protocol world-heldout --out DIR",
        )
    listed = None
    if protocol is not None:
        from artv_cli.engine.data.prompts import protocol_prompts

        listed = protocol_prompts(protocol)
        prompts = Path(f"protocol {protocol}")
    from artv_cli.engine.sampling.outputs import FORMATS

    suffixes = {suffix.lstrip(".") or "png": suffix for suffix in FORMATS}  # what --out takes, by name
    if video_format not in suffixes:
        raise ArtvError(
            f"--format {video_format} is not a format artv writes",
            f"use --format {', '.join(suffixes)} (png: a folder of PNG frames per video)",
        )
    suffix = suffixes[video_format]
    rows = engine.read_rows(prompts, defaults, base_seed=seed, prompts=listed)
    record = engine.fingerprint(prompts, defaults, seed, prompts=listed, suffix=suffix)
    resuming = engine.check_folder(out, record, resume)
    if resume and not resuming:
        err.print(f"note: nothing to resume in {out}: rendering the batch from the start", soft_wrap=True)
    from artv_cli.engine.sampling.request import plan

    first = plan(replace(rows[0].request, out=out / engine.video_name(rows[0], suffix), force=True))
    engine.check_sizes(rows, prompts, first.ref)
    import torch
    from accelerate import PartialState

    # accelerate picks its multi-CPU (gloo) mode only when told to use the CPU (as the trainer does).
    state = PartialState(cpu=device == "cpu" or not torch.cuda.is_available())
    if state.num_processes > 1 and device == "auto" and state.device.type != "cpu":
        device = str(state.device)  # each process its own GPU
    if state.is_main_process and not resuming:
        out.mkdir(parents=True, exist_ok=True)
        partial = out / ".batch.json.partial"
        partial.write_text(json.dumps(record, indent=2) + "\n")
        partial.replace(out / "batch.json")
    state.wait_for_everyone()

    # 2. This process's share of what is not done yet, and the model, loaded once.
    done = engine.read_manifest(out)
    mine = engine.my_rows(rows, done, state.process_index, state.num_processes)
    if state.is_main_process:
        left = len(rows) - len(done)
        err.print(
            f"{len(rows)} videos in {prompts}: {len(done)} done, {left} to render "
            f"over {state.num_processes} process{'es' if state.num_processes > 1 else ''} "
            f"(model {first.ref.name} on {device if device != 'auto' else first.device})",
            soft_wrap=True,
        )
    from artv_cli.engine.hub.devices import resolve_device, resolve_dtype
    from artv_cli.engine.hub.registry import load_model

    torch_device = resolve_device(device)
    model = load_model(first.ref, torch_device, resolve_dtype(defaults.dtype, torch_device), compile=compile)
    from artv_cli.engine.model.lora import check_all

    check_all(
        model, [row.request.lora for row in mine]
    )  # every row's adapters fit the model, before any video
    rows = [replace(row, request=replace(row.request, device=device)) for row in rows]
    mine = [replace(row, request=replace(row.request, device=device)) for row in mine]

    # 3. Render; the main process shows one bar for the whole set, read from the shared manifest.
    started = time.perf_counter()
    try:
        _render(state, engine, rows, done, mine, out, model, batch_size, suffix)
    except KeyboardInterrupt as interruption:  # Ctrl-C or SIGTERM: the video in flight is removed
        from artv_cli.console import command_line, interrupted_status

        if state.is_main_process:
            err.print(
                f"interrupted: {len(engine.read_manifest(out))}/{len(rows)} videos done, none half-written; "
                f"continue with: {command_line(ctx, add=('--resume',))}",
                soft_wrap=True,
            )
        raise typer.Exit(interrupted_status(interruption)) from None
    if not state.is_main_process:
        return

    # 4. The summary.
    finished = engine.read_manifest(out)
    seconds = time.perf_counter() - started
    made = len(finished) - len(done)
    rate = made / seconds * 60 if seconds > 0 else 0.0
    err.print(
        f"rendered {made} videos in {seconds:.1f} s ({rate:.1f} videos/min); "
        f"{len(finished)}/{len(rows)} done",
        soft_wrap=True,
    )
    manifest = out / "manifest.jsonl"
    if json_out:
        print(json.dumps({"out": str(out), "manifest": str(manifest), "videos": len(rows),
                          "done": len(finished), "rendered": made, "seconds": round(seconds, 3),
                          "processes": state.num_processes}))  # fmt: skip
    else:
        print(manifest)


def _render(state, engine, rows, done, mine, out, model, batch_size, suffix) -> None:
    """This process's rows, then a wait for the others; the main process's bar counts the manifest's
    lines, which every process appends to."""
    if not state.is_main_process:
        engine.render_rows(
            mine,
            out,
            model,
            argv=sys.argv[1:],
            on_step=lambda *_: raise_if_terminated(),
            batch_size=batch_size,
            suffix=suffix,
        )
        state.wait_for_everyone()
        return
    from artv_cli.console import batch_progress

    with batch_progress(preview=True) as progress:  # frames come only to rows with preview on
        task = progress.add_task("videos", total=len(rows), completed=len(done))
        seen = [time.monotonic()]

        def refresh(frame=None, step=None, steps=None, preview=None) -> None:
            raise_if_terminated()
            progress.show(preview)  # a finished frame (the first video of a group), with preview on
            if time.monotonic() - seen[0] > 0.5:
                seen[0] = time.monotonic()
                progress.update(task, completed=len(engine.read_manifest(out)))

        plain = None if err.is_terminal else PlainProgress()  # a log file gets lines; a terminal, the bar

        def on_video(row, seconds) -> None:
            finished = len(engine.read_manifest(out))
            progress.update(task, completed=finished)
            if plain:
                plain.update("videos", finished, len(rows))

        engine.render_rows(
            mine, out, model, argv=sys.argv[1:], on_video=on_video, on_step=refresh, batch_size=batch_size,
            suffix=suffix,
        )  # fmt: skip
        state.wait_for_everyone()
        progress.update(task, completed=len(engine.read_manifest(out)))
