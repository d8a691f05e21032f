"""`--preview` as a person sees it: in a real terminal (tmux: the command typed into a pane, the screen read
back), the frame above the progress bar changes as frames arrive, and the terminal is given back clean after
the end, Ctrl-C and SIGTERM. Off when stderr is not a terminal."""

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from typer.testing import CliRunner

from artv_cli.app import app

ARGS = ["generate", "a red circle moves right quickly", "--model", "tiny-random", "--steps", "2"]
needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (.ci/run installs it)")


class Pane:
    """A detached tmux session of a fixed size running one shell command."""

    def __init__(self, command: str, cwd, width: int = 90, height: int = 40):
        self.name = f"artv-{uuid.uuid4().hex[:8]}"
        path = shlex.quote(os.path.dirname(sys.executable))  # artv of this Python
        env = f"export PATH={path}:$PATH OMP_NUM_THREADS=1 COLORTERM=truecolor"
        script = f"cd {shlex.quote(str(cwd))} && {env} && {command}; echo EXIT=$?; sleep 600"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), script],
            check=True,
        )

    def screen(self, escapes: bool = False) -> str:
        args = ["tmux", "capture-pane", "-p", "-t", self.name] + (["-e"] if escapes else [])
        return subprocess.run(args, check=True, capture_output=True, text=True).stdout

    def cursor_visible(self) -> bool:
        args = ["tmux", "display", "-p", "-t", self.name, "#{cursor_flag}"]
        return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip() == "1"

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, text: str, seconds: float = 120) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False)


@pytest.fixture
def pane_in(tmp_path):
    panes = []

    def start(command: str) -> Pane:
        panes.append(Pane(command, tmp_path))
        return panes[-1]

    yield start
    for pane in panes:
        pane.close()


def picture(screen: str) -> list[str]:
    return [line for line in screen.splitlines() if "\u2580" in line]


@needs_tmux
def test_the_preview_changes_as_frames_arrive_and_the_terminal_is_clean_after(pane_in):
    command = shlex.join(["artv", *ARGS, "--frames", "40", "--preview", "-o", "v.mp4"])
    pane = pane_in(command)
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "EXIT=" not in pane.screen():
        screen = pane.screen(escapes=True)
        if picture(screen) and (not seen or picture(screen) != seen[-1]):
            seen.append(picture(screen))
        time.sleep(0.05)
    screen = pane.wait_for("EXIT=0")
    assert len(seen) >= 3, "the picture did not change as frames arrived"
    assert len(seen[-1]) >= 16  # a 64x64 frame: 32 rows of half blocks (fitted to the 40-row pane)
    assert "wrote 40 frames to v.mp4" in screen
    assert pane.cursor_visible()
    assert "\x1b" not in screen  # capture without -e: no stray escape codes left as text


@needs_tmux
@pytest.mark.parametrize(("stop", "status"), [("C-c", 130), ("TERM", 143)])
def test_ctrl_c_and_sigterm_give_the_terminal_back(pane_in, stop, status):
    command = shlex.join(["artv", *ARGS, "--frames", "400", "--preview", "-o", "v.mp4"])
    pane = pane_in(command)
    deadline = time.monotonic() + 120
    while not picture(pane.screen()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert picture(pane.screen()), pane.screen()
    if stop == "C-c":
        pane.keys("C-c")
    else:
        shell = subprocess.run(["tmux", "display", "-p", "-t", pane.name, "#{pane_pid}"], capture_output=True,
                               text=True, check=True).stdout.strip()  # fmt: skip
        subprocess.run(["pkill", "-TERM", "-P", shell], check=True)  # the shell's child: artv
    screen = pane.wait_for(f"EXIT={status}")
    assert pane.cursor_visible()
    assert "\x1b" not in screen


def test_no_picture_when_stderr_is_not_a_terminal(tmp_path):
    result = CliRunner().invoke(app, [*ARGS, "--frames", "3", "--preview", "-o", str(tmp_path / "v.mp4")])
    assert result.exit_code == 0, result.output
    assert "\u2580" not in result.stderr
