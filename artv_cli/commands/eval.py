"""`artv eval GENERATED`: the paper's metrics (FVD, FID, IS, CLIPSIM) and drift metrics needing no weights."""

from __future__ import annotations

import json
import math
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from artv_cli.console import PlainProgress, err, raise_if_terminated


class ProtocolName(str, Enum):
    default = "default"
    ucf101_fvd = "ucf101-fvd2048-16f"
    ucf101_is = "ucf101-is"
    msrvtt_clipsim = "msrvtt-clipsim"


def eval_videos(
    generated: Annotated[
        Path,
        typer.Argument(
            help="Folder of generated videos (MP4/GIF files or frame folders).", show_default=False
        ),
    ],
    ref: Annotated[Path | None, typer.Option(help="Folder of real videos, for FVD and FID.")] = None,
    fvd: Annotated[bool, typer.Option("--fvd", help="Fréchet Video Distance (I3D; needs --ref).")] = False,
    fid: Annotated[
        bool, typer.Option("--fid", help="Fréchet Inception Distance on frames (needs --ref).")
    ] = False,
    inception_score: Annotated[
        bool, typer.Option("--is", help="Inception Score: video (C3D) and image.")
    ] = False,
    clipsim: Annotated[
        bool, typer.Option("--clipsim", help="CLIP similarity of frames and prompts.")
    ] = False,
    drift: Annotated[bool, typer.Option("--drift", help="Drift over time; needs no weights.")] = False,
    world: Annotated[
        bool, typer.Option("--world", help="Prompt-following on the synthetic world; needs no weights.")
    ] = False,
    prompts: Annotated[
        Path | None, typer.Option(help="Prompts: .txt (one per video, name order), .csv or .jsonl.")
    ] = None,
    protocol: Annotated[ProtocolName, typer.Option(help="Counts, clip length, resize, splits, seed.")] = (
        ProtocolName.default
    ),
    weights_dir: Annotated[
        Path | None, typer.Option(help="Evaluation weights folder. (default: $ARTV_HOME/eval)")
    ] = None,
    device: Annotated[
        str, typer.Option(help="Device for feature extraction: auto, cpu, cuda, cuda:N.")
    ] = "auto",
    batch_size: Annotated[int, typer.Option(help="Clips or frames per extractor call.")] = 16,
    strict: Annotated[
        bool, typer.Option(help="A metric whose weights are missing is an error, not a skip.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Also write the results JSON here (and NAME-drift.png)."),
    ] = None,
) -> None:
    """Score videos: FVD, FID, IS and CLIPSIM with the field's protocols, drift, and prompt-following.

    With no metric flag, every metric whose inputs and weights are present runs; the others are listed
    as skipped with the file they need. Prompts come from artv's sidecar JSONs, a WebVid table, or
    --prompts. FVD against real videos: artv eval gen/ --fvd --ref real/ --protocol ucf101-fvd2048-16f
    (docs/eval.md). The `world` folder of the examples is made by `artv data synth world`.

    Examples:

      artv eval world --world --drift

      artv eval world --drift --out results.json

      artv eval world --json
    """
    from artv_cli.engine.evaluation.evaluate import EvalConfig, evaluate
    from artv_cli.engine.hub.devices import resolve_device
    from artv_cli.errors import ArtvError

    if batch_size < 1:
        raise ArtvError(f"--batch-size must be at least 1 (got {batch_size})", "use --batch-size 16")
    if out is not None and out.suffix.lower() != ".json":
        raise ArtvError(
            f"--out {out}: the results are written as JSON", f"give a name such as {out.with_suffix('.json')}"
        )
    chosen = [name for name, on in (("fvd", fvd), ("fid", fid), ("is", inception_score), ("clipsim", clipsim),
                                    ("drift", drift), ("world", world)) if on]  # fmt: skip
    config = EvalConfig(
        generated=generated,
        ref=ref,
        metrics=chosen or None,
        prompts=prompts,
        protocol=protocol.value,
        weights_dir=weights_dir,
        device=str(resolve_device(device)),
        batch_size=batch_size,
        strict=strict,
    )
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("eta"),
               TimeRemainingColumn())  # fmt: skip
    tasks: dict[str, int] = {}
    plain = None if err.is_terminal else PlainProgress()  # a log file gets lines; a terminal, the bar
    with Progress(*columns, console=err) as progress:

        def on_video(side: str, done: int, total: int) -> None:
            raise_if_terminated()
            if side not in tasks:
                tasks[side] = progress.add_task(f"{side} videos", total=total)
            progress.update(tasks[side], completed=done)
            if plain:
                plain.update(f"{side} videos", done, total)

        run = evaluate(config, on_video)
    results = run.results | {
        "argv": sys.argv[1:],
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    results = _finite(results)
    for broken in results["broken"]:
        err.print(f"broken video skipped: {broken['video']} ({broken['error']})", soft_wrap=True)
    for metric, why in results["skipped"].items():
        err.print(f"skipped {metric}: {why}", soft_wrap=True)
    if out is not None:
        from artv_cli.engine.data.video import write_sidecar

        out.parent.mkdir(parents=True, exist_ok=True)
        plot = out.with_name(out.stem + "-drift.png")
        existed = plot.exists()
        try:  # both files or neither: a stop (Ctrl-C, SIGTERM) between them takes the plot back
            if run.curves:
                from artv_cli.engine.evaluation.plot import drift_plot

                results["drift_plot"] = str(drift_plot(run.curves, plot, title=f"artv eval {generated}"))
            results["curves"] = _finite(run.curves)
            write_sidecar(out, results)
        except BaseException:
            if run.curves and not existed:  # written (or half written) by this run
                plot.unlink(missing_ok=True)
            raise
        err.print(f"wrote {out}" + (f" and {results['drift_plot']}" if "drift_plot" in results else ""))
    if json_out:
        print(json.dumps({k: v for k, v in results.items() if k != "curves"}))
    else:
        print(table(results))


def table(results: dict) -> str:
    """The headline numbers, one metric per line."""
    rows = [("metric", "value", "details")]
    for name, value in results["metrics"].items():
        if name == "drift":
            rows.append(("flicker", f"{value['flicker']:.4f}", "VBench temporal flickering (1 = no change)"))
            rows.append(
                (
                    "ssim to frame 0",
                    _fmt(value["ssim_first_final"]),
                    f"last frame; slope {_fmt(value['ssim_first_slope'])}/frame",
                )
            )
            rows.append(("psnr to frame 0", _fmt(value["psnr_first_final"]), "dB, last frame"))
            rows.append(
                (
                    "colour hist. distance",
                    _fmt(value["hist_distance_final"]),
                    f"last frame; slope {_fmt(value['hist_distance_slope'])}/frame",
                )
            )
            rows.append(("sharpness / frame 0", _fmt(value["sharpness_final"]), "last frame"))
            rows.append(
                (
                    "dynamic degree",
                    _fmt(value["dynamic_degree"]),
                    f"{value['frozen_videos']} of {value['videos']} videos frozen",
                )
            )
        elif name == "world":
            parts = (
                f"{check} {_fmt(value[check + '_accuracy'])}" for check in ("colour", "shape", "direction")
            )
            rows.append(
                ("world accuracy", _fmt(value["accuracy"]), f"{', '.join(parts)}; {value['videos']} videos")
            )
        else:
            detail = ", ".join(f"{k} {v}" for k, v in value.items() if k != "value")
            rows.append((name, _fmt(value["value"]), detail))
    for name, why in results["skipped"].items():
        rows.append((name, "skipped", why))
    if results["broken"]:
        rows.append(("broken videos", str(len(results["broken"])), "reported on stderr and in the JSON"))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]}".rstrip() for r in rows)  # fmt: skip


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _finite(value):
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("artv", "torch", "transformers", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found
