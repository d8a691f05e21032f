"""The pixel arithmetic of frame loop step 7's locks, per frame, beside the decode and encode they share.

    python bench/lock_cost.py --out docs/bench/lock-cost.json

Times, on the default model at one thread, medians of `--repeats` (after one warm-up): decoding one frame,
encoding it back, the colour lock's pixels alone, the colour and subject locks', all three colour locks'
(the background lock: engine/sampling/colours.py), and all four (the shape lock: engine/sampling/shapes.py),
at 64x64 and 256x256, on a picture of an orange square on grey whose next frame has a faint haze and the
square moved and rounded, so every lock has work to do. Then (`--renders N`) the README's 16 frames
(`--render-frames`) of `animate` with the model's recommended sampler and its `--fast` preset, with the
lock `--lock` (default: the background lock) off and on, alternating, N times each: the seconds the whole
frame loop takes. Nothing else should run beside it.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from artv_cli.engine.hub.registry import load_model, resolve_model
from artv_cli.engine.sampling.colours import background_image, colour_targets, hold_background, shift_colours
from artv_cli.engine.sampling.shapes import hold_shape, subject_sprites


def median_ms(work, repeats: int) -> float:
    work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 3)


def picture(size: int) -> np.ndarray:
    pixels = np.full((1, size, size, 3), 109, np.uint8)
    quarter = size // 4
    pixels[0, quarter : 2 * quarter, quarter : 2 * quarter] = (220, 120, 30)
    return pixels


def render_seconds(model, repeats: int, frames: int, lock_name: str = "background_lock") -> dict:
    """Seconds of the frame loop for the README's frames, lock off and on, alternating (medians)."""
    from artv_cli.engine.data.images import load_image
    from artv_cli.engine.sampling.loop import SampleSettings, render
    from artv_cli.engine.sampling.settings import resolve

    root = Path(__file__).resolve().parents[1]
    given = load_image(root / "examples" / "red-ball.png").fitted(64, 64)
    prompt = "a red circle moves right quickly, on a plain grey background"
    out = {}
    for preset in ("recommended", "fast"):
        values, _ = resolve({}, model.config, fast=preset == "fast", text_only=False)
        times = {"off": [], "on": []}
        for _ in range(repeats):
            for name, lock in (("off", 0.0), ("on", 1.0)):
                chosen = values | {lock_name: lock}
                settings = SampleSettings(frames=frames, width=64, height=64, seed=0, **chosen)
                started = time.perf_counter()
                for _frame in render(model, prompt, settings, image=given):
                    pass
                times[name].append(round(time.perf_counter() - started, 3))
        medians = {k: statistics.median(v) for k, v in times.items()}
        out[preset] = {
            "runs": times,
            "median": medians,
            "on_over_off": round(medians["on"] / medians["off"], 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--renders", type=int, default=0)
    parser.add_argument("--render-frames", type=int, default=16)
    parser.add_argument("--lock", default="background_lock", choices=["background_lock", "shape_lock"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(resolve_model("default"), torch.device("cpu"), torch.float32)
    rows = {}
    with torch.inference_mode():
        for size in (64, 256):
            anchor = picture(size)
            now = anchor.copy()
            now[0, :, : size // 16] = (140, 114, 86)  # a haze at the left edge
            quarter = size // 4
            now[0, quarter : 2 * quarter, quarter : 2 * quarter] = 109
            yy, xx = np.mgrid[:size, :size]
            rounded = np.hypot(xx - 1.6 * quarter, yy - 1.4 * quarter) < quarter / 2  # moved and rounded
            now[0, rounded] = (220, 120, 30)
            tensor = torch.from_numpy(now).permute(0, 3, 1, 2).float() / 127.5 - 1
            z = model.encode_images(tensor).float()
            targets, image, sprites = (
                colour_targets(anchor),
                background_image(anchor),
                subject_sprites(anchor),
            )
            rows[f"{size}x{size}"] = {
                "decode_ms": median_ms(lambda z=z: model.decode_latents(z), args.repeats),
                "encode_ms": median_ms(lambda t=tensor: model.encode_images(t), args.repeats),
                "colour_lock_ms": median_ms(
                    lambda n=now, t=targets: shift_colours(n, t, 1.0, 0.0), args.repeats
                ),
                "colour_and_subject_locks_ms": median_ms(
                    lambda n=now, t=targets: shift_colours(n, t, 1.0, 1.0), args.repeats
                ),
                "three_locks_ms": median_ms(
                    lambda n=now, t=targets, i=image: hold_background(
                        shift_colours(n, t, 1.0, 1.0), i, t, 1.0
                    ),
                    args.repeats,
                ),
                "four_locks_ms": median_ms(
                    lambda n=now, t=targets, i=image, s=sprites: hold_shape(
                        hold_background(shift_colours(n, t, 1.0, 1.0), i, t, 1.0), s, i, 1.0
                    ),
                    args.repeats,
                ),
            }
            print(size, rows[f"{size}x{size}"])
    renders = {}
    if args.renders:
        renders = render_seconds(model, args.renders, args.render_frames, args.lock)
        print(renders)
    report = {
        "machine": f"{platform.machine()}, 1 thread, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "repeats": args.repeats,
        "rows": rows,
        "renders_s": renders,
        "render_lock": args.lock,
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
