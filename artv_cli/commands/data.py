"""`artv data`: make the synthetic dataset, and check what a dataset folder holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from artv_cli.console import PlainProgress, err, raise_if_terminated

data_app = typer.Typer(
    rich_markup_mode="markdown",
    help=(
        "Datasets: generate the synthetic video world, or check a dataset folder.\n\n"
        "Examples:\n\n"
        "  artv data synth synth-data --videos 100 --seed 0\n\n"
        "  artv data info synth-data"
    ),
    no_args_is_help=True,
)


@data_app.command("synth")
def synth(
    out: Annotated[Path, typer.Argument(help="New folder to write the dataset into.", show_default=False)],
    videos: Annotated[int, typer.Option(help="Number of videos.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed; video i depends only on (seed, i).")] = 0,
    frames: Annotated[int, typer.Option(help="Frames per video.")] = 24,
    size: Annotated[int, typer.Option(help="Width and height in pixels (a multiple of 8).")] = 64,
    fps: Annotated[float, typer.Option(help="Frames per second of the files.")] = 8.0,
    max_objects: Annotated[int, typer.Option(help="At most this many objects per video (1 or 2).")] = 2,
    cameras: Annotated[
        str, typer.Option(help="Camera motions to draw from, comma-separated: static, pan, zoom.")
    ] = "static,pan,zoom",
    patterns: Annotated[
        str, typer.Option(help="Backgrounds to draw from, comma-separated: plain, striped, checkered.")
    ] = "plain,striped,checkered",
    holdout: Annotated[
        int, typer.Option(help="Hold out one in N colour-shape-direction combinations (0: none).")
    ] = 0,
    split: Annotated[
        str, typer.Option(help="With --holdout: train (never the held-out combinations) or test (only them).")
    ] = "train",
    captions: Annotated[
        str,
        typer.Option(
            help="grammar (one wording) or varied (synonyms, orders, omissions; the split's own phrasings)."
        ),
    ] = "grammar",
    start: Annotated[
        str,
        typer.Option(
            help="centred (paths centred near the middle: the start gives the direction away) or anywhere "
            "(start independent of the direction; objects may leave the frame)."
        ),
    ] = "centred",
    jitter: Annotated[
        int,
        typer.Option(
            help="Draw object colours and background tones up to this far (per channel, 0-64) off the "
            "palette; captions keep the palette's names, the ground truth records the colour drawn."
        ),
    ] = 0,
    shapes: Annotated[
        str,
        typer.Option(
            help="Shapes to draw from, comma-separated: circle, square, triangle, diamond (the world's) and "
            "ring (which the default model never saw: a concept to teach a LoRA adapter)."
        ),
    ] = "circle,square,triangle,diamond",
    colours: Annotated[
        str,
        typer.Option(
            help="Object colours to draw from, comma-separated: red, green, blue, yellow, magenta, cyan, "
            "white, orange (the world's) and pink (which the default model never saw: a concept to teach "
            "a LoRA adapter)."
        ),
    ] = "red,green,blue,yellow,magenta,cyan,white,orange",
    unnamed: Annotated[
        float,
        typer.Option(
            help="Share (0-1) of one-object captions that leave out the colour, the shape or both "
            '("the ball", "a red object", "it"): the frames must carry the look.'
        ),
    ] = 0.0,
) -> None:
    """Write a captioned synthetic video dataset (WebVid layout) with exact ground truth.

    Shapes in colours move in stated directions and speeds over plain, striped or checkered
    backgrounds, under a camera that stays, pans or zooms. ground_truth.jsonl holds every object's
    centre per frame, for `artv eval`.

    Examples:

      artv data synth world --videos 100 --seed 0

      artv data synth tiny-set --videos 8 --frames 12 --size 32

      artv data synth held-out --videos 32 --seed 1 --holdout 8 --split test

      artv data synth people --videos 64 --max-objects 1 --cameras static --patterns plain --captions varied

      artv data synth world3 --videos 3000 --start anywhere --jitter 30 --unnamed 0.3 --captions varied
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from artv_cli.engine.data.synth import SynthSettings, synth_dataset

    settings = SynthSettings(
        videos=videos,
        seed=seed,
        frames=frames,
        size=size,
        fps=fps,
        max_objects=max_objects,
        cameras=tuple(c.strip() for c in cameras.split(",") if c.strip()),
        patterns=tuple(p.strip() for p in patterns.split(",") if p.strip()),
        holdout=holdout,
        split=split,
        captions=captions,
        start=start,
        jitter=jitter,
        unnamed=unnamed,
        shapes=tuple(p.strip() for p in shapes.split(",") if p.strip()),
        colours=tuple(c.strip() for c in colours.split(",") if c.strip()),
    )
    columns = (
        TextColumn("videos"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err) as progress:
        task = progress.add_task("synth", total=videos)
        plain = None if err.is_terminal else PlainProgress()  # a log file gets lines; a terminal, the bar

        def on_video(done: int, total: int) -> None:
            progress.update(task, completed=done)
            if plain:
                plain.update("videos", done, total)
            raise_if_terminated()  # a SIGTERM that landed in ffmpeg's finalizer is not lost

        synth_dataset(out, settings, on_video=on_video)
    err.print(f"wrote {videos} videos of {frames} frames at {size}x{size} to {out}")
    print(out)


@data_app.command("info")
def info(
    folder: Annotated[Path, typer.Argument(help="Dataset folder.", show_default=False)],
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Say which layout a dataset folder has, how many videos are usable, and what is skipped.

    Examples:

      artv data info synth-data

      artv data info synth-data --json
    """
    from artv_cli.engine.data.datasets import scan

    catalogue = scan(folder)
    if json_out:
        record = {
            "folder": str(folder),
            "layout": catalogue.layout,
            "videos": len(catalogue.items),
            "skipped": dict(catalogue.skipped),
            "first": [{"key": i.key, "caption": i.caption} for i in catalogue.items[:3]],
        }
        print(json.dumps(record))
        return
    print(f"{folder}: {catalogue.describe()}")
    for item in catalogue.items[:3]:
        print(f"  {item.key}: {item.caption}")
