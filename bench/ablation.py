"""Fig. 8 of the paper in miniature: ART-V's parts switched off one at a time, and the t_test sweep.

Every variant is trained with `artv train` (the engine's `train`) on the same data, from the same
autoencoder, with the same budget and seed; only the ablated part differs. Each is then scored on
held-out prompts of the synthetic world (colour-shape-direction combinations never seen in training):

- prompt following (the world scorer of `artv eval`) for `animate` (frame 0 from the test video) and
  for text-only `generate`;
- drift over long videos (64 and 256 frames): colour shift and sharpness from frame 0 (`artv eval`'s
  drift curves), and object identity: the share of frames, while the object should still be in view,
  in which the scorer finds the asked colour with the asked shape;
- FD-thumb, a weight-free Fréchet distance between generated and real test clips on 4x4 thumbnails of
  frames 0, 5, 10 and 15 (FVD, FID, IS and CLIPSIM need I3D / Inception / CLIP weights, which `artv
  eval` uses when they are downloaded; see docs/results.md).

Run from the repository root (hours on 2 CPU cores with the defaults; see docs/results.md):

    python bench/ablation.py --data world --test world-test --base runs/vae/model --runs runs/ablation \\
        --out docs/bench/ablation.json

Runs whose RUN/model exists are not trained again, so an interrupted benchmark continues (and the
variants can run as parallel processes, one `--variants` each, sharing RUNS/latents once it exists).
`python bench/ablation.py --report A.json [B.json ...]` prints the tables of docs/results.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from artv_cli.engine.data.datasets import FrameSpec, decode, to_pixels
from artv_cli.engine.data.synth import COLOURS, DIRECTIONS, SPEEDS
from artv_cli.engine.evaluation.drift import DriftTracker
from artv_cli.engine.evaluation.metrics import FeatureMoments, frechet_distance
from artv_cli.engine.evaluation.worldscore import (
    COLOUR_TOLERANCE,
    MIN_AREA,
    WorldScorer,
    classify_shape,
    parse_prompt,
    summarise,
)
from artv_cli.engine.sampling.loop import SampleSettings, render
from artv_cli.engine.training.trainer import TrainConfig, train

VARIANTS = {"full": [], "no-mask": ["mask"], "no-anchor": ["anchor"], "no-noise-aug": ["noise-aug"]}
THUMB_FRAMES = (0, 5, 10, 15)


def recipe(args) -> dict:
    """The training settings every variant shares (the default model's recipe, docs/default-model.md)."""
    return dict(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        seed=args.seed,
        cache=True,
        train_text_encoder=True,
        drop_ref=args.drop_ref,
        drop_anchor=args.drop_anchor,
        validation_videos=0,
        checkpoint_every=max(args.steps, 1),
        keep_checkpoints=1,
    )


def train_variant(name: str, args) -> Path:
    run = args.runs / name
    if (run / "model" / "artv_config.json").is_file():
        print(f"[{name}] trained already: {run / 'model'}", file=sys.stderr)
        return run / "model"
    print(f"[{name}] training {args.steps} steps", file=sys.stderr)
    config = TrainConfig(
        data=args.data,
        model=str(args.base),
        out=run,
        cache_dir=args.runs / "latents",
        ablate=VARIANTS[name],
        **recipe(args),
    )
    result = train(config)
    print(
        f"[{name}] {result.seconds:.0f} s, loss {result.first_loss:.4f} -> {result.last_loss:.4f}",
        file=sys.stderr,
    )
    return result.model


def test_cases(folder: Path, count: int) -> list[dict]:
    """The held-out test videos: caption, frames (T, 64, 64, 3), truth."""
    with open(folder / "results_synth.csv") as handle:
        rows = list(csv.DictReader(handle))[:count]
    settings = json.loads((folder / "synth.json").read_text())["settings"]
    cases = []
    for row in rows:
        path = folder / "videos" / row["page_dir"] / f"{row['videoid']}.mp4"
        size = settings["size"]
        cases.append({"caption": row["name"], "frames": decode(path, FrameSpec(size, size))})
    return cases


def sample_settings(model, args, frames: int, seed: int, t_test: int | None = None) -> SampleSettings:
    size = model.config.native_size
    return SampleSettings(
        frames=frames,
        width=size,
        height=size,
        steps=args.sample_steps,
        scheduler=args.scheduler,
        guidance_text=model.config.guidance_text,
        guidance_ref=model.config.guidance_ref,
        guidance_anchor=model.config.guidance_anchor,
        noise_level=model.config.t_test if t_test is None else t_test,
        seed=seed,
    )


def thumb_feature(frames: list[np.ndarray]) -> np.ndarray:
    """4x4 thumbnails of frames 0, 5, 10, 15 in [0, 1], concatenated: (192,)."""
    picked = torch.from_numpy(np.stack([frames[i] for i in THUMB_FRAMES])).permute(0, 3, 1, 2).float() / 255
    return torch.nn.functional.adaptive_avg_pool2d(picked, 4).flatten().numpy()


def fd_thumb(generated: list[np.ndarray], real: list[np.ndarray]) -> float:
    a, b = FeatureMoments(), FeatureMoments()
    a.add(np.stack(generated))
    b.add(np.stack(real))
    return frechet_distance(*a.mean_cov(), *b.mean_cov())


def prompt_following(model, cases: list[dict], args, mode: str, t_test: int | None = None) -> dict:
    """Render each held-out caption (animate from its frame 0, or text only) and score it."""
    results, thumbs = [], []
    for number, case in enumerate(cases):
        image = to_pixels(case["frames"][:1]) if mode == "animate" else None
        settings = sample_settings(model, args, args.frames, seed=args.seed + number, t_test=t_test)
        scorer = WorldScorer(parse_prompt(case["caption"]))
        frames = []
        for frame in render(model, case["caption"], settings, image=image):
            scorer.add(frame)
            frames.append(frame)
        results.append(scorer.result())
        if len(frames) > max(THUMB_FRAMES):
            thumbs.append(thumb_feature(frames))
    summary = summarise(results)
    real = [thumb_feature(list(c["frames"])) for c in cases if len(c["frames"]) > max(THUMB_FRAMES)]
    summary["fd_thumb"] = round(fd_thumb(thumbs, real), 4) if min(len(thumbs), len(real)) > 1 else None
    return summary


def _find(frame: np.ndarray, colour: str) -> tuple[np.ndarray | None, float]:
    pixels = frame.astype(np.int16)
    mask = np.abs(pixels - np.array(COLOURS[colour], dtype=np.int16)).max(axis=-1) <= COLOUR_TOLERANCE
    return (mask if mask.mean() >= MIN_AREA else None), float(mask.mean())


def long_drift(model, cases: list[dict], args, length: int, t_test: int | None = None) -> dict:
    """Animate `length` frames from the first test cases; drift curves and object identity."""
    train_frames = json.loads((args.data / "synth.json").read_text())["settings"]["frames"]
    finals = {"colour_shift": [], "sharpness": [], "ssim_first": [], "identity": [], "frozen": []}
    curve = None
    for number, case in enumerate(cases[: args.drift_videos]):
        prompt = parse_prompt(case["caption"]).objects[0]
        settings = sample_settings(model, args, length, seed=args.seed + number, t_test=t_test)
        tracker = DriftTracker()
        first = case["frames"][0]
        start_mask, _ = _find(first, prompt.colour)
        if start_mask is None:  # the object is not in view at frame 0: nothing to follow
            continue
        rows, cols = np.nonzero(start_mask)
        start = np.array([cols.mean(), rows.mean()])
        radius = math.sqrt(start_mask.sum() / math.pi)
        per_frame = SPEEDS[prompt.speed] * first.shape[1] / (train_frames - 1)
        kept = expected = 0
        for index, frame in enumerate(
            render(model, case["caption"], settings, image=to_pixels(case["frames"][:1]))
        ):
            tracker.add(frame)
            centre = start + np.array(DIRECTIONS[prompt.direction]) * per_frame * index
            if np.all(centre >= radius) and np.all(centre <= first.shape[1] - radius):  # should be in view
                expected += 1
                mask, _ = _find(frame, prompt.colour)
                kept += int(mask is not None and classify_shape(mask) == prompt.shape)
        summary = tracker.summary()
        for key in ("colour_shift", "sharpness", "ssim_first"):
            finals[key].append(summary[key]["final"])
        finals["identity"].append(kept / expected if expected else None)
        finals["frozen"].append(summary["frozen"])
        if curve is None:
            curve = {k: [round(v, 4) for v in tracker.curves()[k]] for k in ("colour_shift", "sharpness")}
    out = {}
    for key, values in finals.items():
        values = [v for v in values if v is not None]
        out[key] = round(float(np.mean(values)), 4) if values else None
    out["curves_first_video"] = curve
    return out


def score(model_path: Path, cases: list[dict], args, t_test: int | None = None, full: bool = True) -> dict:
    from artv_cli.engine.hub.registry import load_model, resolve_model

    model = load_model(resolve_model(str(model_path)), torch.device("cpu"), torch.float32)
    started = time.perf_counter()
    record = {"t_test": model.config.t_test if t_test is None else t_test}
    record["animate"] = prompt_following(model, cases, args, "animate", t_test)
    if full and "generate" in args.modes:
        record["generate"] = prompt_following(model, cases, args, "generate", t_test)
    for length in args.long if full else args.long[:1]:
        record[f"drift_{length}"] = long_drift(model, cases, args, length, t_test)
    record["seconds"] = round(time.perf_counter() - started, 1)
    return record


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def _num(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def tables(paths: list[Path]) -> str:
    """Markdown tables from one or more JSON files written by this script (merged, later files win)."""
    variants, sweep = {}, {}
    for path in paths:
        data = json.loads(Path(path).read_text())
        variants.update(data["variants"])
        sweep.update(data["t_test_sweep"])
    lines = [
        "| variant | animate: colour | shape | direction | generate: colour | shape | direction "
        "| FD-thumb (animate) | drift 64: colour shift | sharpness | identity | drift 256: colour shift "
        "| sharpness | identity |",
        "| --- " * 14 + "|",
    ]
    for name in [n for n in VARIANTS if n in variants]:
        v = variants[name]
        a, g = v["animate"], v.get("generate", {})
        d64, d256 = v.get("drift_64", {}), v.get("drift_256", {})
        lines.append(
            f"| {name} | {_pct(a['colour_accuracy'])} | {_pct(a['shape_accuracy'])} "
            f"| {_pct(a['direction_accuracy'])} | {_pct(g.get('colour_accuracy'))} "
            f"| {_pct(g.get('shape_accuracy'))} | {_pct(g.get('direction_accuracy'))} "
            f"| {_num(a['fd_thumb'], 3)} | {_num(d64.get('colour_shift'))} | {_num(d64.get('sharpness'))} "
            f"| {_pct(d64.get('identity'))} | {_num(d256.get('colour_shift'))} "
            f"| {_num(d256.get('sharpness'))} | {_pct(d256.get('identity'))} |"
        )
    if sweep:
        drift = next((k for k in next(iter(sweep.values())) if k.startswith("drift_")), "drift_64")
        lines += [
            "",
            f"| t_test | animate: colour | shape | direction | FD-thumb | drift {drift[6:]}: colour shift "
            "| sharpness | identity |",
            "| --- " * 8 + "|",
        ]
        for level in sorted(sweep, key=int):
            v = sweep[level]
            a, d = v["animate"], v.get(drift, {})
            lines.append(
                f"| {level} | {_pct(a['colour_accuracy'])} | {_pct(a['shape_accuracy'])} "
                f"| {_pct(a['direction_accuracy'])} | {_num(a['fd_thumb'], 3)} "
                f"| {_num(d.get('colour_shift'))} | {_num(d.get('sharpness'))} | {_pct(d.get('identity'))} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["--report"]:  # python bench/ablation.py --report A.json [B.json ...]
        print(tables([Path(p) for p in sys.argv[2:]]), end="")
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="training set (artv data synth ... --holdout 8)"
    )
    parser.add_argument(
        "--test", type=Path, required=True, help="held-out set (... --holdout 8 --split test)"
    )
    parser.add_argument("--base", type=Path, required=True, help="model folder with the trained VAE")
    parser.add_argument("--runs", type=Path, default=Path("runs/ablation"))
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated subset of the variants"
    )
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--drop-ref", type=float, default=0.3)
    parser.add_argument("--drop-anchor", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompts", type=int, default=16, help="held-out test videos scored")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--long", type=int, nargs="+", default=[64, 256], help="lengths of the drift videos")
    parser.add_argument("--drift-videos", type=int, default=2)
    parser.add_argument("--sample-steps", type=int, default=12)
    parser.add_argument("--scheduler", default="dpm++")
    parser.add_argument("--t-test", type=int, nargs="*", default=[0, 50, 100, 200, 300, 400])
    parser.add_argument(
        "--modes", default="animate,generate", help="prompt following for animate, and text-only generate"
    )
    parser.add_argument("--also", type=Path, nargs="*", default=[], help="more model folders to score")
    parser.add_argument("--out", type=Path, default=Path("bench-ablation.json"))
    args = parser.parse_args()

    cases = test_cases(args.test, args.prompts)
    report = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },  # fmt: skip
        "date": time.strftime("%Y-%m-%d"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "recipe": recipe(args),
        "variants": {},
        "t_test_sweep": {},
        "also": {},
    }

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")

    for name in [v for v in args.variants.split(",") if v]:
        path = train_variant(name, args)
        print(f"[{name}] scoring", file=sys.stderr)
        report["variants"][name] = score(path, cases, args)
        summary = json.loads((args.runs / name / "summary.json").read_text())
        report["variants"][name]["training"] = {
            k: summary[k] for k in ("steps", "samples", "seconds", "last_loss")
        }
        save()
    if args.t_test and (args.runs / "full" / "model").is_dir():
        for level in args.t_test:
            print(f"[t_test {level}] scoring", file=sys.stderr)
            report["t_test_sweep"][str(level)] = score(
                args.runs / "full" / "model", cases, args, level, full=False
            )
            save()
    for path in args.also:
        print(f"[{path}] scoring", file=sys.stderr)
        report["also"][str(path)] = score(path, cases, args)
        save()
    print(args.out)


if __name__ == "__main__":
    main()
