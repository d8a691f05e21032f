"""Terminal image protocols of `--preview`: which one a terminal gets, each picture decoded back to the
frame, and a real render in a pseudo-terminal sending one picture per frame and ending clean."""

import base64
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from artv_cli import pictures
from artv_cli.errors import ArtvError


@pytest.mark.parametrize(
    ("environ", "protocol"),
    [
        ({"TERM": "xterm-kitty"}, "kitty"),
        ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "1"}, "kitty"),
        ({"TERM_PROGRAM": "ghostty"}, "kitty"),
        ({"TERM_PROGRAM": "iTerm.app"}, "iterm"),
        ({"LC_TERMINAL": "iTerm2"}, "iterm"),
        ({"TERM_PROGRAM": "WezTerm"}, "iterm"),
        ({"TERM": "foot"}, "sixel"),
        ({"WT_SESSION": "x"}, "sixel"),
        ({"TERM": "xterm-256color"}, "blocks"),
        ({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-0/default,1,0"}, "blocks"),  # tmux drops them
        ({"TERM": "xterm-kitty", "ARTV_PICTURES": "blocks"}, "blocks"),
        ({"TMUX": "x", "ARTV_PICTURES": "Sixel"}, "sixel"),
    ],
)
def test_each_terminal_gets_its_protocol_and_the_variable_overrides_it(environ, protocol):
    assert pictures.detect(environ) == protocol


def test_an_unknown_protocol_is_refused_naming_the_choices():
    with pytest.raises(ArtvError) as caught:
        pictures.detect({"ARTV_PICTURES": "png"})
    assert "ARTV_PICTURES=png" in caught.value.message and "kitty, iterm, sixel, blocks" in caught.value.hint


def frame(height=24, width=32):
    """Four flat colours (quantised exactly) with a diagonal edge."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, : width // 2] = (220, 40, 40)
    image[:, width // 2 :] = (50, 90, 230)
    image[height // 2 :, : width // 3] = (240, 210, 40)
    image[np.tril(np.ones((height, width), bool), -8)] = (20, 20, 20)
    return image


def run_in_terminal(args: list[str], protocol: str) -> str:
    """`python -m artv_cli ARGS` in a 100x40 pseudo-terminal (10x20-pixel cells) with ARTV_PICTURES set;
    everything it wrote to the terminal (the exit status must be 0)."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 1000, 800))
    env = dict(os.environ, ARTV_PICTURES=protocol, TERM="xterm-256color", OMP_NUM_THREADS="1")
    env.pop("TMUX", None)
    process = subprocess.Popen([sys.executable, "-m", "artv_cli", *args],
                               stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)  # fmt: skip
    os.close(slave)
    received = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        received += chunk
    assert process.wait(timeout=300) == 0, received[-2000:]
    return received.decode("utf-8", "replace")


def png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_kitty_sends_the_frame_as_png_in_4096_byte_chunks_into_the_cells_without_moving_the_cursor():
    big = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)  # > 4096 base64 bytes
    text = pictures.kitty(big, 20, 10)
    chunks = re.findall(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\", text)
    assert len(chunks) > 1 and "".join(f"\x1b_G{h};{d}\x1b\\" for h, d in chunks) == text
    head = dict(kv.split("=") for kv in chunks[0][0].split(","))
    assert head | {"m": "1"} == dict(a="T", f="100", i="1", p="1", c="20", r="10", C="1", q="2", m="1")
    assert [h for h, _ in chunks[1:]] == ["m=1"] * (len(chunks) - 2) + ["m=0"]
    assert all(len(d) <= 4096 for _, d in chunks)
    assert np.array_equal(png_pixels(base64.b64decode("".join(d for _, d in chunks))), big)


def test_iterm_sends_the_frame_inline_sized_in_cells():
    text = pictures.iterm(frame(), 12, 6)
    found = re.fullmatch(
        r"\x1b\]1337;File=inline=1;size=(\d+);width=12;height=6;preserveAspectRatio=0:(.*)\x07", text
    )
    data = base64.b64decode(found.group(2))
    assert int(found.group(1)) == len(data) and np.array_equal(png_pixels(data), frame())


def decode_sixel(text: str) -> np.ndarray:
    """A small sixel reader: raster size, colour registers (0-100), bands of six rows, $ and -, !N runs."""
    body = re.fullmatch(r"\x1bP0;1;0q(.*)\x1b\\", text, re.S).group(1)
    size = re.match(r'"1;1;(\d+);(\d+)', body)
    width, height = int(size.group(1)), int(size.group(2))
    image = np.zeros((height + 6, width, 3))
    registers, colour, x, top = {}, None, 0, 0
    for token in re.findall(r'"[\d;]+|#\d+;2;\d+;\d+;\d+|#\d+|!\d+.|[?-~]|\$|-', body):
        if token.startswith('"'):
            continue
        if token.startswith("#") and ";" in token:
            number, _, *rgb = token[1:].split(";")
            registers[int(number)] = np.array([int(v) * 255 / 100 for v in rgb])
        elif token.startswith("#"):
            colour = registers[int(token[1:])]
        elif token == "$":
            x = 0
        elif token == "-":
            x, top = 0, top + 6
        else:
            count, char = (int(token[1:-1]), token[-1]) if token.startswith("!") else (1, token)
            bits = ord(char) - 63
            for row in range(6):
                if bits >> row & 1:
                    image[top + row, x : x + count] = colour
            x += count
    return image[:height]


def test_sixel_draws_the_frame_resized_to_the_cells_in_pixels():
    text = pictures.sixel(frame(), 8, 3, cell=(4, 8))
    drawn = decode_sixel(text)
    assert drawn.shape == (24, 32, 3)  # 3 rows of 8 px, 8 columns of 4 px: the frame's own size here
    assert np.abs(drawn - frame()).max() <= 2  # the 0-100 scale of sixel colours
    small = pictures.sixel(frame(), 4, 1, cell=(4, 10))  # bands are whole: 10 px rows are cut to 6
    assert decode_sixel(small).shape == (6, 16, 3)


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX pseudo-terminal")
@pytest.mark.parametrize("protocol", ["kitty", "sixel"])
def test_a_render_in_a_terminal_sends_each_new_frame_and_gives_the_terminal_back_clean(tmp_path, protocol):
    args = ["generate", "a red circle moves right", "--model", "tiny-random", "--steps", "2", "--frames", "4"]
    text = run_in_terminal([*args, "--preview", "-o", str(tmp_path / "v.mp4")], protocol)
    sent = text.count("\x1b_Ga=T") if protocol == "kitty" else text.count("\x1bP0;1;0q")
    assert sent >= 4  # every frame's picture (sixel: again at each refresh)
    if protocol == "kitty":
        assert sent == 4 and "\x1b_Ga=p,i=1,p=1" in text  # sent once per frame, placed again after
    assert text.rfind("\x1b[?25h") > text.rfind("\x1b[?25l")  # the cursor is shown at the end
    assert text.count("\x1b7") == text.count("\x1b8")  # every saved cursor restored
    assert "wrote 4 frames" in text


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX pseudo-terminal")
def test_show_plays_a_video_as_pictures_one_per_frame_and_gives_the_terminal_back(tmp_path):
    from artv_cli.engine.data.video import VideoWriter

    with VideoWriter(tmp_path / "v.mp4", fps=50) as writer:
        for shift in range(3):
            writer.append(np.roll(frame(32, 32), shift * 4, axis=1))
    text = run_in_terminal(["show", str(tmp_path / "v.mp4")], "kitty")
    assert text.count("\x1b_Ga=T") == 3 and "frame 2/2" in text and "\u2580" not in text
    assert text.rfind("\x1b[?25h") > text.rfind("\x1b[?25l") and text.count("\x1b7") == text.count("\x1b8")
