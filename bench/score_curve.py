"""Scores of a long run's checkpoints against samples seen, as a PNG (and the JSON it is drawn from).

    python bench/score_curve.py docs/bench/third-gen-encoder.json --add 718 --samples 206848 \
        --scores score/base/bp718.json --tone 70.3 15.0          # record one checkpoint
    python bench/score_curve.py docs/bench/third-gen-encoder.json --out docs/research/third-gen-base-curve.png

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


def draw(data: dict, title: str) -> Image.Image:
    image = Image.new("RGB", (W, H), "white")
    pen = ImageDraw.Draw(image)
    curve = data["curve"]
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
    pen.text((W // 2 - 80, H - 22), "samples seen after the pilot base", fill="black")
    pen.text((LEFT, 12), title, fill="black")
    for number, (column, colour) in enumerate(COLUMNS.items()):
        for wording, width in (("grammar", 3), ("people", 1)):
            points = [at(entry["samples"], entry[wording][column]) for entry in curve]
            pen.line(points, fill=colour, width=width)
            for u, v in points:
                pen.ellipse([u - 3, v - 3, u + 3, v + 3], fill=colour)
        shipped = data.get("reference", {}).get("grammar", {}).get(column)
        if shipped is not None:
            _, v = at(0, shipped)
            for u in range(LEFT, W - RIGHT, 12):
                pen.line([u, v, u + 5, v], fill=colour, width=1)
        pen.text((W - RIGHT - 330, H - BOTTOM - 60 + 16 * number), f"-- {column}", fill=colour)
    pen.text((W - RIGHT - 240, H - BOTTOM - 60), "thick: grammar, thin: people", fill="black")
    pen.text((W - RIGHT - 240, H - BOTTOM - 44), "dotted: shipped model (grammar)", fill="black")
    return image


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("json", type=Path)
    parser.add_argument("--add", type=int, metavar="STEP", help="record the checkpoint of this step")
    parser.add_argument("--samples", type=int, help="samples seen at that step")
    parser.add_argument("--scores", type=Path, help="its bench/world_eval.py JSON")
    parser.add_argument("--tone", type=float, nargs=2, help="tone_probe.py: spread, error")
    parser.add_argument("--title", default="frame 0 of generate: scores over training (64 prompts each)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    data = json.loads(args.json.read_text())
    if args.add is not None:
        if args.samples is None or args.scores is None:
            parser.error("--add needs --samples and --scores")
        add(data, args.add, args.samples, args.scores, args.tone)
        args.json.write_text(json.dumps(data, indent=1) + "\n")
        print(f"recorded step {args.add} in {args.json}")
    if args.out:
        draw(data, args.title).save(args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
