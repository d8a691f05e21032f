"""Video output: MP4 (H.264, yuv420p) through imageio-ffmpeg, PNG frames, and the sidecar JSON.

Everything is written under a temporary name and renamed at the end, so an interrupted run never
leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import threading
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

from artv_cli.errors import ArtvError

FRAME_NAME = re.compile(r"\d{6}\.png")


def check_frames_dir(path: Path) -> None:
    """A frames folder may be new, empty, or hold only frames of an earlier run (which are replaced)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ArtvError(f"--frames-dir {path} is a file", "give a folder path")
    if path.is_dir():
        others = [p.name for p in path.iterdir() if not FRAME_NAME.fullmatch(p.name)]
        if others:
            raise ArtvError(
                f"--frames-dir {path} holds other files ({', '.join(sorted(others)[:3])})",
                "give a new or empty folder; artv only replaces frames it wrote itself",
            )


HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held():
    """Ctrl-C and SIGTERM held back while ffmpeg is started, handed a frame or closed, then handed to their
    own handlers on leaving. Raised inside imageio-ffmpeg's generator, an interruption would leave ffmpeg
    running unattended (while it starts) or killed without waiting (while it reads or finishes): ffmpeg
    could then write the partial file after the writer had removed it. Held, it lands after: the writer
    closes ffmpeg, waits for it, then cleans up. (Python runs signal handlers in the main thread only, so
    holding them there holds them for the process; a signal mask would not, with other threads running.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = {n: signal.getsignal(n) for n in HELD_SIGNALS}
    held = {n: h for n, h in held.items() if h is not None}  # a handler set outside Python stays
    for number in held:
        signal.signal(number, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for number, handler in held.items():
            signal.signal(number, handler)
        if caught:
            number, handler = caught[0], held[caught[0]]
            if callable(handler):
                handler(number, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(number)


class VideoWriter:
    """Stream frames (H, W, 3) uint8 into a video and, optionally, a folder of PNG frames.

    The format follows the path's extension: `.mp4` H.264 (yuv420p, CRF from `quality`), `.webm` VP9
    (CRF from `quality`), `.gif` looping, with a palette made from the whole clip (`quality` sets its
    colours and dithering), or no extension: a folder of numbered PNG frames. All through the ffmpeg of
    imageio-ffmpeg and Pillow.

    Use as a context manager: on a clean exit the files are renamed into place; on an exception (or
    Ctrl-C) the temporary files are removed and nothing that looks finished is left behind.
    """

    def __init__(
        self,
        path: Path,
        fps: float,
        quality: float = 8,
        frames_dir: Path | None = None,
        encoder_params: list[str] | None = None,
    ):
        self.path = Path(path)
        self.fps = fps
        self.quality = quality
        self.frames_dir = Path(frames_dir) if frames_dir else None
        self.encoder_params = list(encoder_params or [])  # extra ffmpeg output options (such as -bf 0)
        self.kind = self.path.suffix.lower() or "png"
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self.partial_dir = (
            self.frames_dir.with_name(f".{self.frames_dir.name}.partial") if self.frames_dir else None
        )
        self.count = 0
        self._writer = None

    def __enter__(self) -> VideoWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "png":  # the frames are the output: written into the partial folder
            shutil.rmtree(self.partial, ignore_errors=True)
            self.partial.mkdir()
        if self.frames_dir is not None:
            check_frames_dir(self.frames_dir)
        if self.partial_dir is not None:
            shutil.rmtree(self.partial_dir, ignore_errors=True)
            self.partial_dir.mkdir(parents=True)
        return self

    def _open(self, width: int, height: int):
        """The ffmpeg writer of this format (`quality` 1-10, higher is better, means each format's own)."""
        if self.kind == ".webm":  # VP9 constant quality: CRF 58 (quality 1) to 10 (quality 10)
            crf = round(63 - 5.3 * self.quality)
            options = dict(codec="libvpx-vp9", pix_fmt_out="yuv420p", quality=None, macro_block_size=2)
            params = ["-crf", str(crf), "-b:v", "0", "-row-mt", "1", "-f", "webm"]
        elif self.kind == ".gif":  # one palette for the clip: 32 colours at quality 1, 256 from quality 8
            colours = int(min(256, 32 * 2 ** ((self.quality - 1) / 2.33)))
            dither = "sierra2_4a" if self.quality >= 5 else "bayer"
            graph = (
                f"split[a][b];[a]palettegen=max_colors={colours}:stats_mode=full[p];"
                f"[b][p]paletteuse=dither={dither}"
            )
            options = dict(codec="gif", pix_fmt_out="pal8", quality=None, macro_block_size=1)
            params = ["-filter_complex", graph, "-loop", "0", "-f", "gif"]
        else:
            options = dict(codec="libx264", pix_fmt_out="yuv420p", quality=self.quality, macro_block_size=2)
            params = ["-f", "mp4", "-movflags", "+faststart"]
        return imageio_ffmpeg.write_frames(
            str(self.partial), (width, height), fps=self.fps, output_params=[*self.encoder_params, *params],
            **options,
        )  # fmt: skip

    def append(self, frame: np.ndarray) -> None:
        if self.kind == "png":
            Image.fromarray(frame).save(self.partial / f"{self.count:06d}.png")
        else:
            with signals_held():
                if self._writer is None:
                    height, width = frame.shape[:2]
                    self._writer = self._open(width, height)
                    self._send(None)
                self._send(np.ascontiguousarray(frame))
        if self.partial_dir is not None:
            Image.fromarray(frame).save(self.partial_dir / f"{self.count:06d}.png")
        self.count += 1

    def _send(self, frame) -> None:
        """Hand a frame to ffmpeg; an encoder that died of a full disk is reported as ENOSPC."""
        try:
            self._writer.send(frame)
        except OSError as error:  # ffmpeg exited: the pipe breaks, whatever stopped it
            if shutil.disk_usage(self.partial.parent).free < 1 << 20:
                raise OSError(errno.ENOSPC, "No space left on device", str(self.path)) from error
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        finished = False
        try:  # a signal may land here too (SIGTERM while ffmpeg finishes): then nothing half-written stays
            if self._writer is not None:
                try:
                    with signals_held():  # ffmpeg finishes (or is stopped) and is waited for
                        self._writer.close()
                except Exception:
                    if exc_type is None:
                        raise
            if exc_type is None and self.count > 0:
                if self.kind == "png" and self.path.is_dir():  # --force on an earlier folder of frames
                    shutil.rmtree(self.path)
                os.replace(self.partial, self.path)
                if self.partial_dir is not None:
                    if self.frames_dir.exists():
                        shutil.rmtree(self.frames_dir)
                    os.replace(self.partial_dir, self.frames_dir)
                finished = True
        finally:
            if not finished:
                if self.partial.is_dir():
                    shutil.rmtree(self.partial, ignore_errors=True)
                self.partial.unlink(missing_ok=True)
                if self.partial_dir is not None:
                    shutil.rmtree(self.partial_dir, ignore_errors=True)


def write_sidecar(path: Path, data: dict) -> Path:
    """Write `data` as JSON next to the video (NAME.json), atomically."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(partial, path)
    return path


def read_video(path: Path) -> tuple[list[np.ndarray], dict]:
    """All frames (H, W, 3) uint8 of a video and its metadata (fps, size); for tests and small files."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3) for buf in reader]
    return frames, meta
