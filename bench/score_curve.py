"""Scores of a long run's checkpoints against samples seen, as a PNG (and the JSON it is drawn from).

    python bench/score_curve.py docs/bench/third-gen-encoder.json --add 718 --samples 206848 \
        --scores score/base/bp718.json --tone 70.3 15.0          # record one checkpoint
    python bench/score_curve.py docs/bench/third-gen-encoder.json --out docs/research/third-gen-base-curve.png
    python bench/score_curve.py RUN.json --versus OTHER.json --out both.png   # two runs, grammar wording

The JSON's `curve` list holds one entry per checkpoint (its step, samples seen, and the frame-0 scores of
`bench/world_eval.py --frames 1 --modes generate` for the grammar's and people's wording); `reference`
holds the shipped model's scores, drawn as dotted lines. Drawn with Pillow alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw

COLUMNS = {"colour": (214, 39, 40), "shape": (31, 119, 180), "background": (44, 160, 44)}
W, H, LEFT, RIGHT, TOP, BOTTOM = 900, 420, 60, 20, 40, 50


def add(data: dict, step: int, samples: int, scores: Path, tone: list[float] | None) -> None:
    """Record one checkpoint from a world_eval JSON (its `generate frame 0` rows)."""
    rows = json.loads(scores.read_text())["rows"]
    entry: dict = {"step": step, "samples": samples}
    for wording in ("grammar", "people"):
        summary = rows[f"generate frame 0 ({wording})"]["summary"]
        entry[wording] = {column: summary[f"{column}_accuracy"] for column in COLUMNS}
    if tone:
        entry["tone"] = tone
    curve = [old for old in data.setdefault("curve", []) if old["step"] != step]
    data["curve"] = sorted([*curve, entry], key=lambda old: old["samples"])


WORDINGS = (("grammar", 3), ("people", 1))  # and the line width of each
ARTV_COLUMNS = {
    "direction (world scorer)": ((214, 39, 40), "direction"),
    "probe: mean cosine": ((148, 103, 189), "probe_cosine"),
    "'slowly' objects move": ((255, 127, 14), "slow_moving"),
    "shape": ((31, 119, 180), "shape"),
    "look kept (picture protocol)": ((44, 160, 44), "look_kept"),
}


def series(
    data: dict, versus: dict | None = None
) -> list[tuple[str, tuple, list[tuple[int, list]], float | None]]:
    """What a curve draws: (label, colour, [(line width, [(samples, value) per checkpoint])], the shipped
    value). With `versus` (another run's JSON), each column's grammar line of both runs: this one thick."""
    curve, reference = data["curve"], data.get("reference", {})

    def points(run: list, value) -> list:
        return [(entry["samples"], value(entry)) for entry in run]

    if data.get("kind") == "artv":
        return [
            (label, colour, [(3, points(curve, lambda e, k=key: e.get(k)))], reference.get(key))
            for label, (colour, key) in ARTV_COLUMNS.items()
        ]
    if versus is not None:
        runs = ((3, curve), (1, versus["curve"]))
        return [
            (column, colour, [(w, points(run, lambda e, c=column: e["grammar"][c])) for w, run in runs],
             reference.get("grammar", {}).get(column))
            for column, colour in COLUMNS.items()
        ]  # fmt: skip
    return [
        (column, colour,
         [(w, points(curve, lambda e, c=column, g=wording: e[g][c])) for wording, w in WORDINGS],
         reference.get("grammar", {}).get(column))
        for column, colour in COLUMNS.items()
    ]  # fmt: skip


def add_artv(data: dict, step: int, samples: int, scores: list[Path]) -> None:
    """Record one checkpoint of an ART-V stage from its score files: direction_gap.py, direction_probe.py,
    world_eval.py (`animate (grammar)`, and `generate (grammar)` where it has it) and, if given,
    picture_eval.py JSONs (told apart by their keys)."""
    entry: dict = {"step": step, "samples": samples}
    for path in scores:
        report = json.loads(path.read_text())
        if "picked_right" in report:
            entry |= {"gap_picked_right": report["picked_right"], "gap_mean": report["mean_gap"]}
        elif "mean_cosine" in report:
            entry["probe_cosine"] = report["mean_cosine"]
        elif "animate (grammar)" in report.get("rows", {}):
            summary = report["rows"]["animate (grammar)"]["summary"]
            entry |= {
                "direction": summary["direction_accuracy"],
                "shape": summary["shape_accuracy"],
                "speed": summary["speed_accuracy"],
                "slow_moving": summary["slow_moving_rate"],
                "in_view_right": summary["identity_rate"],
                "background_shift_max": summary["max_background_shift"],
            }
            if "generate (grammar)" in report["rows"]:
                summary = report["rows"]["generate (grammar)"]["summary"]
                entry |= {f"generate_{k}": summary[f"{k}_accuracy"] for k in ("colour", "shape", "direction")}
        elif "animate, grammar caption" in report.get("rows", {}):
            summary = report["rows"]["animate, grammar caption"]["summary"]
            entry |= {"frame0_error": summary["frame0_error_mean"], "look_kept": summary["look_kept_mean"]}
            motion_only = report["rows"].get("animate, motion-only prompt, centred")
            if motion_only:
                entry["look_kept_motion_only"] = motion_only["summary"]["look_kept_mean"]
        else:
            raise SystemExit(f"{path}: not a score file this script knows")
    curve = [old for old in data.setdefault("curve", []) if old["step"] != step]
    data["curve"] = sorted([*curve, entry], key=lambda old: old["samples"])


def draw(data: dict, title: str, versus: dict | None = None) -> Image.Image:
    image = Image.new("RGB", (W, H), "white")
    pen = ImageDraw.Draw(image)
    curve = data["curve"] + (versus["curve"] if versus else [])
    x_max = max(1, *(entry["samples"] for entry in curve)) * 1.05

    def at(x: float, y: float) -> tuple[float, float]:
        return LEFT + (W - LEFT - RIGHT) * x / x_max, TOP + (H - TOP - BOTTOM) * (1 - y)

    pen.rectangle([LEFT, TOP, W - RIGHT, H - BOTTOM], outline="black")
    for tenth in range(0, 11, 2):
        _, v = at(0, tenth / 10)
        pen.line([LEFT, v, W - RIGHT, v], fill=(225, 225, 225))
        pen.text((18, v - 6), f"{tenth * 10} %", fill="black")
    for k in range(6):
        u, _ = at(x_max * k / 5, 0)
        pen.text((u - 15, H - BOTTOM + 8), f"{x_max * k / 5 / 1e3:.0f}k", fill="black")
    pen.text((W // 2 - 80, H - 22), data.get("x_label", "samples seen after the pilot base"), fill="black")
    pen.text((LEFT, 12), title, fill="black")
    for number, (label, colour, lines, shipped) in enumerate(series(data, versus)):
        for width, pairs in lines:
            points = [at(samples, value) for samples, value in pairs if value is not None]
            if len(points) > 1:
                pen.line(points, fill=colour, width=width)
            for u, v in points:
                pen.ellipse([u - 3, v - 3, u + 3, v + 3], fill=colour)
        if shipped is not None:
            _, v = at(0, shipped)
            for u in range(LEFT, W - RIGHT, 12):
                pen.line([u, v, u + 5, v], fill=colour, width=1)
        pen.text((W - RIGHT - 330, H - BOTTOM - 92 + 16 * number), f"-- {label}", fill=colour)
    legend = data.get("legend", "thick: grammar, thin: people")
    if versus:
        legend = f"grammar wording; thick: this run, thin: {versus.get('label', 'the other run')}"
    pen.text((LEFT, 25), f"{legend}; dotted: the shipped model", fill="black")
    return image


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("json", type=Path)
    parser.add_argument("--add", type=int, metavar="STEP", help="record the checkpoint of this step")
    parser.add_argument("--samples", type=int, help="samples seen at that step")
    parser.add_argument(
        "--scores", type=Path, nargs="+", help="its score JSONs (one, world_eval's, for a base)"
    )
    parser.add_argument("--tone", type=float, nargs=2, help="tone_probe.py: spread, error")
    parser.add_argument("--title", default="frame 0 of generate: scores over training (64 prompts each)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--versus", type=Path, help="another run's JSON, drawn thin beside this one")
    args = parser.parse_args()
    data = json.loads(args.json.read_text())
    if args.add is not None:
        if args.samples is None or args.scores is None:
            parser.error("--add needs --samples and --scores")
        if data.get("kind") == "artv":
            add_artv(data, args.add, args.samples, args.scores)
        else:
            add(data, args.add, args.samples, args.scores[0], args.tone)
        args.json.write_text(json.dumps(data, indent=1) + "\n")
        print(f"recorded step {args.add} in {args.json}")
    if args.out:
        versus = json.loads(args.versus.read_text()) if args.versus else None
        draw(data, data.get("title", args.title), versus).save(args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
