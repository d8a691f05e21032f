"""What `artv show` shows: a video's frames (or a folder's first frames) read back, and a contact sheet.

Pillow draws the sheet; the terminal drawing is the command's (commands/show.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from artv_cli.engine.data.datasets import VIDEO_SUFFIXES
from artv_cli.errors import ArtvError


@dataclass
class Shown:
    """Frames (H, W, 3) uint8 to show, a label under each, the rate to play them at, and settings."""

    frames: list[np.ndarray]
    labels: list[str]
    fps: float
    title: str
    settings: dict = field(default_factory=dict)  # a sidecar's settings, shown beside the frames


def _frames_of(path: Path) -> tuple[list[np.ndarray], float]:
    if path.is_dir():  # a folder of PNG frames (`--out NAME` without an extension)
        files = sorted(path.glob("*.png"))
        return [np.asarray(Image.open(f).convert("RGB")) for f in files], 8.0
    from artv_cli.engine.data.video import read_video

    try:
        frames, meta = read_video(path)
    except (OSError, RuntimeError, StopIteration) as error:
        raise ArtvError(
            f"{path} is not a video that can be read ({error})", "give an .mp4, .gif or .webm"
        ) from None
    return frames, float(meta.get("fps") or 8.0)


def load(path: str | Path) -> Shown:
    """What a path holds: a video (or a folder of PNG frames), a sidecar JSON (its video and settings), or a
    batch folder (the first frame of each video, labelled with its prompt)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ArtvError(f"{path} does not exist", "give a video, its sidecar .json, or a batch folder")
    if path.suffix.lower() == ".json":
        try:
            record = json.loads(path.read_text())
            video = Path(record["video"])
        except (OSError, ValueError, KeyError, TypeError):
            raise ArtvError(
                f"{path} is not an artv sidecar (no video named)", "give the video itself"
            ) from None
        if not video.is_absolute() and not video.exists():
            video = path.parent / video.name
        shown = load(video)
        shown.settings = {
            "prompt": record.get("prompt"),
            "model": record.get("model"),
            **record.get("settings", {}),
        }
        return shown
    if path.is_dir() and not list(path.glob("*.png")):
        videos = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise ArtvError(
                f"{path} holds no videos or PNG frames", "give a video, a batch folder or a frames folder"
            )
        frames, labels = [], []
        for video in videos:
            first, _ = _frames_of(video)
            sidecar = video.with_suffix(".json")
            prompt = json.loads(sidecar.read_text()).get("prompt", "") if sidecar.is_file() else ""
            frames.append(first[0])
            labels.append(f"{video.stem[:5]} {prompt}".strip())
        return Shown(frames, labels, 1.0, f"{path}: {len(videos)} videos")
    frames, fps = _frames_of(path)
    if not frames:
        raise ArtvError(f"{path} holds no frames", "give a video with frames")
    return Shown(
        frames, [str(i) for i in range(len(frames))], fps, f"{path}: {len(frames)} frames at {fps:g} fps"
    )


def pick(shown: Shown, count: int) -> Shown:
    """`count` frames spread evenly over the whole (first and last included), with their labels."""
    total = len(shown.frames)
    if count >= total:
        return shown
    index = np.linspace(0, total - 1, count).round().astype(int)
    return Shown([shown.frames[i] for i in index], [shown.labels[i] for i in index], shown.fps, shown.title,
                 shown.settings)  # fmt: skip


def contact_sheet(shown: Shown, columns: int = 8, scale: int = 2, label_height: int = 14) -> Image.Image:
    """The frames side by side in rows of `columns`, each enlarged `scale` times (nearest), its label
    under it."""
    height, width = shown.frames[0].shape[:2]
    cell_w, cell_h = width * scale, height * scale + label_height
    columns = max(1, min(columns, len(shown.frames)))
    rows = -(-len(shown.frames) // columns)
    sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for n, (frame, label) in enumerate(zip(shown.frames, shown.labels, strict=True)):
        x, y = (n % columns) * cell_w, (n // columns) * cell_h
        tile = Image.fromarray(frame).resize((cell_w, height * scale), Image.NEAREST)
        sheet.paste(tile, (x, y))
        draw.text((x + 2, y + height * scale + 1), label[: max(4, cell_w // 6)], fill="black")
    return sheet
