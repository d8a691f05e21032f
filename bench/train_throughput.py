"""Training throughput of `artv train`, with and without the latent cache, side by side in one process.

    python bench/train_throughput.py                       # tiny preset on the CPU (minutes)
    python bench/train_throughput.py --preset sd21 --size 320 --batch-size 4 --mixed-precision bf16   # GPU
    python bench/train_throughput.py --preset world64 --lora 8      # whole model against a LoRA adapter

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


def measure(data: Path, work: Path, args, cache: bool, lora: int = 0) -> dict:
    """One mode, in a Python process of its own, so that its peak memory is its own."""
    import subprocess
    import sys

    child = [sys.executable, __file__, "--child", json.dumps([str(data), str(work), vars(args), cache, lora])]
    done = subprocess.run(child, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure(data: Path, work: Path, args, cache: bool, lora: int) -> dict:
    import resource

    data, work = Path(data), Path(work)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    config = TrainConfig(
        data=data,
        model=f"{args.preset}-random",
        out=work / (f"lora{lora}" if lora else "cache" if cache else "decode"),
        lora=lora,
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
    mode = "latent cache" if cache else "decode + VAE per step"
    return {
        "mode": f"{mode}, LoRA rank {lora}" if lora else f"{mode}, whole model",
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
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "trained_parameters": _trained(config),
    }


def _trained(config) -> int:
    from artv_cli.engine.training.common import load_base

    model = load_base(config.model, 0)
    if config.lora:
        from artv_cli.engine.model.lora import add_lora

        return add_lora(model, config.lora, None)
    return sum(p.numel() for net in (model.unet, model.mask_unet, model.cond, model.mask_cond) for p in
               net.parameters())  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", choices=["tiny", "world64", "sd21"])
    parser.add_argument(
        "--lora", type=int, default=0, help="compare the whole model with a LoRA of this rank"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    parser.add_argument("--size", type=int, default=None, help="training size (default: 64 tiny, 320 sd21)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--mixed-precision", default="no", choices=["no", "fp16", "bf16"])
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU where a GPU is present")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one mode, measured in its own process
    args = parser.parse_args()
    if args.child:
        data, work, values, cache, lora = json.loads(args.child)
        print(json.dumps(_measure(data, work, argparse.Namespace(**values), cache, lora)))
        return
    args.size = args.size or (320 if args.preset == "sd21" else 64)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = synth_dataset(
            work / "data", SynthSettings(videos=args.videos, frames=16, size=args.size, seed=0)
        )
        if args.lora:  # both from the latent cache: what differs is what trains
            rows = [measure(data, work, args, cache=True), measure(data, work, args, True, args.lora)]
        else:
            rows = [measure(data, work, args, cache=False), measure(data, work, args, cache=True)]
    device = (
        torch.cuda.get_device_name() if torch.cuda.is_available() and not args.cpu else platform.processor()
    )
    for row in rows:
        print(json.dumps(row | {"device": device or "cpu", "threads": torch.get_num_threads()}))
    print("\n| mode | trained parameters | samples/s | ratio | peak memory (GiB) |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        ratio = row["samples_per_s"] / rows[0]["samples_per_s"]
        peak = row["peak_gpu_gib"] if row["peak_gpu_gib"] is not None else row["peak_rss_gib"]
        print(f"| {row['mode']} | {row['trained_parameters'] / 1e6:.2f} M | {row['samples_per_s']:.2f} | "
              f"{ratio:.2f}x | {peak} |")  # fmt: skip


if __name__ == "__main__":
    main()
