"""Does `animate` take the look from the picture? The "appearance from the picture" protocol of the default
model's third generation, on pictures of the world's kind drawn off the palette.

For each of `--videos` held-out test designs (`artv data synth`'s test split, a plain background, the
object's colour and the background tone up to `--jitter` per channel off the palette, the object's radius
drawn from `--radius` of the width, the world's own training radii being 0.09-0.14):

1. **The picture** is drawn at one of `--sizes` (in turn; a non-square size is the square picture padded
   with its background, so the command's cover-and-centre-crop fitting gives back the square).
2. **Frame 0**: mean absolute error (0-255) between the video's frame 0 and the picture as `artv animate`
   fits it to the model's size (engine/data/images.py: LoadedImage.fitted); and the same error of the
   picture's autoencoder round trip, which is what the frames after it are made from.
3. **The look kept**: the grammar's caption (it names the palette colour); the world scorer's share of the
   in-view frames where the object has its own frame-0 colour (every channel within 20) and its shape
   (WorldScorer.look_kept), and its colour, shape and direction columns.
4. **Motion-only prompts** (`--motion-only`): the same object moved to the centre, prompts that name only
   the motion ("it moves up", "make it move left slowly", "the ball goes down", "it drifts to the right");
   scored against the picture's true colour and shape and the asked direction.

5. **The round trip alone** (`--round-trip-only`, seconds): no video; for each picture the autoencoder's
   round trip, its error, and whether the object's median colour comes back within 20 per channel of the
   picture's (the colour rule of step 3: the bound a denoiser working in these latents can reach); and how
   much the decoder amplifies a small error in the latents, as a denoiser leaves one: the mean change of
   the decoded frame when unit-scale noise of 0.1 is added to its latents (seeded).

    python bench/picture_eval.py --model artv_cli/models/world64 --videos 16 --motion-only --out report.json
    python bench/picture_eval.py --model artv_cli/models/world64 --videos 16 --round-trip-only
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from world_eval import make, pct, sampler_record, settings_for  # noqa: E402

from artv_cli.engine.data.images import LoadedImage  # noqa: E402
from artv_cli.engine.data.synth import SynthSettings, design_video, draw_frame  # noqa: E402
from artv_cli.engine.evaluation.worldscore import (  # noqa: E402
    PromptObject,
    WorldPrompt,
    WorldScorer,
    parse_prompt,
    summarise,
)
from artv_cli.engine.hub.registry import load_model, resolve_model  # noqa: E402

MOTION_ONLY = (
    lambda obj: f"it moves {obj.direction}",
    lambda obj: f"make it move {obj.direction} {obj.speed}",
    lambda obj: f"the {'ball' if obj.shape == 'circle' else 'thing'} goes {obj.direction}",
    lambda obj: f"it drifts {'to the ' if obj.direction in ('left', 'right') else ''}{obj.direction}",
)
"""Prompts that name only the motion, in turn; the second says the speed, the others do not."""


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height or width)


def picture(video, frames: int, size: tuple[int, int]) -> np.ndarray:
    """Frame 0 of `video` drawn at `size` (width, height): square at the shorter side, padded with the
    background tone to the longer one."""
    width, height = size
    side = min(width, height)
    square = draw_frame(video, 0, SynthSettings(size=side, frames=frames))
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = square[0, 0]  # the plain background's tone
    top, left = (height - side) // 2, (width - side) // 2
    canvas[top : top + side, left : left + side] = square
    return canvas


def fit(model, drawn: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """The picture as `artv animate` fits it to the model's size: (1, 3, H, W) in [-1, 1], and 0-255."""
    native = model.config.native_size
    fitted = LoadedImage(pixels=drawn).fitted(native, native)
    return fitted, ((fitted[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).numpy()


def scored(frames: np.ndarray, prompt: WorldPrompt) -> dict:
    scorer = WorldScorer(prompt)
    for frame in frames:
        scorer.add(frame)
    return scorer.result() | {"look_kept": scorer.look_kept(0), "look_parts": scorer.look_parts(0)}


def rate(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.mean(values)), 4) if values else None


def run_row(model, args, designs, motion_only: bool) -> dict:
    results, started = [], time.perf_counter()
    for number, video in enumerate(designs):
        obj = video.objects[0]
        if motion_only:
            obj = replace(obj, start=(0.5, 0.5))
            video = replace(video, objects=[obj])
        size = parse_size(args.sizes[number % len(args.sizes)])
        fitted, wanted = fit(model, picture(video, args.frames, size))
        asked = MOTION_ONLY[number % len(MOTION_ONLY)](obj) if motion_only else video.caption
        settings = settings_for(model, args, args.frames, args.seed + number)
        frames = make(model, asked, settings, wanted.astype(np.uint8))
        with torch.inference_mode():  # what the frames after frame 0 are made from: its round trip
            trip = model.decode_latents(model.encode_images(fitted.to(model.device, model.dtype)))[0]
        if motion_only:  # scored against the picture's own colour and shape, and the asked motion
            speed = obj.speed if obj.speed in asked.split() else None
            truth = WorldPrompt(
                [PromptObject(obj.colour, obj.shape, obj.direction, speed)], background=video.tones[0]
            )
        else:
            truth = parse_prompt(video.caption)
        result = scored(frames, truth)
        result |= {
            "prompt": asked,
            "picture_size": list(size),
            "drawn": list(obj.drawn),
            "radius": round(obj.radius, 4),
            "frame0_error": round(float(np.abs(frames[0].astype(float) - wanted).mean()), 3),
            "round_trip_error": round(float(np.abs(trip.astype(float) - wanted).mean()), 3),
        }
        results.append(result)
        kept = result["look_kept"]
        print(
            f"  {number + 1}/{len(designs)} {asked!r} {size[0]}x{size[1]}: frame 0 error "
            f"{result['frame0_error']:.1f}, look kept {'-' if kept is None else f'{kept:.0%}'}",
            flush=True,
        )
    summary = summarise(results)
    errors = [r["frame0_error"] for r in results]
    summary |= {
        "frame0_error_mean": round(float(np.mean(errors)), 3),
        "frame0_error_worst": round(float(np.max(errors)), 3),
        "round_trip_error_mean": round(float(np.mean([r["round_trip_error"] for r in results])), 3),
        "look_kept_mean": rate([r["look_kept"] for r in results]),
        "look_kept_90_rate": rate(
            [None if r["look_kept"] is None else r["look_kept"] >= 0.9 for r in results]
        ),
        "colour_and_shape_rate": rate(
            [o["colour_ok"] and bool(o["shape_ok"]) for r in results for o in r["objects"]]
        ),
    }
    parts = [r["look_parts"] for r in results if r["look_parts"] is not None]
    for part in (
        "found",
        "colour",
        "shape",
        "colour_difference",
        "palette_nearer",
    ):  # look_kept's parts, per video, averaged
        summary[f"look_{part}_mean"] = rate([p[part] for p in parts])
    seconds = time.perf_counter() - started
    return {"summary": summary, "seconds_per_video": round(seconds / len(designs), 3), "videos": results}


def round_trip_row(model, args, designs) -> dict:
    """Step 5: the autoencoder's round trip of each picture, scored by the look's colour rule."""
    results = []
    for number, video in enumerate(designs):
        size = parse_size(args.sizes[number % len(args.sizes)])
        fitted, wanted = fit(model, picture(video, args.frames, size))
        latents = model.encode_images(fitted.to(model.device, model.dtype))
        trip = model.decode_latents(latents)[0].astype(float)
        noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(number)).to(latents)
        nudged = model.decode_latents(latents + 0.1 * noise)[0].astype(float)
        tone = np.median(wanted.reshape(-1, 3), axis=0)
        inside = np.abs(wanted - tone).sum(-1) > 60  # the object's pixels
        object_error = np.abs(np.median(trip[inside], axis=0) - np.median(wanted[inside], axis=0))
        results.append({
            "picture_size": list(size),
            "drawn": list(video.objects[0].drawn),
            "round_trip_error": round(float(np.abs(trip - wanted).mean()), 3),
            "object_colour_error": round(float(object_error.max()), 3),
            "background_error": round(float(np.abs(trip[~inside] - wanted[~inside]).mean()), 3),
            "colour_kept": bool(object_error.max() <= 20),
            "latent_noise_change": round(float(np.abs(nudged - trip).mean()), 3),
        })  # fmt: skip
    summary = {
        "videos": len(results),
        "round_trip_error_mean": rate([r["round_trip_error"] for r in results]),
        "object_colour_error_mean": rate([r["object_colour_error"] for r in results]),
        "background_error_mean": rate([r["background_error"] for r in results]),
        "colour_kept": sum(r["colour_kept"] for r in results),
        "latent_noise_change_mean": rate([r["latent_noise_change"] for r in results]),
    }
    return {"summary": summary, "videos": results}


VIDEO_COLUMNS = (
    "row", "videos", "frame 0 error (mean / worst)", "autoencoder round trip error", "look kept (mean)",
    "look kept in >= 90 % of frames", "colour and shape", "direction",
    "look kept's parts: found / colour within 20 / shape (of the frames found) / colour difference / "
    "nearer the named palette colour",
)  # fmt: skip
TRIP_COLUMNS = (
    "model", "pictures", "round trip error", "object colour error (worst channel)", "background error",
    "object colour kept (within 20)", "change from latent noise 0.1",
)  # fmt: skip


def video_cells(s: dict) -> list[str]:
    trip = f"{s['round_trip_error_mean']:.1f}" if "round_trip_error_mean" in s else "-"  # older reports
    return [
        str(s["videos"]), f"{s['frame0_error_mean']:.1f} / {s['frame0_error_worst']:.1f}", trip,
        pct(s["look_kept_mean"]), pct(s["look_kept_90_rate"]), pct(s["colour_and_shape_rate"]),
        pct(s["direction_accuracy"]), look_parts_cell(s),
    ]  # fmt: skip


def look_parts_cell(s: dict) -> str:
    if s.get("look_found_mean") is None:  # older reports
        return "-"
    parts = [s[f"look_{p}_mean"] for p in ("found", "colour", "shape")]
    difference = s["look_colour_difference_mean"]
    cells = [pct(p) for p in parts] + ["-" if difference is None else f"{difference:.1f}"]
    return " / ".join([*cells, pct(s.get("look_palette_nearer_mean"))])


def trip_cells(s: dict) -> list[str]:
    return [
        str(s["videos"]), f"{s['round_trip_error_mean']:.1f}", f"{s['object_colour_error_mean']:.1f}",
        f"{s['background_error_mean']:.1f}", f"{s['colour_kept']} of {s['videos']}",
        f"{s['latent_noise_change_mean']:.1f}",
    ]  # fmt: skip


def table(report: dict) -> str:
    """The report's rows as a Markdown table (step 5's columns for a --round-trip-only report)."""
    trip_only = report.get("round_trip_only")
    columns, cells = (TRIP_COLUMNS, trip_cells) if trip_only else (VIDEO_COLUMNS, video_cells)
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for name, row in report["rows"].items():
        lines.append("| " + " | ".join([name, *cells(row["summary"])]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0, help="the sampler's seed of the first video")
    parser.add_argument("--design-seed", type=int, default=3, help="seed of the test designs")
    parser.add_argument("--jitter", type=int, default=30)
    parser.add_argument("--radius", type=float, nargs=2, default=(0.06, 0.2), help="object radius range")
    parser.add_argument("--sizes", nargs="+", default=["64x64", "256x256", "320x256", "200x300"])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--motion-only", action="store_true", help="also the motion-only prompts")
    parser.add_argument(
        "--round-trip-only", action="store_true", help="no video: only the autoencoder's round trip (step 5)"
    )
    flags = ("--guidance-text", "--guidance-ref", "--guidance-anchor", "--guidance-stop", "--colour-lock",
             "--subject-lock", "--background-lock", "--shape-lock")  # fmt: skip
    for flag in flags:
        parser.add_argument(flag, type=float, help="the sampler's (default: the model folder's)")
    parser.add_argument("--noise-level", type=int, help="noise step on the references (default: the model's)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--report", type=Path, help="print the table of a saved report")
    args = parser.parse_args()
    if args.report:
        print(table(json.loads(args.report.read_text())))
        return
    design = SynthSettings(
        videos=args.videos, seed=args.design_seed, frames=args.frames, max_objects=1, cameras=("static",),
        patterns=("plain",), holdout=8, split="test", start="anywhere", jitter=args.jitter,
    )  # fmt: skip
    radii = np.random.default_rng([args.design_seed, 7]).uniform(*args.radius, size=args.videos)
    designs = []
    for number in range(args.videos):
        video = design_video(number, design)
        video.objects[0].radius = float(radii[number])
        designs.append(video)
    torch.manual_seed(0)
    model = load_model(resolve_model(str(args.model)), torch.device("cpu"), torch.float32)
    report = {
        "model": str(args.model),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "report")},
        "sampler": sampler_record(model, args),
        "rows": {},
    }
    if args.round_trip_only:
        report["round_trip_only"] = True
        with torch.inference_mode():
            report["rows"][str(args.model)] = round_trip_row(model, args, designs)
        print(table(report))
        if args.out:
            args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
        return
    with torch.inference_mode():
        print("the grammar's caption, the object where the design puts it")
        report["rows"]["animate, grammar caption"] = run_row(model, args, designs, motion_only=False)
        if args.motion_only:
            print("motion-only prompts, the object in the centre")
            report["rows"]["animate, motion-only prompt, centred"] = run_row(model, args, designs, True)
    print(table(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
