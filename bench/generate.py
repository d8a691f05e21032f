"""Generation speed and memory of artv's engine against a naive baseline, side by side in one process.

    python bench/generate.py                                   # tiny preset, CPU (a few minutes)
    python bench/generate.py --preset sd21 --size 512 --device cuda --dtype bf16   # GPU

The baseline uses the same networks and weights, written the way a straightforward diffusers user would:
every frame is decoded to pixels and re-encoded by the VAE as the next reference, the adapter features
and anchor tokens are recomputed at every step, and each guidance branch is its own forward pass. Both
animate the same image with the same prompt, seed and settings. Reported per variant: seconds per frame
(median and p90 over the frames after the warm-up), network evaluations per frame, peak memory above the
start of the run (CUDA: allocator peak; CPU: resident set size sampled every 2 ms), and ours/baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from artv_cli.engine.hub.registry import load_model, resolve_model
from artv_cli.engine.model.artv import Conditions
from artv_cli.engine.model.masked import guided_epsilon
from artv_cli.engine.sampling.loop import SampleSettings, augment, make_generator, make_scheduler, render


# ----- the naive baseline -----------------------------------------------------------------------------
@torch.inference_mode()
def naive_render(model, prompt: str, settings: SampleSettings, image: torch.Tensor):
    """The loop a straightforward user writes: pixels round-trip, per-step conditions, one branch per pass."""
    device = model.device
    generator = make_generator(settings.seed, device)
    text, no_text = model.encode_prompt([prompt, settings.negative_prompt]).chunk(2)
    anchor_px = prev_px = prev2_px = image.to(device)
    yield model.decode_latents(model.encode_images(image))[0]
    for _ in range(settings.frames - 1):
        # the previous frames come back from pixels through the VAE, every frame
        prev = model.encode_images(prev_px).float()
        prev2 = model.encode_images(prev2_px).float()
        anchor = model.encode_images(anchor_px).float()
        refs = torch.cat(
            [
                augment(model, prev, settings.noise_level, generator),
                augment(model, prev2, settings.noise_level, generator),
            ],
            dim=1,
        ).to(model.dtype)
        z_a = augment(model, anchor, settings.noise_level, generator).to(model.dtype)
        blank_refs, blank_anchor = torch.zeros_like(refs), torch.zeros_like(z_a)
        scheduler = make_scheduler(settings.scheduler, model)
        scheduler.set_timesteps(settings.steps, device=device)
        z = (
            torch.randn((1, 4, *prev.shape[-2:]), generator=generator, device=device)
            * scheduler.init_noise_sigma
        )
        level = torch.full((1,), settings.noise_level, device=device, dtype=torch.long)
        for t in scheduler.timesteps:
            z_in = scheduler.scale_model_input(z, t)
            outputs = []
            for branch_text, branch_refs, branch_anchor in (
                (text, refs, z_a),
                (no_text, refs, z_a),
                (text, blank_refs, z_a),
                (text, refs, blank_anchor),
            ):
                # adapter features and anchor tokens recomputed for every branch at every step
                cond = Conditions(
                    text=branch_text,
                    features=model.cond.reference_features(branch_refs),
                    mask_features=model.mask_cond.reference_features(branch_refs),
                    tokens=model.cond.anchor_tokens(branch_anchor),
                    mask_tokens=model.mask_cond.anchor_tokens(branch_anchor),
                    noise_level=level,
                    z_ref=prev,
                    static=torch.tensor([bool(branch_refs.abs().sum() > 0)]),
                    refs=branch_refs,
                )
                outputs.append(model.predict_noise(z_in, t, cond))
            eps = guided_epsilon(
                *outputs, settings.guidance_text, settings.guidance_ref, settings.guidance_anchor
            )
            z = scheduler.step(eps, t, z, generator=generator).prev_sample
        frame = model.decode_latents(z)
        yield frame[0]
        prev2_px, prev_px = prev_px, torch.from_numpy(frame).permute(0, 3, 1, 2).float().div(127.5).sub(1)


# ----- measuring ----------------------------------------------------------------------------------------
class Counters:
    """Counts calls of the networks (each call is one network evaluation, whatever its batch)."""

    def __init__(self, model):
        self.counts: Counter = Counter()
        self.handles = []
        for name in ("unet", "mask_unet", "text_encoder"):
            module = getattr(model, name)
            self.handles.append(
                module.register_forward_hook(lambda *a, name=name: self.counts.update([name]))
            )
        for name, method in (("vae_encode", "encode"), ("vae_decode", "decode")):
            original = getattr(model.vae, method)

            def wrapped(*args, original=original, name=name, **kwargs):
                self.counts.update([name])
                return original(*args, **kwargs)

            setattr(model.vae, method, wrapped)
        for owner in ("cond", "mask_cond"):
            for method in ("reference_features", "anchor_tokens"):
                target = getattr(model, owner)
                original = getattr(target, method)

                def wrapped(*args, original=original, key=f"{owner}.{method}", **kwargs):
                    self.counts.update([key])
                    return original(*args, **kwargs)

                setattr(target, method, wrapped)


class PeakMemory:
    """Peak memory above the level at start: CUDA allocator peak, or sampled resident set size on CPU."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            self.start = self.peak = _rss()
            self.running = True
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, _rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.absolute = torch.cuda.max_memory_allocated()
        else:
            self.running = False
            self.thread.join()
            self.absolute = self.peak
        self.bytes = self.absolute - self.start


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores visible)"
    except OSError:
        pass
    return platform.processor() or "cpu"


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def run(name, frames_iter, model, device, warmup: int) -> dict:
    counters_before = Counter(model._bench_counters.counts)
    times = []
    with PeakMemory(device) as memory:
        last = time.perf_counter()
        for number, _frame in enumerate(frames_iter):
            if device.type == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            if number > 0:  # frame 0 is the given image
                times.append(now - last)
            last = now
    counts = model._bench_counters.counts - counters_before
    made = len(times)
    steady = np.array(times[warmup:] or times)
    return {
        "variant": name,
        "frames_made": made,
        "seconds_per_frame_median": round(float(np.median(steady)), 4),
        "seconds_per_frame_p90": round(float(np.percentile(steady, 90)), 4),
        "first_frame_seconds": round(times[0], 4) if times else None,
        "network_evaluations_per_frame": {k: round(v / made, 2) for k, v in sorted(counts.items())},
        "peak_memory_mb": round(memory.bytes / 2**20, 1),
        "peak_memory_absolute_mb": round(memory.absolute / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", choices=["tiny", "sd21"])
    parser.add_argument("--size", type=int, default=None, help="default: the preset's native size")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=2, help="generated frames left out of the statistics")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--long", type=int, default=256, help="frames of the memory-growth run (0: skip)")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to start)")
    parser.add_argument("--flops", action="store_true", help="count FLOPs per frame and report TFLOP/s")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the card's bf16 peak, for the ratio")
    parser.add_argument("--out", default="bench-generate.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    ref = resolve_model(f"{args.preset}-random")
    size = args.size or ref.native_size
    model = load_model(ref, device, dtype)
    model._bench_counters = Counters(model)
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, size, size, generator=gen) * 2 - 1
    prompt = "a red circle moves right slowly, on a plain grey background"
    base = dict(frames=args.frames, width=size, height=size, steps=args.steps, seed=1)

    results = [
        run(
            "baseline (naive loop)",
            naive_render(model, prompt, SampleSettings(**base), image),
            model,
            device,
            args.warmup,
        )
    ]
    variants = {
        "artv (4 branches)": SampleSettings(**base),
        "artv, decode in background": SampleSettings(**base, background_decode=True),
        "artv, text guidance only (2 branches)": SampleSettings(**base, guidance_ref=0, guidance_anchor=0),
        "artv, Phi_mask every 2nd step": SampleSettings(**base, mask_every=2),
        "artv --fast (DPM-Solver++ 12 steps)": SampleSettings(**(base | {"steps": 12}), scheduler="dpm++"),
        "artv --colour-lock 1 (a decode and an encode per frame)": SampleSettings(**base, colour_lock=1.0),
        "artv --colour-lock 1 --subject-lock 1 (the same decode)": SampleSettings(
            **base, colour_lock=1.0, subject_lock=1.0
        ),
        "artv, the three locks at 1 (the same decode)": SampleSettings(
            **base, colour_lock=1.0, subject_lock=1.0, background_lock=1.0
        ),
    }
    for name, settings in variants.items():
        results.append(run(name, render(model, prompt, settings, image=image), model, device, args.warmup))
    memory = {}  # before any compile: the same eager model for both lengths
    if args.long:
        short_steps = 5  # the growth check needs length, not quality
        for frames in (16, args.long):
            settings = SampleSettings(**(base | {"frames": frames, "steps": short_steps}))
            row = run(f"artv {frames} frames", render(model, prompt, settings, image=image), model, device, 0)
            memory[frames] = row["peak_memory_absolute_mb"]  # the whole process (CPU) or allocator (CUDA)
        memory["ratio"] = round(memory[args.long] / memory[16], 3)

    if args.compile:
        model.unet, model.mask_unet = torch.compile(model.unet), torch.compile(model.mask_unet)
        results.append(
            run(
                "artv + torch.compile",
                render(model, prompt, SampleSettings(**base), image=image),
                model,
                device,
                args.warmup,
            )
        )
    if args.flops:  # one generated frame of each, under PyTorch's FLOP counter (all ops, VAE included)
        from torch.utils.flop_counter import FlopCounterMode

        one = SampleSettings(**(base | {"frames": 2}))
        for row, frames in (
            (results[0], naive_render(model, prompt, one, image)),
            (results[1], render(model, prompt, one, image=image)),
        ):
            with FlopCounterMode(display=False) as counter:
                for _ in frames:
                    pass
            row["tflop_per_frame"] = round(counter.get_total_flops() / 1e12, 4)
            row["achieved_tflops"] = round(row["tflop_per_frame"] / row["seconds_per_frame_median"], 3)
            if args.peak_tflops:
                row["fraction_of_peak"] = round(row["achieved_tflops"] / args.peak_tflops, 3)
    baseline = results[0]["seconds_per_frame_median"]
    for row in results:
        row["speedup_vs_baseline"] = round(baseline / row["seconds_per_frame_median"], 2)

    machine = torch.cuda.get_device_name() if device.type == "cuda" else _cpu_name()
    report = {
        "machine": machine,
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "preset": args.preset,
        "size": size,
        "dtype": args.dtype,
        "frames": args.frames,
        "steps": args.steps,
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
        "peak_memory_mb_by_length": memory,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{'variant':<40} {'s/frame':>8} {'p90':>8} {'x base':>7} {'peak MB':>8}  unet/mask evals per frame"
    )
    for row in results:
        evals = row["network_evaluations_per_frame"]
        timing = f"{row['seconds_per_frame_median']:>8.4f} {row['seconds_per_frame_p90']:>8.4f}"
        print(
            f"{row['variant']:<40} {timing} {row['speedup_vs_baseline']:>7.2f} "
            f"{row['peak_memory_mb']:>8.1f}  "
            f"{evals.get('unet', 0):g}/{evals.get('mask_unet', 0):g}"
        )
    if memory:
        print(
            f"peak memory: 16 frames {memory[16]} MB, {args.long} frames {memory[args.long]} MB "
            f"(ratio {memory['ratio']})"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
