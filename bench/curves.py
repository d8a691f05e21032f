"""Training curves of one or more `artv train` runs as a PNG (loss on a log scale against samples seen).

    python bench/curves.py RUN [RUN ...] --out docs/default-model-curves.png [--label NAME ...]

Reads each run's `metrics.jsonl` (written every --log-every steps); drawn with Pillow alone (no plotting
library is a dependency). The x axis is samples seen, so runs of different batch sizes line up.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]
W, H, LEFT, RIGHT, TOP, BOTTOM = 900, 420, 70, 20, 40, 50


def read(run: Path) -> list[tuple[float, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [(row["samples"], row["loss"]) for row in rows if row.get("loss", 0) > 0]


def draw(series: list[tuple[str, list[tuple[float, float]]]], title: str) -> Image.Image:
    image = Image.new("RGB", (W, H), "white")
    pen = ImageDraw.Draw(image)
    xs = [x for _, points in series for x, _ in points]
    ys = [math.log10(y) for _, points in series for _, y in points]
    x_max = max(xs)
    y_lo, y_hi = math.floor(min(ys)), math.ceil(max(ys))

    def at(x: float, y: float) -> tuple[float, float]:
        u = LEFT + (W - LEFT - RIGHT) * x / x_max
        v = TOP + (H - TOP - BOTTOM) * (y_hi - math.log10(y)) / (y_hi - y_lo)
        return u, v

    pen.rectangle([LEFT, TOP, W - RIGHT, H - BOTTOM], outline="black")
    for power in range(y_lo, y_hi + 1):
        _, v = at(0, 10**power)
        pen.line([LEFT, v, W - RIGHT, v], fill=(225, 225, 225))
        pen.text((8, v - 6), f"1e{power}", fill="black")
    for k in range(6):
        x = x_max * k / 5
        u, _ = at(x, 10**y_lo)
        pen.text((u - 15, H - BOTTOM + 8), f"{x / 1e3:.0f}k", fill="black")
    pen.text((W // 2 - 60, H - 22), "samples seen", fill="black")
    pen.text((LEFT, 12), title, fill="black")
    for number, (label, points) in enumerate(series):
        colour = COLOURS[number % len(COLOURS)]
        pen.line([at(x, y) for x, y in points], fill=colour, width=2)
        pen.text((W - RIGHT - 260, TOP + 10 + 16 * number), f"-- {label}", fill=colour)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--label", action="append", default=[])
    parser.add_argument("--title", default="training loss (log scale)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    labels = args.label + [str(run) for run in args.runs[len(args.label) :]]
    image = draw([(label, read(run)) for label, run in zip(labels, args.runs, strict=True)], args.title)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
