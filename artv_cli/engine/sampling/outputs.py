"""Where a render writes: the output's name, the checks on its path (new unless forced, writable), and
the disk space a long video needs, all before any work starts."""

from __future__ import annotations

import re
from pathlib import Path

from artv_cli.errors import ArtvError

FORMATS = {
    ".mp4": "H.264 MP4",
    ".gif": "looping GIF (its palette made from the clip)",
    ".webm": "VP9 WebM",
    "": "a folder of numbered PNG frames (a name without an extension)",
}
"""What `--out` may end with, and what is written for it (engine/data/video.py `VideoWriter`)."""


def default_out(prompt: str, seed: int) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40] or "video"
    path = Path(f"{slug}-{seed}.mp4")
    n = 1
    while path.exists():
        path = Path(f"{slug}-{seed}-{n}.mp4")
        n += 1
    return path


def check_out(out: Path, force: bool = False) -> None:
    """The output's format comes from its extension (FORMATS); it goes in a folder that exists or can be
    made, and is new unless `force`; nothing is created here."""
    if out.suffix.lower() not in FORMATS:
        raise ArtvError(
            f"--out {out}: {out.suffix} is not a format artv writes",
            "end the name with .mp4 (H.264), .gif or .webm (VP9), or give no extension for a folder of "
            f"PNG frames, such as {out.with_suffix('.mp4')}",
        )
    if out.suffix and out.is_dir():
        raise ArtvError(f"--out {out} is a folder", f"give a file name, such as {out / 'video.mp4'}")
    sidecar = out.with_suffix(".json")
    if sidecar.exists() and not out.exists() and not force:  # another format's render with the same name
        raise ArtvError(
            f"{sidecar} exists (the settings of another render named {out.stem}); nothing was changed",
            "add --force to replace it, or give another --out",
        )
    if out.exists() and not force:
        raise ArtvError(
            f"{out} exists; nothing was changed", "add --force to replace it, or give another --out"
        )
    existing = out.parent.absolute()
    while not existing.exists():
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        probe = existing / f".{out.name}.probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ArtvError(
            f"cannot write to {out.parent} ({error.strerror or error})",
            "choose another --out in a writable folder",
        ) from None


def check_disk(out: Path, frames: int, width: int, height: int, frames_dir: Path | None) -> None:
    """Refuse before any work a video whose estimated size exceeds the free disk space. A render's memory
    does not grow with its length (two reference latents and the anchor are kept), so the disk, not the
    device's memory, is what a very long video runs out of. The estimate is an upper bound: H.264 at
    artv's qualities stays under an eighth of the raw frame on the measured videos; PNG frames under the
    raw size."""
    import shutil

    per_frame = width * height * 3 // 8 + (width * height * 3 if frames_dir is not None else 0)
    needed = frames * per_frame
    folder = out.parent.absolute()
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if needed > free:
        fits = max(1, free // max(1, per_frame))
        raise ArtvError(
            f"--frames {frames:,} at {width}x{height} needs up to {_size(needed)} on disk; {folder} has "
            f"{_size(free)} free",
            f"ask for at most about {fits:,} frame{'s' if fits != 1 else ''}, or write to a disk with more "
            "space (--out)",
        )


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if count < 1024 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} B"
