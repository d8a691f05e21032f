"""The default model's one results file, and the README table built from it.

Every number a user reads about the shipped default model (scores, long videos, time, size) is taken from
`docs/bench/default-model-results.json`, which this script writes from the measurements themselves:
`bench/world_eval.py`'s reports (the scored table and the 256-frame runs), the package's files (size), and
the timing record of the README command (`/usr/bin/time`, kept in the same file with its date and
machine). `tests/cli/test_repo.py` checks that the README's table is the one `readme_table` makes.

    python bench/results.py --write                # the results file, from the reports
    python bench/results.py --readme               # print the README's table
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "bench" / "default-model-results.json"
SCORES = ROOT / "docs" / "bench" / "default-model-colour-lock.json"
LONG = ROOT / "docs" / "bench" / "long-colour-lock.json"
MODEL = ROOT / "artv_cli" / "models" / "world64"
TIMES = {  # the README command, /usr/bin/time, run alternately on an idle machine (docs/default-model.md)
    "date": "2026-11-26",
    "machine": "2-core x86_64 CPU, torch 2.13.0",
    "readme_command_seconds": {"recommended": [31.6, 34.7], "fast": [16.4, 19.3]},
}
ROWS = ("animate (grammar)", "animate (people)", "generate (grammar)", "generate (people)")


def collect() -> dict:
    """The results file's contents, from the reports and the package."""
    scores = json.loads(SCORES.read_text())
    long = json.loads(LONG.read_text())
    size = sum(p.stat().st_size for p in MODEL.rglob("*") if p.is_file())
    return {
        "model": "default (artv_cli/models/world64)",
        "scores": {
            "date": scores["date"],
            "machine": scores["machine"],
            "sampler": scores["sampler"],
            "source": str(SCORES.relative_to(ROOT)),
            "rows": {name: scores["rows"][name]["summary"] for name in ROWS},
        },
        "long": {
            "date": long["date"],
            "machine": long["machine"],
            "source": str(LONG.relative_to(ROOT)),
            "rows": {name: row["summary"] for name, row in long["rows"].items()},
        },
        "times": TIMES,
        "size_mb": round(size / 1e6, 1),
    }


def _span(values: list[float], scale: float = 100.0) -> str:
    low, high = round(min(values) * scale), round(max(values) * scale)
    return f"{low} %" if low == high else f"{low}-{high} %"


def readme_table(results: dict) -> str:
    """The README's "can / cannot yet" table."""
    rows = results["scores"]["rows"].values()
    long = results["long"]["rows"].values()

    def column(key: str) -> list[float]:
        return [row[key] for row in rows]

    shift = max(row["max_background_shift"] for row in long)
    times = results["times"]["readme_command_seconds"]
    lines = [
        "| the default model, on held-out prompts | can | cannot yet |",
        "| --- | --- | --- |",
        f"| appearance | draws the asked colour ({_span(column('colour_accuracy'))}) on the asked background "
        f"({_span(column('background_accuracy'))}); the asked shape in {_span(column('shape_accuracy'))} | "
        "keep an off-palette picture's own colour: it snaps colours to its 8 palette colours |",
        f'| motion | moves the object; tells "slowly" from "quickly" in '
        f"{_span(column('speed_accuracy'))} | "
        f"follow the asked direction: {_span(column('direction_accuracy'))} (target 80-85 %) |",
        f"| long videos | holds the background over 256 frames (worst shift {shift:.1f} of 255) | keep the "
        f"object whole: found in {_span([row['identity_rate'] for row in long])} of in-view frames |",
        f"| speed | the first command above in {times['recommended'][0]:.0f}-{times['recommended'][1]:.0f} s "
        f"on 2 CPU cores, {times['fast'][0]:.0f}-{times['fast'][1]:.0f} s with `--fast` (loading included; "
        f"measured {results['times']['date']}) | |",
        f"| size | {results['size_mb']} MB inside the package | |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write docs/bench/default-model-results.json")
    parser.add_argument("--readme", action="store_true", help="print the README's table")
    args = parser.parse_args()
    if args.write:
        RESULTS.write_text(json.dumps(collect(), indent=1) + "\n")
    if args.readme:
        print(readme_table(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
