"""The LoRA experiment's table (docs/lora.md) from `bench/world_eval.py` reports, and one JSON of them.

    python bench/lora_results.py --row "no adapter" rings=ceiling.json grammar=base.json \
        --row "LoRA rank 8" rings=eval-rings.json grammar=eval-grammar.json --out docs/bench/lora-rings.json

Each `--row NAME SET=REPORT...` names a model and, per test set (such as `rings` or `pinks`: the new
concept's held-out prompts; `grammar`: the world's own held-out prompts, the forgetting check), the report
it was scored in;
a report's `VAE round trip` (the ceiling: the test videos through the autoencoder), `animate (grammar)` and
`generate (grammar)` rows are read. `SET=REPORT:FIRST` keeps the first
FIRST videos of a row (a larger report of the same prompts and seeds).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = {
    "colour": "colour_accuracy",
    "shape": "shape_accuracy",
    "direction": "direction_accuracy",
    "speed": "speed_accuracy",
    "background": "background_accuracy",
    "in view, right": "identity_rate",
}


def rows_of(spec: str) -> dict:
    from artv_cli.engine.evaluation.worldscore import summarise

    path, _, first = spec.partition(":")
    report = json.loads(Path(path).read_text())
    found = {}
    for mode, key in (("VAE round trip", "VAE round trip"), ("animate", "animate (grammar)"),
                      ("generate", "generate (grammar)")):  # fmt: skip
        row = report["rows"].get(key)
        if row is None:
            continue
        videos = row["videos"][: int(first)] if first else row["videos"]
        found[mode] = {"videos": len(videos), "report": path, "date": report.get("date"),
                       "sampler": report.get("sampler"), **summarise(videos)}  # fmt: skip
    return found


def table(results: dict, test: str) -> str:
    lines = ["| model | mode | videos | " + " | ".join(COLUMNS) + " |", "|" + " --- |" * (len(COLUMNS) + 3)]
    for name, sets in results.items():
        for mode, row in sets.get(test, {}).items():
            cells = [
                f"{round(100 * row[key])} %" if row.get(key) is not None else "-" for key in COLUMNS.values()
            ]
            shown = mode if mode.startswith("VAE") else f"`{mode}`"
            lines.append(f"| {name} | {shown} | {row['videos']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--row", nargs="+", action="append", required=True, metavar="NAME SET=REPORT")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = {}
    for name, *specs in args.row:
        results[name] = {}
        for spec in specs:
            test, _, report = spec.partition("=")
            results[name].setdefault(test, {}).update(rows_of(report))
    for test in dict.fromkeys(test for sets in results.values() for test in sets):  # in the order given
        print(f"\n{test}:\n{table(results, test)}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
