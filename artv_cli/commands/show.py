"""`artv show PATH`: look at a video in the terminal (played, or as a contact sheet), or write the sheet."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from artv_cli.console import cell_rows, err, half_block_cells, interrupted_status, raise_if_terminated

HIDE, SHOW, RESET = "\x1b[?25l", "\x1b[?25h", "\x1b[0m"


def half_blocks(image, columns: int) -> list[str]:
    """An image (H, W, 3) uint8 as lines of truecolour half blocks, `columns` characters wide: each
    character is two pixels, the upper one its foreground and the lower one its background."""
    return [
        "".join(f"\x1b[38;2;{a[0]};{a[1]};{a[2]}m\x1b[48;2;{b[0]};{b[1]};{b[2]}m\u2580" for a, b in row)
        + RESET
        for row in half_block_cells(image, columns)
    ]


def _key_pressed() -> str | None:
    """A key typed since the last look (stdin in cbreak mode), or None."""
    import select

    if select.select([sys.stdin], [], [], 0)[0]:
        return sys.stdin.read(1)
    return None


def _play(shown, columns: int, loop: bool) -> None:
    """Play the frames at their rate in place; q or Ctrl-C stops; the cursor and colours are always
    given back (success, error, Ctrl-C, SIGTERM)."""
    import termios
    import tty

    from artv_cli import pictures

    out = sys.stdout
    protocol = pictures.detect()  # kitty, iTerm2 or sixel pictures where the terminal draws them
    interactive = sys.stdin.isatty()
    saved = termios.tcgetattr(sys.stdin) if interactive else None
    drawn = 0
    try:
        if interactive:
            tty.setcbreak(sys.stdin.fileno())
        out.write(HIDE)
        while True:
            for frame, label in zip(shown.frames, shown.labels, strict=True):
                picture = protocol != "blocks"  # empty lines keep the picture's place, then it is drawn
                lines = [""] * cell_rows(frame, columns) if picture else half_blocks(frame, columns)
                if drawn:
                    out.write(f"\x1b[{drawn}A")
                out.write("\n".join(lines) + f"\n{RESET}frame {label}/{len(shown.frames) - 1}\x1b[K\n")
                drawn = len(lines) + 1
                if picture:  # up to the first line, drawn there (cursor saved and restored), back down
                    escape = pictures.escape(protocol, frame, columns, len(lines))
                    out.write(f"\x1b[{drawn}A\x1b7{escape}\x1b8\x1b[{drawn}B")
                out.flush()
                time.sleep(1 / max(shown.fps, 1e-3))
                raise_if_terminated()  # a Ctrl-C whose KeyboardInterrupt was lost in a finalizer
                if interactive and _key_pressed() in ("q", "Q"):
                    return
            if not loop:
                return
    finally:
        out.write(RESET + SHOW)
        out.flush()
        if saved is not None:
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, saved)


def show(
    path: Annotated[
        Path,
        typer.Argument(
            help="A video (.mp4/.gif/.webm), a folder of PNG frames, a sidecar .json, or a batch folder.",
            show_default=False,
        ),
    ],
    sheet: Annotated[
        int,
        typer.Option(
            help="Print a contact sheet of this many frames (spread over the video) instead of playing."
        ),
    ] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write the contact sheet as a PNG (of --sheet frames, 8 if not given)."
        ),
    ] = None,
    loop: Annotated[bool, typer.Option("--loop", help="Play again and again (q or Ctrl-C stops).")] = False,
    columns: Annotated[
        int | None, typer.Option(help="Width in characters. (default: the terminal's)")
    ] = None,
) -> None:
    """Look at what you made without leaving the terminal: play a video, or print or write a contact sheet.

    A sidecar .json shows its video with the settings it was made with; a batch folder shows the first
    frame of each video with its prompt. A video plays as pictures in kitty, iTerm2 and sixel terminals
    (ARTV_PICTURES chooses) and in truecolour half blocks elsewhere; sheets are half blocks (two pixels a
    character), so they can be piped or saved as text.

    Examples:

      artv show ball.mp4 --loop

      artv show ball.mp4 --sheet 8

      artv show ball.json --sheet 4 --out sheet.png

      artv show batch/ --sheet 16
    """
    from artv_cli.engine.data.sheet import contact_sheet, load, pick
    from artv_cli.errors import ArtvError

    if sheet < 0:
        raise ArtvError(f"--sheet must be 0 (play) or more frames (got {sheet})", "use --sheet 8")
    if out is not None and out.suffix.lower() != ".png":
        raise ArtvError(f"--out {out}: the sheet is written as PNG", f"use --out {out.with_suffix('.png')}")
    shown = load(path)
    width = columns or shutil.get_terminal_size((100, 30)).columns
    if out is not None:
        image = contact_sheet(pick(shown, sheet or 8))
        out.parent.mkdir(parents=True, exist_ok=True)
        image.save(out)
        err.print(f"wrote a sheet of {min(sheet or 8, len(shown.frames))} frames to {out}")
        print(out)
        return
    for key, value in shown.settings.items():
        print(f"{key}: {value}")
    if sheet or len(shown.frames) == 1 or shown.fps <= 1 or not sys.stdout.isatty():
        chosen = pick(shown, sheet or 8)
        per_row = max(1, min(len(chosen.frames), 8))
        tile = max(4, (width - per_row) // per_row)
        for start in range(0, len(chosen.frames), per_row):
            blocks = [half_blocks(f, tile) for f in chosen.frames[start : start + per_row]]
            for row in zip(*blocks, strict=True):
                print(" ".join(row))
            print(" ".join(label[:tile].ljust(tile) for label in chosen.labels[start : start + per_row]))
        return
    try:
        _play(shown, min(width, 2 * shown.frames[0].shape[1]), loop)
    except KeyboardInterrupt as interruption:  # Ctrl-C 130, SIGTERM 143; the terminal was given back
        raise typer.Exit(interrupted_status(interruption)) from None
