"""The README's first command with two model folders, side by side: seconds of frames and of the whole
command, runs alternating, medians and the ratio (issue 26's cost target: the new default's recommended
settings against the old one's).

    python bench/readme_cost.py --new artv_cli/models/world64 --old OLD_FOLDER --runs 3 --out cost.json

Each run is `artv animate examples/red-ball.png PROMPT --seed 0 --model FOLDER [FLAGS]` in a fresh process;
"seconds of frames" is the sidecar's `timing.render_seconds`, "whole" the process's wall time (loading
included).
Nothing else should run beside it.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "a red circle moves right quickly, on a plain grey background"


def run_once(model: str, flags: list[str], out: Path) -> dict:
    args = [sys.executable, "-m", "artv_cli", "animate", str(ROOT / "examples" / "red-ball.png"), PROMPT,
            "--seed", "0", "--model", model, "--out", str(out), "--force", *flags]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    whole = time.perf_counter() - started
    sidecar = json.loads(out.with_suffix(".json").read_text())
    return {"frames_s": round(sidecar["timing"]["render_seconds"], 2), "whole_s": round(whole, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", required=True)
    parser.add_argument("--old", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--flags", default="", help="extra flags for both, such as --fast")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    flags = args.flags.split()
    runs = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(args.runs):
            for name in ("old", "new"):
                runs[name].append(run_once(getattr(args, name), flags, Path(tmp) / f"{name}.mp4"))
                print(f"run {number + 1} {name}: {runs[name][-1]}", flush=True)
    median = {
        n: {k: statistics.median(r[k] for r in rs) for k in ("frames_s", "whole_s")} for n, rs in runs.items()
    }
    ratio = {k: round(median["new"][k] / median["old"][k], 3) for k in ("frames_s", "whole_s")}
    report = {
        "command": f"artv animate examples/red-ball.png {PROMPT!r} --seed 0 --model FOLDER {args.flags}",
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, torch threads default",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "models": {"old": args.old, "new": args.new},
        "runs": runs,
        "median": median,
        "new_over_old": ratio,
    }
    print(f"medians: old {median['old']}, new {median['new']}; new/old {ratio}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
