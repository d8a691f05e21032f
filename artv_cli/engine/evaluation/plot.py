"""A PNG of the per-frame drift curves, drawn with Pillow (no plotting library is a dependency)."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

from artv_cli.engine.evaluation.drift import PSNR_CAP

PANELS = (
    ("hist_distance", "colour histogram distance to frame 0"),
    ("colour_shift", "mean colour shift from frame 0"),
    ("ssim_first", "SSIM to frame 0"),
    ("psnr_first", "PSNR to frame 0 (dB)"),
    ("ssim_prev", "SSIM to the previous frame"),
    ("sharpness", "sharpness / frame 0"),
)


def drift_plot(curves: dict[str, list[float]], path: Path, title: str = "") -> Path:
    """Six panels, one per curve: the mean over the videos against the frame number."""
    width, height, cols = 360, 200, 3
    rows = math.ceil(len(PANELS) / cols)
    image = Image.new("RGB", (width * cols, height * rows + 24), "white")
    draw = ImageDraw.Draw(image)
    draw.text((8, 6), title or "artv eval: drift per frame (mean over videos)", fill="black")
    for number, (name, label) in enumerate(PANELS):
        left, top = (number % cols) * width, (number // cols) * height + 24
        box = (left + 44, top + 22, left + width - 12, top + height - 24)
        draw.rectangle(box, outline="#888888")
        draw.text((left + 44, top + 6), label, fill="black")
        # identical frames have PSNR "infinity" (capped): left out so the rest of the curve stays readable
        series = [None if v is None or math.isnan(v) or v >= PSNR_CAP else v for v in curves.get(name, [])]
        values = [v for v in series if v is not None]
        if not values:
            draw.text((box[0] + 8, box[1] + 8), "no data", fill="#888888")
            continue
        low, high = min(values), max(values)
        if high - low < 1e-9:
            low, high = low - 0.5, high + 0.5
        draw.text((left + 2, box[1] - 4), f"{high:.3g}", fill="#444444")
        draw.text((left + 2, box[3] - 10), f"{low:.3g}", fill="#444444")
        frames = max(1, len(series) - 1)
        draw.text((box[2] - 60, box[3] + 6), f"frame {len(series) - 1}", fill="#444444")
        points = [
            (box[0] + (box[2] - box[0]) * t / frames, box[3] - (box[3] - box[1]) * (v - low) / (high - low))
            for t, v in enumerate(series)
            if v is not None
        ]
        if len(points) > 1:
            draw.line(points, fill="#1f5fbf", width=2)
        for x, y in points:
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill="#1f5fbf")
    path = Path(path)
    image.save(path)
    return path
