"""What `--preview` costs: the same render with and without it, alternated in one process, the progress bar
drawn to a terminal (stderr forced to be one, written to /dev/null, so every picture is drawn and encoded).

    python bench/preview_cost.py                     # the README's animate, 16 frames, 4 pairs
    python bench/preview_cost.py --pairs 6 --out docs/bench/preview-cost.json

Prints one JSON object: the seconds of each run, the medians and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from artv_cli import console
from artv_cli.commands.render_common import run_render
from artv_cli.engine.sampling.request import RenderRequest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    console.err.file = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    console.err._force_terminal = True  # rich then draws the bar and the pictures as on a terminal
    seconds = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(-1, args.pairs):  # pair -1 warms up (first imports and loads), not counted
            for preview in (False, True) if pair % 2 == 0 else (True, False):  # alternated: drift cancels
                request = RenderRequest(
                    "a red circle moves right quickly, on a plain grey background",
                    image=root / "examples" / "red-ball.png",
                    model=args.model,
                    frames=args.frames,
                    seed=0,
                    out=Path(tmp) / f"v{pair}{int(preview)}.mp4",
                    preview=preview,
                )
                started = time.perf_counter()
                run_render(request, json_out=False)
                if pair >= 0:
                    seconds[preview].append(round(time.perf_counter() - started, 3))
    off, on = statistics.median(seconds[False]), statistics.median(seconds[True])
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "frames": args.frames,
        "seconds_without": seconds[False],
        "seconds_with": seconds[True],
        "median_without": off,
        "median_with": on,
        "ratio": round(on / off, 4),
    }
    print(json.dumps(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
