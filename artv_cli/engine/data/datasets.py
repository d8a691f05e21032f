"""Training data: find captioned videos (WebVid layout or a plain folder), decode them, draw samples.

A training sample follows METHOD.md: a target frame i, its two predecessors z^{i-1}, z^{i-2} (z^{-1} is
a copy of z^0 at i = 1), and an anchor drawn from the 10 frames before the target. Videos that cannot
be used (no caption, missing, corrupt, too short) are skipped and counted; they never stop a run.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch

from artv_cli.errors import ArtvError

# imageio-ffmpeg warns whenever the frames are read at another size than stored, which is what we ask.
logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif", ".m4v")
MIN_FRAMES = 2  # a target and one frame before it (z^{-1} is then a copy of z^0)
SYNTH_HINT = "make one with `artv data synth DIR --videos 100`, or see docs/training.md for layouts"


@dataclass
class VideoItem:
    path: Path
    caption: str
    key: str  # the video's id in its dataset (WebVid videoid, or the path relative to the root)


@dataclass
class Catalogue:
    """The usable videos of a dataset folder, and what was skipped and why."""

    root: Path
    layout: str  # "webvid" or "folder"
    items: list[VideoItem]
    skipped: Counter = field(default_factory=Counter)  # reason -> count

    def describe(self) -> str:
        text = f"{len(self.items)} videos ({self.layout} layout)"
        if self.skipped:
            text += ", skipped " + ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return text


def scan(root: str | Path) -> Catalogue:
    """Find a folder's captioned videos: WebVid layout if it has results_*.csv, else a plain folder."""
    root = Path(root).expanduser()
    if not root.exists():
        raise ArtvError(f"data folder {root} does not exist", SYNTH_HINT)
    if not root.is_dir():
        raise ArtvError(f"--data {root} is a file, not a folder", SYNTH_HINT)
    tables = sorted(root.glob("results_*.csv"))
    catalogue = _scan_webvid(root, tables) if tables else _scan_folder(root)
    if not catalogue.items:
        why = f" (skipped {dict(catalogue.skipped)})" if catalogue.skipped else ""
        raise ArtvError(f"{root} holds no usable captioned videos{why}", SYNTH_HINT)
    return catalogue


def _scan_webvid(root: Path, tables: list[Path]) -> Catalogue:
    catalogue = Catalogue(root, "webvid", [])
    for table in tables:
        with open(table, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"videoid", "name", "page_dir"} - set(reader.fieldnames or [])
            if missing:
                raise ArtvError(
                    f"{table} lacks the WebVid column(s) {', '.join(sorted(missing))}",
                    "WebVid tables have the header videoid,name,page_dir,duration",
                )
            for row in reader:
                path = root / "videos" / row["page_dir"] / f"{row['videoid']}.mp4"
                caption = (row["name"] or "").strip()
                if not caption:
                    catalogue.skipped["without caption"] += 1
                elif not path.is_file():
                    catalogue.skipped["missing"] += 1
                else:
                    catalogue.items.append(VideoItem(path, caption, row["videoid"]))
    return catalogue


def _scan_folder(root: Path) -> Catalogue:
    catalogue = Catalogue(root, "folder", [])
    captions: dict[str, str] = {}
    if (root / "captions.csv").is_file():
        with open(root / "captions.csv", newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            file_col = next((c for c in ("file", "path", "video") if c in (reader.fieldnames or [])), None)
            text_col = next((c for c in ("caption", "text", "name") if c in (reader.fieldnames or [])), None)
            if file_col is None or text_col is None:
                raise ArtvError(
                    f"{root / 'captions.csv'} needs a file column and a caption column",
                    "use the header file,caption",
                )
            captions.update({row[file_col]: row[text_col] for row in reader})
    if (root / "captions.jsonl").is_file():
        for number, line in enumerate((root / "captions.jsonl").read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                captions[entry.get("file") or entry.get("path") or entry["video"]] = (
                    entry.get("caption") or entry["text"]
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ArtvError(
                    f"{root / 'captions.jsonl'} line {number} is not a caption entry",
                    'write one JSON object per line: {"file": "a.mp4", "caption": "..."}',
                ) from None
    videos = sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    if not videos and not captions:
        raise ArtvError(
            f"{root} holds no videos in a known layout",
            "give a WebVid folder (results_*.csv + videos/) or a folder of videos with captions; "
            + SYNTH_HINT.split(", or ")[0],
        )
    for path in videos:
        key = path.relative_to(root).as_posix()
        caption = captions.get(key) or captions.get(path.name)
        if caption is None and path.with_suffix(".txt").is_file():
            caption = path.with_suffix(".txt").read_text(encoding="utf-8")
        caption = (caption or "").strip()
        if caption:
            catalogue.items.append(VideoItem(path, caption, key))
        else:
            catalogue.skipped["without caption"] += 1
    known = {p.relative_to(root).as_posix() for p in videos} | {p.name for p in videos}
    missing = sum(1 for key in captions if key not in known)
    if missing:
        catalogue.skipped["missing"] += missing
    return catalogue


@dataclass(frozen=True)
class FrameSpec:
    """How frames are taken from a video: size, and either a stride or a target fps."""

    width: int = 64
    height: int = 64
    stride: int = 1
    fps: float | None = None
    max_frames: int | None = None  # stop decoding after this many (after the stride)


class VideoError(Exception):
    """A video that cannot be used: corrupt, or too short."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def decode(path: Path, spec: FrameSpec) -> np.ndarray:
    """Frames (T, H, W, 3) uint8: resampled to the fps, resized to cover the size, centre-cropped, strided.

    ffmpeg (through imageio-ffmpeg) does the fps, scale and crop in one filter chain while decoding.
    """
    filters = [f"fps={spec.fps:g}"] if spec.fps else []
    filters += [
        f"scale={spec.width}:{spec.height}:force_original_aspect_ratio=increase:flags=area",
        f"crop={spec.width}:{spec.height}",
    ]
    frames = []
    try:
        reader = imageio_ffmpeg.read_frames(str(path), output_params=["-vf", ",".join(filters)])
        next(reader)  # metadata
        for number, buffer in enumerate(reader):
            if number % spec.stride == 0:
                frames.append(np.frombuffer(buffer, dtype=np.uint8).reshape(spec.height, spec.width, 3))
                if spec.max_frames and len(frames) >= spec.max_frames:
                    reader.close()
                    break
    except (OSError, RuntimeError, StopIteration, ValueError):
        raise VideoError("corrupt") from None
    if len(frames) < MIN_FRAMES:
        raise VideoError("too short" if frames else "corrupt")
    return np.stack(frames)


def sample_indices(frames: int, u_target: float, u_anchor: float, window: int) -> tuple[int, int, int, int]:
    """(target, prev, prev2, anchor) frame numbers from two uniform draws (METHOD.md, Sec. 3.4).

    The target is one of frames 1..T-1; prev2 is a copy of frame 0 at target 1; the anchor is one of the
    `window` frames before the target.
    """
    target = 1 + min(frames - 2, int(u_target * (frames - 1)))
    back = 1 + min(min(window, target) - 1, int(u_anchor * min(window, target)))
    return target, target - 1, max(0, target - 2), target - back


def to_pixels(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) to float (T, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1


class ClipDataset(torch.utils.data.Dataset):
    """Samples decoded from the videos on the fly: pixels of (target, prev, prev2, anchor).

    Indexed by (video, u_target, u_anchor) drawn by the trainer's sampler. A video that fails to decode is
    replaced by the next one, and the failure is reported in the sample (`skipped`) to be counted.
    """

    def __init__(self, catalogue: Catalogue, spec: FrameSpec, window: int = 10):
        self.items = catalogue.items
        self.spec = spec
        self.window = window

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, float, float]) -> dict:
        index, u_target, u_anchor = key
        skipped = []
        for attempt in range(len(self.items)):
            item = self.items[(index + attempt) % len(self.items)]
            try:
                frames = decode(item.path, self.spec)
            except VideoError as error:
                skipped.append((item.key, error.reason))
                continue
            chosen = sample_indices(len(frames), u_target, u_anchor, self.window)
            return {"pixels": to_pixels(frames[list(chosen)]), "caption": item.caption, "skipped": skipped}
        raise ArtvError(
            f"none of the {len(self.items)} videos could be decoded ({skipped[0][1]}, ...)",
            "check the files with ffmpeg, or " + SYNTH_HINT.split(", or ")[0],
        )


def collate(samples: list[dict]) -> dict:
    """Stack a batch: tensors on a new first axis, captions and skips as lists."""
    batch = {
        "caption": [s["caption"] for s in samples],
        "skipped": [k for s in samples for k in s["skipped"]],
    }
    for name in ("pixels", "latents"):
        if name in samples[0]:
            batch[name] = torch.stack([s[name] for s in samples])
    return batch
