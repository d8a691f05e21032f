"""Videos a minute of `artv batch` at several --batch-size values, side by side in one process.

    python bench/batch.py                                         # tiny preset, CPU (about a minute)
    python bench/batch.py --model sd21-random --size 512,320 --device cuda --dtype bf16 --videos 16 --frames 8

Every batch size renders the same rows (same prompts, seeds, settings) through the batch engine
(`engine.sampling.batch.render_rows`) with one model loaded once; batch size 1 is the baseline (the
one-video frame loop). Reported: seconds, videos a minute, and the ratio to batch size 1. The MP4s are
written to a temporary folder (encoding is part of the cost a user pays); `--no-encode` drops the frames
instead (for a machine without ffmpeg: the report says so, and the encoding's CPU cost is left out).
Several sizes (`--size 512,320`) are measured one after the other with the one loaded model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from artv_cli.engine.hub.devices import resolve_device, resolve_dtype
from artv_cli.engine.hub.registry import load_model, resolve_model
from artv_cli.engine.sampling.batch import BatchRow, render_rows
from artv_cli.engine.sampling.request import RenderRequest

PROMPTS = (
    "a red circle moves right quickly, on a plain grey background",
    "a blue square moves up slowly, on a plain black background",
    "a yellow triangle moves left quickly, on a plain navy background",
    "a green diamond moves down slowly, on a plain teal background",
)


def skip_encoding() -> None:
    """Frames go nowhere: ffmpeg is never started (the file is left empty so the rename still happens)."""
    import imageio_ffmpeg

    def write_frames(path, size, **options):
        open(path, "wb").close()
        while True:
            yield

    imageio_ffmpeg.write_frames = write_frames


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--size", default=None, help="WxH or W; several comma-separated")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-sizes", default="1,4,16")
    parser.add_argument("--out", type=Path, default=None, help="Write the JSON report here too.")
    parser.add_argument("--no-encode", action="store_true", help="Make the frames but write no MP4.")
    args = parser.parse_args()
    if args.no_encode:
        skip_encoding()

    ref = resolve_model(args.model)
    device = resolve_device(args.device)
    model = load_model(ref, device, resolve_dtype(args.dtype, device))
    sizes = args.size.split(",") if args.size else [None]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            base = RenderRequest(prompt="", model=args.model, frames=args.frames, size=size, steps=args.steps,
                                 scheduler="dpm++", device=args.device, dtype=args.dtype)  # fmt: skip
            rows = [
                BatchRow(k, k + 1, replace(base, prompt=PROMPTS[k % len(PROMPTS)], seed=k))
                for k in range(args.videos)
            ]
            warm = Path(scratch) / f"warm-{size}"
            warm.mkdir()
            render_rows(rows[:1], warm, model)  # first-call costs (allocator, oneDNN/cuDNN plans) paid once
            first = len(results)
            for batch in (int(b) for b in args.batch_sizes.split(",")):
                folder = Path(scratch) / f"{size}-b{batch}"
                folder.mkdir()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                started = time.perf_counter()
                render_rows(rows, folder, model, batch_size=batch)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - started
                results.append({"size": size or f"{ref.native_size}", "batch_size": batch,
                                "seconds": round(seconds, 3),
                                "videos_per_min": round(len(rows) / seconds * 60, 2)})  # fmt: skip
                results[-1]["vs_batch_1"] = round(
                    results[-1]["videos_per_min"] / results[first]["videos_per_min"], 3
                )
                print(json.dumps(results[-1]), flush=True)
    report = {
        "model": args.model,
        "videos": args.videos,
        "frames": args.frames,
        "steps": args.steps,
        "scheduler": "dpm++",
        "encoded": not args.no_encode,
        "device": str(device),
        "dtype": str(model.dtype),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
        "torch": torch.__version__,
        "results": results,
    }
    print("| size | batch size | seconds | videos/min | vs batch 1 |\n|---|---|---|---|---|")
    for r in results:
        cells = [r["size"], r["batch_size"], r["seconds"], r["videos_per_min"], f"{r['vs_batch_1']:.2f}x"]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
