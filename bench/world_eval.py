"""How well a model of the synthetic world does what a person types (issue 14's protocol).

Scores, with the world scorer of `artv eval --world` (no weights), on held-out test videos whose
colour-shape-direction combinations never appear in training:

- the ceiling rows (`--ceiling`): the ground-truth videos themselves (the scorer must get them right),
  and their VAE round trip (what no sampler can win back);
- `animate` (frame 0 of the test video as the image) and text-only `generate`, on the grammar's wording
  (`--test`) and on people's phrasings that no training caption uses (`--people`);
- frame 0 of `generate` alone (is the asked object drawn at all);
- long videos (`--long 256`): the object found with its colour and shape while it should be in view,
  the background's colour shift from frame 0, and the frozen flag of `artv eval --drift`.

Run from the repository root, for example:

    python bench/world_eval.py --model artv_cli/models/world64 --test world-test --people test-people \\
        --ceiling --long 256 --out docs/bench/default-model.json

`python bench/world_eval.py --report docs/bench/default-model.json` prints the tables of
docs/default-model.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from artv_cli.engine.data.datasets import FrameSpec, decode, to_pixels
from artv_cli.engine.evaluation.drift import DriftTracker
from artv_cli.engine.evaluation.worldscore import WorldScorer, parse_prompt, summarise
from artv_cli.engine.hub.registry import load_model, resolve_model
from artv_cli.engine.sampling.loop import SampleSettings, render
from artv_cli.engine.sampling.settings import SETTINGS, resolve

COLUMNS = ("colour", "shape", "direction", "speed", "background")


def cases(folder: Path, count: int) -> list[dict]:
    """The test videos: caption and frames (T, H, W, 3)."""
    with open(folder / "results_synth.csv") as handle:
        rows = list(csv.DictReader(handle))[:count]
    size = json.loads((folder / "synth.json").read_text())["settings"]["size"]
    return [
        {
            "caption": row["name"],
            "frames": decode(
                folder / "videos" / row["page_dir"] / f"{row['videoid']}.mp4", FrameSpec(size, size)
            ),
        }
        for row in rows
    ]


def _video(folder: Path, row: dict) -> Path:
    return folder / "videos" / row["page_dir"] / f"{row['videoid']}.mp4"


def score(prompt: str, frames, clip_frames: int | None = None) -> dict:
    scorer = WorldScorer(parse_prompt(prompt), clip_frames=clip_frames)
    for frame in frames:
        scorer.add(frame)
    return {"prompt": prompt} | scorer.result()


def settings_for(model, args, frames: int, seed: int) -> SampleSettings:
    """The sampler of a scored run: the script's flags, else the model folder's recommendation, else the
    built-in default (the one resolver of engine/sampling/settings.py, as every command)."""
    method = model.config
    given = {name: getattr(args, name, None) for name in SETTINGS}
    values, _ = resolve(given, method)
    return SampleSettings(
        frames=frames, width=method.native_size, height=method.native_size, seed=seed, **values
    )


SAMPLER_KEYS = (
    "steps", "scheduler", "guidance_text", "guidance_ref", "guidance_anchor", "guidance_stop", "noise_level",
    "colour_lock", "subject_lock", "background_lock", "shape_lock",
    "mask_every", "first_frame_steps", "lora",
)  # fmt: skip


def sampler_record(model, args) -> dict:
    """The sampler settings a report ran with (flags over the model's recommendation), for its header."""
    return {k: v for k, v in vars(settings_for(model, args, 16, 0)).items() if k in SAMPLER_KEYS}


def make(model, prompt: str, settings: SampleSettings, image=None) -> np.ndarray:
    pixels = to_pixels(image[None]) if image is not None else None
    return np.stack(list(render(model, prompt, settings, image=pixels)))


def row(results: list[dict], seconds: float, videos: int) -> dict:
    return {
        "summary": summarise(results),
        "seconds_per_video": round(seconds / max(1, videos), 3),
        "videos": results,
    }


def run(args) -> dict:
    torch.manual_seed(0)
    model = load_model(resolve_model(str(args.model)), torch.device("cpu"), torch.float32)
    report = {
        "model": str(args.model),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "sampler": sampler_record(model, args),
        "rows": {},
    }
    grammar = cases(args.test, args.videos)
    sets = {} if args.skip_grammar else {"grammar": grammar}
    if args.people:
        sets["people"] = cases(args.people, args.videos)
    if args.ceiling:
        truth = grammar
        report["rows"]["ground truth"] = row([score(c["caption"], c["frames"]) for c in truth], 0, len(truth))
        started, results = time.perf_counter(), []
        with torch.inference_mode():
            for c in truth:
                latents = model.encode_images(to_pixels(c["frames"]))
                results.append(score(c["caption"], model.decode_latents(latents)))
        report["rows"]["VAE round trip"] = row(results, time.perf_counter() - started, len(truth))
    for wording, group in sets.items():
        for mode in args.modes:
            started, results, firsts = time.perf_counter(), [], []
            for number, c in enumerate(group):
                if number < args.start:
                    continue
                settings = settings_for(model, args, args.frames, args.seed + number)
                frames = make(model, c["caption"], settings, c["frames"][0] if mode == "animate" else None)
                results.append(score(c["caption"], frames))
                if mode == "generate":
                    firsts.append(score(c["caption"], [frames[0], frames[0]]))
                print(f"[{wording} {mode}] {number + 1}/{len(group)}", file=sys.stderr, end="\r")
            report["rows"][f"{mode} ({wording})"] = row(results, time.perf_counter() - started, len(results))
            if firsts:
                report["rows"][f"generate frame 0 ({wording})"] = row(firsts, 0, len(firsts))
            print(f"{mode} ({wording}): {report['rows'][f'{mode} ({wording})']['summary']}", file=sys.stderr)
    if args.long:
        for mode in args.modes:
            started, results = time.perf_counter(), []
            for number, c in enumerate(grammar[: args.long_videos]):
                settings = settings_for(model, args, args.long, args.seed + number)
                frames = make(model, c["caption"], settings, c["frames"][0] if mode == "animate" else None)
                drift = DriftTracker()
                for frame in frames:
                    drift.add(frame)
                results.append(
                    score(c["caption"], frames, clip_frames=16) | {"frozen": drift.summary()["frozen"]}
                )
            long_row = row(results, time.perf_counter() - started, len(results))
            long_row["summary"]["frozen_videos"] = sum(r["frozen"] for r in results)
            report["rows"][f"{mode} {args.long} frames"] = long_row
            print(f"{mode} {args.long} frames: {long_row['summary']}", file=sys.stderr)
    return report


def merge(reports: list[dict]) -> dict:
    """One report from several over parts of the same test set (`--start`): rows joined in order."""
    merged = {k: v for k, v in reports[0].items() if k != "rows"} | {"rows": {}}
    for report in reports:
        for name, data in report["rows"].items():
            joined = merged["rows"].setdefault(name, {"videos": [], "seconds": 0.0})
            joined["videos"] += data["videos"]
            joined["seconds"] += data["seconds_per_video"] * len(data["videos"])
    for name, joined in merged["rows"].items():
        long_row = row(joined["videos"], joined["seconds"], len(joined["videos"]))
        if any("frozen" in v for v in joined["videos"]):
            long_row["summary"]["frozen_videos"] = sum(v.get("frozen", False) for v in joined["videos"])
        merged["rows"][name] = long_row
    return merged


def pct(value: float | None) -> str:
    """A share as a table cell: "83 %", or "-" where it was not measured."""
    return "-" if value is None else f"{100 * value:.0f} %"


def table(report: dict) -> str:
    lines = [
        f"model {report['model']}; sampler {report['sampler']}; {report['machine']}; {report['date']}",
        "| row | colour | shape | direction | speed | background | slow moves | in view, right "
        "| bg shift max | s/video |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    for name, data in report["rows"].items():
        s = data["summary"]
        cells = [pct(s.get(f"{c}_accuracy")) for c in COLUMNS]
        cells += [
            pct(s.get("slow_moving_rate")),
            pct(s.get("identity_rate")),
            f"{s.get('max_background_shift')}",
        ]
        frozen = f" ({s['frozen_videos']} frozen)" if "frozen_videos" in s else ""
        lines.append(f"| {name}{frozen} | " + " | ".join(cells) + f" | {data['seconds_per_video']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--test", type=Path, help="held-out test set in the grammar's wording")
    parser.add_argument("--people", type=Path, help="held-out test set in people's phrasings")
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument(
        "--start",
        type=int,
        default=0,
        help="render test videos START..VIDEOS-1 only (seeds as in a whole run)",
    )
    parser.add_argument(
        "--merge", type=Path, nargs="+", help="join saved reports' rows (in order) into --out"
    )
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--modes", nargs="+", default=["animate", "generate"])
    parser.add_argument("--steps", type=int)
    parser.add_argument("--scheduler", choices=["ddim", "dpm++"])
    parser.add_argument("--guidance-text", type=float)
    parser.add_argument("--guidance-ref", type=float)
    parser.add_argument("--guidance-anchor", type=float)
    parser.add_argument("--guidance-stop", type=float, help="guided share of steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--colour-lock", type=float, help="the sampler's colour lock (default: the model's)")
    parser.add_argument(
        "--subject-lock", type=float, help="the sampler's subject lock (default: the model's)"
    )
    parser.add_argument(
        "--background-lock", type=float, help="the sampler's background lock (default: the model's)"
    )
    parser.add_argument("--shape-lock", type=float, help="the sampler's shape lock (default: the model's)")
    parser.add_argument("--noise-level", type=int, help="noise step on the references (default: the model's)")
    parser.add_argument("--mask-every", type=int, default=1, help="run Phi_mask every k-th step (speed knob)")
    parser.add_argument("--first-frame-steps", type=int, help="steps of a text-only video's frame 0")
    parser.add_argument("--lora", action="append", help="a LoRA adapter, PATH[:SCALE]; repeat to stack")
    parser.add_argument("--ceiling", action="store_true")
    parser.add_argument("--skip-grammar", action="store_true", help="render only --people (and --long)")
    parser.add_argument("--long", type=int, default=0, help="also render this many frames (drift)")
    parser.add_argument("--long-videos", type=int, default=4)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--report", type=Path, nargs="+", help="print the tables of saved reports")
    args = parser.parse_args()
    if args.merge:
        report = merge([json.loads(path.read_text()) for path in args.merge])
        if args.out:
            args.out.write_text(json.dumps(report, indent=1) + "\n")
        print(table(report))
        return
    if args.report:
        for path in args.report:
            print(table(json.loads(path.read_text())) + "\n")
        return
    if args.model is None or args.test is None:
        parser.error("--model and --test are needed (or --report)")
    report = run(args)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(table(report))


if __name__ == "__main__":
    main()
