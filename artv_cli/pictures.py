"""Pictures in the terminal: which image protocol the terminal speaks, and a frame in each of them.

`--preview` and `artv show` draw frames with the terminal's own image protocol where one is detected (the
kitty graphics protocol, iTerm2's inline images, sixel) and with truecolour half blocks otherwise. The
terminal is told by its environment (a terminal answers a query only on its input, which a render does
not read); `ARTV_PICTURES=kitty|iterm|sixel|blocks` overrides it. Inside tmux or screen, which do not pass
these protocols through by default, half blocks are used unless overridden.

Every picture fills exactly `columns` x `rows` character cells, so the text around it (the progress bar)
lands where a half-block picture would have put it.
"""

from __future__ import annotations

import base64
import io
import os

import numpy as np

PROTOCOLS = ("kitty", "iterm", "sixel", "blocks")
SIXEL_TERMINALS = ("foot", "foot-extra", "mlterm", "yaft-256color", "contour", "mintty")
"""$TERM values of terminals that draw sixel (Windows Terminal is told by $WT_SESSION)."""
CELL_PIXELS = (10, 20)
"""A character cell's size in pixels when the terminal does not say (sixel is sized in pixels)."""


def detect(environ=None) -> str:
    """The image protocol of the terminal described by `environ` (default: this process's)."""
    env = os.environ if environ is None else environ
    forced = env.get("ARTV_PICTURES", "").strip().lower()
    if forced:
        if forced not in PROTOCOLS:
            from artv_cli.errors import ArtvError

            raise ArtvError(
                f"ARTV_PICTURES={forced} is not a picture protocol",
                f"set it to one of {', '.join(PROTOCOLS)}, or unset it to detect the terminal's",
            )
        return forced
    if env.get("TMUX") or env.get("STY"):  # tmux and screen drop the protocols unless configured to pass
        return "blocks"
    term, program = env.get("TERM", ""), env.get("TERM_PROGRAM", "")
    if term == "xterm-kitty" or env.get("KITTY_WINDOW_ID") or program == "ghostty":
        return "kitty"
    if program in ("iTerm.app", "WezTerm") or env.get("LC_TERMINAL") == "iTerm2":
        return "iterm"
    if term in SIXEL_TERMINALS or env.get("WT_SESSION"):
        return "sixel"
    return "blocks"


def cell_pixels(stream=None) -> tuple[int, int]:
    """The terminal's cell size in pixels (TIOCGWINSZ), else CELL_PIXELS."""
    try:
        import fcntl
        import struct
        import termios

        fd = (stream or open("/dev/tty")).fileno()  # noqa: SIM115 (read once, closed with the process)
        rows, cols, width, height = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
        if cols and rows and width and height:
            return width // cols, height // rows
    except (OSError, ValueError, ImportError, AttributeError):
        pass
    return CELL_PIXELS


def png_bytes(frame: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def kitty(frame: np.ndarray, columns: int, rows: int, image_id: int = 1) -> str:
    """The kitty graphics protocol: the frame as PNG, sent in chunks of 4096 base64 bytes, shown scaled
    into columns x rows cells at the cursor, which does not move (C=1). The same `image_id` replaces the
    picture in place."""
    data = base64.standard_b64encode(png_bytes(frame)).decode()
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)] or [""]
    out = []
    for i, chunk in enumerate(chunks):
        more = 1 if i < len(chunks) - 1 else 0
        head = f"a=T,f=100,i={image_id},p=1,c={columns},r={rows},C=1,q=2,m={more}" if i == 0 else f"m={more}"
        out.append(f"\x1b_G{head};{chunk}\x1b\\")
    return "".join(out)


def iterm(frame: np.ndarray, columns: int, rows: int) -> str:
    """iTerm2's inline image (OSC 1337), scaled into columns x rows cells."""
    data = png_bytes(frame)
    return (
        f"\x1b]1337;File=inline=1;size={len(data)};width={columns};height={rows};preserveAspectRatio=0:"
        f"{base64.standard_b64encode(data).decode()}\x07"
    )


def sixel(frame: np.ndarray, columns: int, rows: int, cell: tuple[int, int] = CELL_PIXELS) -> str:
    """DEC sixel: the frame quantised to at most 255 colours (Pillow's median cut), resized to columns x
    rows cells of `cell` pixels, in bands of six pixel rows, run-length coded."""
    from PIL import Image

    width, height = columns * cell[0], rows * cell[1]
    height -= height % 6  # whole bands: the cursor ends inside the last text row, never below it
    # quantised at the frame's own size, then scaled to the cells' pixels (no blended colours to add)
    quantised = Image.fromarray(frame).quantize(
        colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    quantised = quantised.resize((width, max(6, height)), Image.NEAREST)
    palette = np.array(quantised.getpalette()[: 3 * 256]).reshape(-1, 3)
    index = np.asarray(quantised)
    used = np.unique(index)
    out = ["\x1bP0;1;0q", f'"1;1;{index.shape[1]};{index.shape[0]}']
    out += [f"#{c};2;{';'.join(str(round(v * 100 / 255)) for v in palette[c])}" for c in used]
    for top in range(0, index.shape[0], 6):
        band = index[top : top + 6]
        colours = np.unique(band)
        bits = (1 << np.arange(band.shape[0]))[None, :, None]
        codes = ((band[None] == colours[:, None, None]) * bits).sum(1) + 63  # (colours, width), all at once
        lines = [f"#{c}" + _run_length(row) for c, row in zip(colours.tolist(), codes, strict=True)]
        out.append("$".join(lines) + "-")
    out.append("\x1b\\")
    return "".join(out)


def _run_length(codes: np.ndarray) -> str:
    """One colour's sixel characters along a band, runs of over 3 written `!N<char>`; a trailing run of
    empty sixels (`?`) is left out (the next colour starts from the band's left edge anyway)."""
    starts = np.flatnonzero(np.diff(codes, prepend=-1))
    lengths = np.diff(starts, append=len(codes))
    values = codes[starts]
    if values[-1] == 63:
        starts, lengths, values = starts[:-1], lengths[:-1], values[:-1]
    return "".join(
        f"!{n}{chr(v)}" if n > 3 else chr(v) * n
        for v, n in zip(values.tolist(), lengths.tolist(), strict=True)
    )


def escape(protocol: str, frame: np.ndarray, columns: int, rows: int, cell=None) -> str:
    """The frame as `protocol`'s escape sequence (not for `blocks`, which is text)."""
    if protocol == "kitty":
        return kitty(frame, columns, rows)
    if protocol == "iterm":
        return iterm(frame, columns, rows)
    return sixel(frame, columns, rows, cell or cell_pixels())
