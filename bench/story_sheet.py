"""What `artv story --dry-run --sheet` costs against the render it previews: both from one loaded model,
alternated in one process (the engine's `plan_sheet` and `render_story`, as the command runs them).

    python bench/story_sheet.py                                   # storyboards/demo.yaml, 3 pairs
    python bench/story_sheet.py --pairs 3 --out docs/bench/story-sheet.json

Prints one JSON object: each run's seconds, the medians and their ratio (sheet / render).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from artv_cli.engine.hub.registry import load_model
from artv_cli.engine.sampling.story import plan_sheet, plan_story, render_story


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storyboard", type=Path, default=root / "storyboards" / "demo.yaml")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {"sheet": [], "render": []}
    with tempfile.TemporaryDirectory() as tmp:
        job = plan_story(args.storyboard, {}, out=Path(tmp) / "warm.mp4")
        model = load_model(job.ref, torch.device("cpu"), torch.float32)
        for pair in range(-1, args.pairs):  # pair -1 warms up (first calls), not counted
            started = time.perf_counter()
            plan_sheet(model, job.planned, job.size, job.speed)
            sheet = time.perf_counter() - started
            out = Path(tmp) / f"story-{pair + 1}.mp4"
            job = plan_story(args.storyboard, {}, out=out)
            started = time.perf_counter()
            render_story(model, job.board, job.planned, job.size, out, job.record, speed=job.speed)
            render = time.perf_counter() - started
            if pair >= 0:
                seconds["sheet"].append(round(sheet, 3))
                seconds["render"].append(round(render, 3))
    medians = {k: round(statistics.median(v), 3) for k, v in seconds.items()}
    frames = sum(p.frames for p in job.planned)
    result = {
        "storyboard": str(
            args.storyboard.relative_to(root) if args.storyboard.is_relative_to(root) else args.storyboard
        ),
        "segments": len(job.planned),
        "frames": frames,
        "sheet_frames": sum(min(3, p.frames) for p in job.planned),
        "seconds": seconds,
        "median_seconds": medians,
        "ratio_sheet_to_render": round(medians["sheet"] / medians["render"], 3),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
