"""Videos a minute of `artv batch` at several --batch-size values, side by side in one process.

    python bench/batch.py                                         # tiny preset, CPU (about a minute)
    python bench/batch.py --model sd21-random --size 512 --device cuda --dtype bf16 --videos 16 --frames 8

Every batch size renders the same rows (same prompts, seeds, settings) through the batch engine
(`engine.sampling.batch.render_rows`) with one model loaded once; batch size 1 is the baseline (the
one-video frame loop). Reported: seconds, videos a minute, and the ratio to batch size 1. The MP4s are
written to a temporary folder (encoding is part of the cost a user pays).
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--size", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-sizes", default="1,4,16")
    parser.add_argument("--out", type=Path, default=None, help="Write the JSON report here too.")
    args = parser.parse_args()

    ref = resolve_model(args.model)
    device = resolve_device(args.device)
    model = load_model(ref, device, resolve_dtype(args.dtype, device))
    base = RenderRequest(prompt="", model=args.model, frames=args.frames, size=args.size, steps=args.steps,
                         scheduler="dpm++", device=args.device, dtype=args.dtype)  # fmt: skip
    rows = [
        BatchRow(k, k + 1, replace(base, prompt=PROMPTS[k % len(PROMPTS)], seed=k))
        for k in range(args.videos)
    ]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        warm = Path(scratch) / "warm"
        warm.mkdir()
        render_rows(rows[:1], warm, model)  # first-call costs (allocator, oneDNN/cuDNN plans) paid once
        for size in (int(s) for s in args.batch_sizes.split(",")):
            folder = Path(scratch) / f"b{size}"
            folder.mkdir()
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            render_rows(rows, folder, model, batch_size=size)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            results.append({"batch_size": size, "seconds": round(seconds, 3),
                            "videos_per_min": round(len(rows) / seconds * 60, 2)})  # fmt: skip
            print(json.dumps(results[-1]), flush=True)
    for result in results:
        result["vs_batch_1"] = round(result["videos_per_min"] / results[0]["videos_per_min"], 3)
    report = {
        "model": args.model,
        "size": args.size or f"{ref.native_size}",
        "videos": args.videos,
        "frames": args.frames,
        "steps": args.steps,
        "scheduler": "dpm++",
        "device": str(device),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
        "torch": torch.__version__,
        "results": results,
    }
    print("| batch size | seconds | videos/min | vs batch 1 |\n|---|---|---|---|")
    for r in results:
        print(f"| {r['batch_size']} | {r['seconds']} | {r['videos_per_min']} | {r['vs_batch_1']:.2f}x |")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
