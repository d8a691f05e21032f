"""The commands `artv` prints for the user to run next do what they say.

Each long command (story, batch, train) is stopped for real (SIGTERM, which prints a hint, and SIGKILL,
which prints nothing, so the user runs the command again plus --resume), at two points; the printed
command is then run verbatim through a POSIX shell, and the result must equal an uninterrupted run's,
byte for byte, with no state folder left behind.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from artv_cli.app import app

BIN = str(Path(sys.executable).parent)  # where `artv` lies once the package is installed
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1"}
ENV.pop("ARTV_DEBUG", None)


def _run(words: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(words, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)


def _stop(words: list[str], cwd: Path, ready, how: signal.Signals) -> str:
    """Start `words`, send `how` once `ready()` holds; return its stderr."""
    process = subprocess.Popen(words, cwd=cwd, env=ENV, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the command ended before it could be stopped: " + process.stderr.read()
    process.send_signal(how)
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("it went on for 120 s after the signal") from None
    assert process.returncode == (143 if how == signal.SIGTERM else -signal.SIGKILL), stderr[-2000:]
    return stderr


def _continue(stderr: str, words: list[str], how: signal.Signals, add: list[str], cwd: Path) -> str:
    """Run what the user is told to run next (verbatim, through sh), or after SIGKILL the command plus
    `add`; return what was run."""
    if how == signal.SIGTERM:
        assert "continue with: " in stderr, stderr[-2000:]
        hint = stderr.split("continue with: ", 1)[1].strip().splitlines()[0]
    else:
        hint = shlex.join(["artv", *words[1:], *add])
    done = subprocess.run(["sh", "-c", hint], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{hint}\n{done.stderr[-2000:]}"
    return hint


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


FAST = {(signal.SIGTERM, 1), (signal.SIGKILL, 2)}  # the default run; all four with -m slow
CASES = [
    pytest.param(how, point, marks=() if (how, point) in FAST else pytest.mark.slow)
    for how in (signal.SIGTERM, signal.SIGKILL)
    for point in (1, 2)
]


@pytest.mark.parametrize(("how", "point"), CASES)
def test_story_hint_resumes_to_the_same_bytes(tmp_path, how, point):
    from artv_cli.commands.story import _segments_done

    board = tmp_path / "s.yaml"
    board.write_text(
        "model: tiny-random\nsteps: 1\nseed: 3\nsegments:\n  - prompt: a red ball\n    frames: 3\n"
        "  - prompt: a blue ball\n    frames: 3\n  - prompt: a green ball\n    frames: 400\n"
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    words = ["artv", "story", "../s.yaml", "-o", "my story.mp4", "--steps", "1"]
    reference = _run(words, tmp_path / "a")
    assert reference.returncode == 0, reference.stderr[-2000:]
    work = tmp_path / "b" / ".my story.mp4.story"
    stderr = _stop(words, tmp_path / "b", lambda: work.is_dir() and _segments_done(work) >= point, how)
    hint = _continue(stderr, words, how, ["--resume"], tmp_path / "b")
    assert "'my story.mp4'" in hint and "--steps 1" in hint and hint.endswith("--resume")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(b) == sorted(a) == ["my story.json", "my story.mp4"]  # no .story folder left
    assert b["my story.mp4"] == a["my story.mp4"]
    sidecars = [json.loads(x["my story.json"]) for x in (a, b)]
    for sidecar in sidecars:  # the command line itself is recorded; everything else must match
        sidecar.pop("argv")
    assert sidecars[0] == sidecars[1]


@pytest.mark.parametrize(("how", "point"), CASES)
def test_batch_hint_resumes_to_the_same_bytes(tmp_path, how, point):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red ball\na blue ball\na green ball\na white ball\na cyan ball\n")
    words = ["artv", "batch", "../p.txt", "--out", "videos", "--model", "tiny-random", "--steps", "1"]
    words += ["--frames", "6", "--seed", "4"]
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    reference = _run(words, tmp_path / "a")
    assert reference.returncode == 0, reference.stderr[-2000:]
    manifest = tmp_path / "b" / "videos" / "manifest.jsonl"
    ready = lambda: manifest.is_file() and len(manifest.read_text().splitlines()) >= point  # noqa: E731
    stderr = _stop(words, tmp_path / "b", ready, how)
    hint = _continue(stderr, words, how, ["--resume"], tmp_path / "b")
    assert "--out videos" in hint and "--seed 4" in hint
    videos = {k: v for k, v in _files(tmp_path / "b" / "videos").items() if k.endswith(".mp4")}
    assert videos == {k: v for k, v in _files(tmp_path / "a" / "videos").items() if k.endswith(".mp4")}
    assert len(videos) == 5


@pytest.mark.parametrize(("how", "point"), CASES)
def test_train_hint_resumes_to_the_same_weights(tmp_path, synth_data, how, point):
    words = ["artv", "train", "--data", str(synth_data), "--model", "tiny-random", "--out", "run"]
    words += ["--steps", "40", "--batch-size", "1", "--checkpoint-every", "4", "--validation-videos", "0"]
    words += ["--lr", "1e-3"]
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    reference = _run(words, tmp_path / "a")
    assert reference.returncode == 0, reference.stderr[-2000:]
    checkpoints = tmp_path / "b" / "run" / "checkpoints"
    ready = lambda: checkpoints.is_dir() and len(list(checkpoints.glob("step-*"))) >= point  # noqa: E731
    stderr = _stop(words, tmp_path / "b", ready, how)
    hint = _continue(stderr, words, how, ["--resume", "latest"], tmp_path / "b")
    assert "--out run" in hint and "--steps 40" in hint and hint.endswith("--resume latest")
    weights = lambda root: {  # noqa: E731
        k: v for k, v in _files(root / "run" / "model").items() if k.endswith(".safetensors")
    }
    assert weights(tmp_path / "b") == weights(tmp_path / "a") and weights(tmp_path / "a")


def test_story_resume_with_nothing_to_resume_refuses_a_finished_video(tmp_path, monkeypatch):
    """`--resume` with no partial render behaves as the command without it: a finished video is not
    replaced unless --force is given."""
    monkeypatch.chdir(tmp_path)
    board = tmp_path / "s.yaml"
    board.write_text("model: tiny-random\nsteps: 1\nsegments:\n  - prompt: a red ball\n    frames: 2\n")
    (tmp_path / "done.mp4").write_bytes(b"a finished video")
    result = CliRunner().invoke(app, ["story", str(board), "-o", "done.mp4", "--resume"])
    assert result.exit_code == 2, result.output
    assert "nothing to resume for done.mp4" in result.stderr and "--force" in result.stderr
    assert (tmp_path / "done.mp4").read_bytes() == b"a finished video"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done.mp4", "s.yaml"]
    result = CliRunner().invoke(app, ["story", str(board), "-o", "done.mp4", "--resume", "--force"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "done.mp4").read_bytes() != b"a finished video"


def test_batch_resume_with_nothing_to_resume_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.txt").write_text("a red ball\n")
    args = ["batch", "p.txt", "--out", "v", "--model", "tiny-random", "--steps", "1", "--frames", "2"]
    result = CliRunner().invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    assert "nothing to resume in v" in result.stderr
    assert len(list((tmp_path / "v").glob("*.mp4"))) == 1
