"""Training throughput of `artv train`, with and without the latent cache, side by side in one process.

    python bench/train_throughput.py                       # tiny preset on the CPU (minutes)
    python bench/train_throughput.py --preset sd21 --size 320 --batch-size 4 --mixed-precision bf16   # GPU

The sd21 preset has Stable Diffusion 2.1-base's shapes with random weights: same cost as the real ones.
The data is the project's synthetic world, made once at the training size. Steady-state samples/s is the
mean over the logging windows after the first (which holds start-up work). Prints one JSON line per mode
and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from artv_cli.engine.data.synth import SynthSettings, synth_dataset
from artv_cli.engine.training.trainer import TrainConfig, train


def measure(data: Path, work: Path, args, cache: bool) -> dict:
    config = TrainConfig(
        data=data,
        model=f"{args.preset}-random",
        out=work / ("cache" if cache else "decode"),
        width=args.size,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=1e-4,
        mixed_precision=args.mixed_precision,
        gradient_checkpointing=args.gradient_checkpointing,
        cache=cache,
        workers=args.workers,
        log_every=args.log_every,
        checkpoint_every=10**9,
        validation_videos=0,
        cpu=args.cpu,
    )
    started = time.perf_counter()
    result = train(config)
    wall = time.perf_counter() - started
    lines = [json.loads(line) for line in (config.out / "metrics.jsonl").read_text().splitlines()]
    steady = lines[1:] or lines
    return {
        "mode": "latent cache" if cache else "decode + VAE per step",
        "preset": args.preset,
        "size": args.size,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "samples_per_s": round(sum(m["samples_per_s"] for m in steady) / len(steady), 3),
        "loop_seconds": result.seconds,
        "wall_seconds_with_setup": round(wall, 2),
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if torch.cuda.is_available()
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", choices=["tiny", "sd21"])
    parser.add_argument("--size", type=int, default=None, help="training size (default: 64 tiny, 320 sd21)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--mixed-precision", default="no", choices=["no", "fp16", "bf16"])
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU where a GPU is present")
    args = parser.parse_args()
    args.size = args.size or (64 if args.preset == "tiny" else 320)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = synth_dataset(
            work / "data", SynthSettings(videos=args.videos, frames=16, size=args.size, seed=0)
        )
        rows = [measure(data, work, args, cache=False), measure(data, work, args, cache=True)]
    device = (
        torch.cuda.get_device_name() if torch.cuda.is_available() and not args.cpu else platform.processor()
    )
    for row in rows:
        print(json.dumps(row | {"device": device or "cpu", "threads": torch.get_num_threads()}))
    print("\n| mode | samples/s | ratio |\n| --- | --- | --- |")
    for row in rows:
        ratio = row["samples_per_s"] / rows[0]["samples_per_s"]
        print(f"| {row['mode']} | {row['samples_per_s']:.2f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
