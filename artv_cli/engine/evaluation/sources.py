"""Where `artv eval` reads videos from: files or frame folders, with the prompts the folder carries."""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artv_cli.errors import ArtvError

VIDEO_SUFFIXES = (".mp4", ".gif", ".webm", ".mov", ".mkv", ".avi", ".m4v")


FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass
class VideoSource:
    key: str
    path: Path  # a video file or a folder of frames
    prompt: str | None = None


# ----- inputs ---------------------------------------------------------------------------------------
def list_videos(folder: Path) -> list[VideoSource]:
    """Video files and frame folders under `folder`, in name order, with prompts where the folder has them."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ArtvError(
            f"{folder} is not a folder of videos", "give a folder holding .mp4/.gif files or frame folders"
        )
    sources = []
    for path in sorted(folder.rglob("*")):
        video = path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")
        if video or (path.is_dir() and _is_frame_folder(path)):
            sources.append(VideoSource(path.relative_to(folder).as_posix(), path))
    if not sources:
        raise ArtvError(f"{folder} holds no videos", "give a folder of .mp4/.gif files or of frame folders")
    # prompts the folder carries: artv's sidecar JSONs, or a WebVid table
    webvid = {}
    for table in folder.glob("results_*.csv"):
        with open(table, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if "videoid" in row and "name" in row:
                    webvid[row["videoid"]] = row["name"]
    for source in sources:
        sidecar = source.path.with_suffix(".json") if source.path.is_file() else None
        if sidecar is not None and sidecar.is_file():
            with contextlib.suppress(ValueError, AttributeError):
                source.prompt = json.loads(sidecar.read_text()).get("prompt")
        if source.prompt is None and webvid:
            source.prompt = webvid.get(source.path.stem)
    return sources


def _is_frame_folder(path: Path) -> bool:
    suffixes = {p.suffix.lower() for p in path.iterdir()}
    return bool(suffixes & set(FRAME_SUFFIXES)) and not suffixes & set(VIDEO_SUFFIXES)


def apply_prompts_file(sources: list[VideoSource], path: Path) -> None:
    """Prompts from .txt (one line per video, in name order), .csv (video,prompt) or .jsonl."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ArtvError(f"--prompts {path} does not exist", "give a .txt, .csv or .jsonl file of prompts")
    if path.suffix == ".txt":
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(lines) != len(sources):
            raise ArtvError(
                f"--prompts {path} has {len(lines)} lines for {len(sources)} videos",
                "write one prompt per video, in the videos' name order",
            )
        for source, line in zip(sources, lines, strict=True):
            source.prompt = line
        return
    table: dict[str, str] = {}
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                name = row.get("video") or row.get("file") or row.get("path") or row.get("videoid")
                text = row.get("prompt") or row.get("caption") or row.get("name")
                if name and text:
                    table[name] = text
    elif path.suffix == ".jsonl":
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                table[entry.get("video") or entry.get("file")] = entry.get("prompt") or entry.get("caption")
    else:
        raise ArtvError(f"--prompts {path}: unknown format", "use .txt, .csv (video,prompt) or .jsonl")
    for source in sources:
        source.prompt = table.get(source.key) or table.get(source.path.name) or table.get(source.path.stem)


def read_frames(source: VideoSource, limit: int | None = None) -> Iterator[np.ndarray]:
    """Frames (H, W, 3) uint8 of a video file or frame folder, streamed."""
    if source.path.is_dir():
        from PIL import Image

        files = sorted(p for p in source.path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
        for number, file in enumerate(files):
            if limit is not None and number >= limit:
                return
            yield np.asarray(Image.open(file).convert("RGB"))
        return
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(source.path))
    meta = next(reader)
    width, height = meta["size"]
    try:
        for number, buffer in enumerate(reader):
            if limit is not None and number >= limit:
                return
            yield np.frombuffer(buffer, dtype=np.uint8).reshape(height, width, 3)
    finally:
        reader.close()


def subset(sources: list[VideoSource], count: int | None, seed: int) -> list[VideoSource]:
    if count is None or len(sources) <= count:
        return sources
    chosen = np.random.default_rng(seed).choice(len(sources), size=count, replace=False)
    return [sources[i] for i in sorted(chosen)]
