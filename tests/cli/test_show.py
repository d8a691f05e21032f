"""`artv show`: a video played in a real (pseudo-)terminal, contact sheets in the terminal and as PNG."""

import fcntl
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time

import pytest
from PIL import Image
from typer.testing import CliRunner

from artv_cli.app import app

ARGS = ["generate", "a red circle moves right", "--model", "tiny-random", "--frames", "6", "--steps", "1"]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    out = tmp_path_factory.mktemp("show") / "v.mp4"
    result = CliRunner().invoke(app, [*ARGS, "--seed", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_a_sheet_prints_the_chosen_frames_as_truecolour_half_blocks(video):
    result = CliRunner().invoke(app, ["show", str(video), "--sheet", "3", "--columns", "60"])
    assert result.exit_code == 0, result.output
    assert "\u2580" in result.stdout and "\x1b[38;2;" in result.stdout and "\x1b[48;2;" in result.stdout
    labels = result.stdout.strip().splitlines()[-1].split()
    assert labels == ["0", "2", "5"]  # spread over the video, first and last included


def test_a_sheet_is_written_as_png_with_the_frames_side_by_side(video, tmp_path):
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(app, ["show", str(video), "--sheet", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    image = Image.open(out)
    assert image.size == (4 * 128, 128 + 14)  # 4 frames of 64 px enlarged twice, a label row under them


def test_a_sidecar_shows_its_settings_and_a_batch_folder_its_prompts(video, tmp_path):
    result = CliRunner().invoke(
        app, ["show", str(video.with_suffix(".json")), "--sheet", "2", "--columns", "40"]
    )
    assert result.exit_code == 0, result.output
    assert "prompt: a red circle moves right" in result.stdout and "steps: 1" in result.stdout
    (tmp_path / "p.txt").write_text("a red ball\na blue box\n")
    batch = ["batch", str(tmp_path / "p.txt"), "--out", str(tmp_path / "b"), "--model", "tiny-random"]
    assert CliRunner().invoke(app, [*batch, "--frames", "2", "--steps", "1"]).exit_code == 0
    result = CliRunner().invoke(app, ["show", str(tmp_path / "b"), "--columns", "40"])
    assert result.exit_code == 0, result.output
    assert "a red ball" in result.stdout and "a blue box" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["nothing.mp4"], "nothing.mp4 does not exist"),
    (["{video}", "--out", "sheet.jpg"], "the sheet is written as PNG"),
    (["{video}", "--sheet", "-1"], "--sheet must be 0"),
])  # fmt: skip
def test_bad_input_is_one_line_with_the_fix(video, tmp_path, args, message):
    result = CliRunner().invoke(app, ["show", *[a.format(video=video) for a in args]])
    assert result.exit_code == 2 and message in result.stderr and "fix:" in result.stderr


def _in_a_terminal(args: list[str], stop) -> tuple[int, bytes]:
    """Run artv in a pseudo-terminal; `stop(process, master)` ends it; returns (status, what was drawn)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "60", "LINES": "40"}

    def controlling_terminal():  # as a shell does: its own session, the pty its terminal (Ctrl-C works)
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a shell's foreground job takes Ctrl-C, even where
        # the tests run in the background, whose children inherit an ignored SIGINT (`nohup pytest &`)

    command = [sys.executable, "-m", "artv_cli", *args]
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                               preexec_fn=controlling_terminal)  # fmt: skip
    os.close(slave)
    drawn, started = b"", time.monotonic()
    stopped = False
    while process.poll() is None and time.monotonic() - started < 120:
        if select.select([master], [], [], 0.1)[0]:
            try:
                drawn += os.read(master, 65536)
            except OSError:
                break
        if not stopped and drawn.count(b"frame ") >= 8:  # frames are arriving: stop it the user's way
            stop(process, master)
            stopped = True
    process.wait(timeout=60)
    try:
        while select.select([master], [], [], 0.1)[0]:
            drawn += os.read(master, 65536)
    except OSError:
        pass
    os.close(master)
    return process.returncode, drawn


@pytest.mark.parametrize("how", ["q", "ctrl-c", "sigterm"])
def test_playing_in_a_terminal_stops_and_gives_the_terminal_back(video, how):
    def stop(process, master):
        if how == "q":
            os.write(master, b"q")
        elif how == "ctrl-c":
            os.write(master, b"\x03")
        else:
            process.terminate()

    status, drawn = _in_a_terminal(["show", str(video), "--loop"], stop)
    assert status == {"q": 0, "ctrl-c": 130, "sigterm": 143}[how], drawn[-500:]
    assert drawn.count(b"\x1b[?25l") == 1  # the cursor was hidden while playing ...
    assert drawn.rstrip().endswith(b"\x1b[?25h") or b"\x1b[?25h" in drawn[-200:]  # ... and shown again
    assert re.search(rb"\x1b\[\d+A", drawn)  # drawn in place: the cursor goes back up over the frame


def test_a_ctrl_c_whose_interrupt_was_lost_still_stops_a_looping_player(video, monkeypatch, capsys):
    """Python drops an exception raised by a signal handler that lands in a finalizer; the player then
    looked for the Ctrl-C only there and looped on. It checks the remembered signal every frame."""
    from artv_cli import console
    from artv_cli.commands.show import _play
    from artv_cli.engine.data.sheet import load

    shown = load(video)  # before sleep is replaced: the reader waits on ffmpeg with it
    monkeypatch.setattr(console, "_interrupted", True)  # the handler ran; its KeyboardInterrupt was lost
    frames = []

    def sleep(seconds):  # a frame's wait; a player that never stops fails here instead of hanging
        frames.append(seconds)
        assert len(frames) < 50, "the player went on after Ctrl-C"

    monkeypatch.setattr(time, "sleep", sleep)
    with pytest.raises(KeyboardInterrupt):
        _play(shown, 20, loop=True)
    assert capsys.readouterr().out.count("frame ") == 1  # stopped after the frame it was drawing
