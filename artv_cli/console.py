"""Where output goes (results on stdout, everything else on stderr) and how errors reach the user."""

from __future__ import annotations

import errno
import os
import sys

from rich.console import Console
from typer.core import TyperGroup

from artv_cli.errors import ArtvError

err = Console(stderr=True, highlight=False)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a job scheduler, `timeout`, `kill`): handled as Ctrl-C is, then exit status 143."""


def interrupted_status(error: BaseException) -> int:
    """The conventional exit status of an interruption: 128 + the signal's number."""
    return 143 if isinstance(error, Terminated) else 130


def install_signal_handlers() -> None:
    """SIGTERM raises `Terminated` where Ctrl-C raises KeyboardInterrupt, so every long command cleans up
    the same way (partial files removed, the trainer's checkpoint saved); a closed stdout pipe (`| head`)
    ends the process quietly with status 141, as Unix tools do, instead of a traceback."""
    import signal

    def terminate(signum, frame):
        global _terminated
        _terminated = True
        raise Terminated()

    def interrupt(signum, frame):  # Ctrl-C: KeyboardInterrupt, and remembered as SIGTERM is (see below)
        global _interrupted
        _interrupted = True
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, terminate)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, interrupt)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


_terminated = False
_interrupted = False


def raise_if_terminated() -> None:
    """Raise `Terminated` again if SIGTERM came (KeyboardInterrupt if Ctrl-C did): an exception raised by a
    handler is lost when the signal
    lands inside a finalizer or a logging lock's release, so long commands also call this from their
    progress callbacks (every step)."""
    if _terminated:
        raise Terminated()
    if _interrupted:  # Ctrl-C, whose KeyboardInterrupt is lost the same way
        raise KeyboardInterrupt()


def debug() -> bool:
    return os.environ.get("ARTV_DEBUG", "") not in ("", "0")


class ArtvGroup(TyperGroup):
    """Turns the project's errors into one line plus the fix, exit code 2 (traceback with ARTV_DEBUG=1)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ArtvError as error:
            if debug():
                raise
            _fail(error.message, error.hint or "see `artv --help`")
            sys.exit(2)
        except KeyboardInterrupt as error:
            if debug():
                raise
            err.print("interrupted: nothing half-written was left behind", soft_wrap=True)
            sys.exit(interrupted_status(error))
        except Exception as error:  # the last line of defence before a raw traceback
            # The CLI library's own ways out (help, usage errors) pass through; typer vendors its own
            # click, so they are recognised by module rather than by class.
            if debug() or type(error).__module__.split(".")[0] in ("click", "typer"):
                raise
            if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
                where = f" (writing {error.filename})" if error.filename else ""
                _fail(f"no space left on the device{where}; nothing half-written was kept",
                      "free some space, or write to another disk (--out)")  # fmt: skip
                sys.exit(2)
            if type(error).__name__ == "OutOfMemoryError":
                _fail(
                    "the device ran out of memory", "try a smaller --size, --dtype bf16/fp16, or --device cpu"
                )
                sys.exit(2)
            _fail(
                f"internal error: {type(error).__name__}: {error}",
                "rerun with ARTV_DEBUG=1 and report the traceback",
            )
            sys.exit(1)


class PlainProgress:
    """Progress as plain lines on stderr, for when it is not a terminal (`nohup`, a job log, CI).

    Rich draws its live bar only on a terminal, so a long command run in the background would otherwise
    print nothing until it ends. One line per task when it starts, then at most every `every` seconds
    (`ARTV_PROGRESS_EVERY`, default 30), and when it completes: done/total, stats, elapsed, eta.
    """

    def __init__(self, every: float | None = None):
        if every is None:
            value = os.environ.get("ARTV_PROGRESS_EVERY", "30")
            try:
                every = float(value)
            except ValueError:
                every = float("nan")
            if not every >= 0:
                raise ArtvError(
                    f"ARTV_PROGRESS_EVERY must be a number of seconds, not '{value}'",
                    "set it to e.g. 30 (0 prints every update), or unset it",
                )
        self.every = every
        self._seen: dict[str, tuple[float, float, float]] = {}  # name: (first time, first done, last print)
        self._finished: set[str] = set()

    def update(self, name: str, done: float, total: float, stats: str = "") -> None:
        import time

        now = time.monotonic()
        if name in self._finished:
            return
        if name not in self._seen:
            self._seen[name] = (now, done, float("-inf"))
        first, first_done, last = self._seen[name]
        if done < total and now - last < self.every:
            return
        self._seen[name] = (first, first_done, now)
        rate = (done - first_done) / (now - first) if now > first else 0.0
        eta = _clock((total - done) / rate) if rate > 0 else "-:--:--"
        if done >= total:
            self._finished.add(name)
        line = f"{name} {done:g}/{total:g}" + (f"  {stats}" if stats else "")
        err.print(f"{line}  {_clock(now - first)} eta {eta}", soft_wrap=True, markup=False)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


PREVIEW_COLUMNS = 64
"""The widest preview, in characters (two pixels a character, so a 64x64 frame at its own size)."""


class FramePreview:
    """The newest finished frame, fitted to the terminal: in the terminal's image protocol where one is
    detected (`artv_cli.pictures`: kitty, iTerm2, sixel), else as truecolour half blocks (each character
    two pixels: the upper one its foreground, the lower its background); made once per frame."""

    def __init__(self):
        from artv_cli import pictures

        self.segments: list = []
        self.protocol = pictures.detect()
        self.picture = ""  # the frame's escape sequence (image protocols)
        self.fresh = False  # kitty: the frame is not sent yet; once sent, only placed again
        self.rows = 0

    def show(self, frame) -> None:
        from rich.color import Color
        from rich.segment import Segment
        from rich.style import Style

        if isinstance(frame, list):  # a batch step hands one frame per video: the first is shown
            frame = frame[0]
        width, height = err.size
        rows_free = max(4, height - 6)  # the bar and a little room under the picture
        columns = max(
            8, min(width - 1, PREVIEW_COLUMNS, int(rows_free * 2 * frame.shape[1] / frame.shape[0]))
        )
        self.rows = cell_rows(frame, columns)
        if self.protocol != "blocks":
            from artv_cli import pictures

            self.picture = pictures.escape(self.protocol, frame, columns, self.rows)
            self.fresh = True
            return
        segments = []
        for line in half_block_cells(frame, columns):
            for top, bottom in line:
                style = Style(color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom))
                segments.append(Segment("\u2580", style))
            segments.append(Segment.line())
        self.segments = segments

    def __rich_console__(self, console, options):
        if self.protocol == "blocks":
            yield from self.segments
            return
        from rich.control import ControlType
        from rich.segment import Segment

        # Empty rows keep the picture's place; from the end of the last one the cursor goes up to the
        # first, the picture is drawn there (cursor saved and restored: protocols move it differently),
        # and it comes back down. rich redraws its live region by erasing lines, so the picture is sent
        # again at each refresh; kitty keeps it, so it is only placed again.
        picture = self.picture
        if self.protocol == "kitty" and not self.fresh:
            picture = "\x1b_Ga=p,i=1,p=1,C=1,q=2\x1b\\"
        self.fresh = False
        up = f"\x1b[{self.rows - 1}A" if self.rows > 1 else ""
        down = f"\x1b[{self.rows - 1}B" if self.rows > 1 else ""
        yield from [Segment.line()] * (self.rows - 1)
        # a control segment: written as it is, no width, and only to a terminal (never to a log file)
        yield Segment(f"{up}\x1b7{picture}\x1b8{down}", None, [(ControlType.CURSOR_MOVE_TO_COLUMN, 0)])
        yield Segment.line()


def cell_rows(image, columns: int) -> int:
    """Text rows of a picture `columns` characters wide (a character cell is about twice as tall as wide)."""
    height, width = image.shape[:2]
    return max(1, round(height * columns / width / 2))


def half_block_cells(image, columns: int):
    """Rows of (upper pixel, lower pixel) pairs of `image` resized to `columns` pixels wide."""
    import numpy as np
    from PIL import Image

    rows = cell_rows(image, columns)
    small = np.asarray(Image.fromarray(image).resize((columns, rows * 2), Image.BILINEAR)).tolist()
    return [list(zip(small[2 * y], small[2 * y + 1], strict=True)) for y in range(rows)]


def progress_bar(preview: bool = False):
    """The progress bar of long commands, on stderr: description, bar, done/total, elapsed, eta; with
    `preview` (and stderr a terminal), the newest finished frame above it (`progress.show(frame)`)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return _progress(preview)(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
        refresh_per_second=4 if preview else 10,
    )


def _progress(preview: bool):
    """rich's Progress, with a `show(frame)` that draws the frame above the bars when `preview` is on and
    stderr is a terminal (a log file gets no pictures), and does nothing otherwise."""
    from rich.progress import Progress

    class Previewing(Progress):
        picture = None

        def show(self, frame) -> None:
            if not (preview and self.console.is_terminal) or frame is None:
                return
            self.picture = self.picture or FramePreview()
            self.picture.show(frame)
            self.refresh()

        def get_renderables(self):
            if self.picture is not None:
                yield self.picture
            yield from super().get_renderables()

    return Previewing


def batch_progress(preview: bool = False):
    """The bar of `artv batch`, on stderr: videos done/total, videos a minute, elapsed, eta; `preview` as
    for `progress_bar`."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class PerMinute(ProgressColumn):
        def render(self, task):
            speed = task.finished_speed or task.speed
            return Text(f"{speed * 60:.1f} videos/min" if speed else "-- videos/min")

    return _progress(preview)(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        PerMinute(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
    )


def _fail(message: str, hint: str) -> None:
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    err.print(f"  fix: {hint}", soft_wrap=True, markup=False)


def command_line(ctx, add: tuple[str, ...] = (), drop: tuple[str, ...] = ()) -> str:
    """The command being run, as the user can paste it into a POSIX shell, with `add` appended.

    Rebuilt from the command's parsed context (`typer.Context`): every argument and every option the user
    gave, each quoted with `shlex`; options left at their defaults are left out. Options named in `drop` (or
    in `add`, which then replaces them) are left out too, so "plus --resume latest" never doubles a flag.
    """
    import shlex

    words = ctx.command_path.split()
    words[0] = "artv"
    replaced = set(drop) | {word for word in add if word.startswith("--")}
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if param.param_type_name == "argument":
            words += [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
            continue
        source = ctx.get_parameter_source(param.name)
        if getattr(source, "name", None) != "COMMANDLINE" or set(param.opts) & replaced:
            continue
        if param.is_flag and param.secondary_opts:  # --x/--no-x
            words.append(param.opts[0] if value else param.secondary_opts[0])
        elif param.is_flag:
            if value:
                words.append(param.opts[0])
        elif param.multiple:
            for item in value:
                words += [param.opts[0], str(getattr(item, "value", item))]
        else:
            words += [param.opts[0], str(getattr(value, "value", value))]
    return shlex.join([*words, *add])
