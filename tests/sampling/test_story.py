"""`artv story`: validation with line numbers, chaining, interrupt and resume, shipped storyboards."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.data.video import read_video
from artv_cli.engine.sampling.story import render_story
from artv_cli.engine.sampling.storyboard import load_storyboard, plan_segments, resolved
from artv_cli.errors import ArtvError

ROOT = Path(__file__).resolve().parents[2]


def invoke(args, **kwargs):
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


THREE = """\
model: tiny-random
size: 64
fps: 8
seed: 5
steps: 2
noise_level: 0
segments:
  - prompt: a red circle moves right slowly
    frames: 3
  - prompt: a red circle moves down slowly
    frames: 2
    transition: 1
  - prompt: a blue square moves up quickly
    seconds: 0.25
    reanchor: true
output:
  path: story.mp4
"""


@pytest.mark.parametrize("path", sorted((ROOT / "storyboards").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_storyboard_loads_and_validates(path):
    board = load_storyboard(path)
    assert board.segments and all(s.prompt for s in board.segments)
    planned = plan_segments(board, path.parent)
    assert sum(p.frames for p in planned) >= 24
    result = invoke(["story", path, "--dry-run"])
    assert result.exit_code == 0, result.output


def test_shipped_storyboards_show_keyframes_reanchoring_and_transitions():
    boards = [load_storyboard(p) for p in sorted((ROOT / "storyboards").glob("*.yaml"))]
    segments = [s for b in boards for s in b.segments]
    assert any(s.image for s in segments) and any(s.reanchor for s in segments)
    assert any(s.transition for s in segments) and (ROOT / "storyboards" / "demo.yaml").is_file()


def test_every_problem_is_reported_at_once_with_its_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "size: 64\n"  # 1
        "colour: red\n"  # 2  unknown key
        "fps: fast\n"  # 3  wrong type
        "segments:\n"  # 4
        "  - prompt: a ball\n"  # 5
        "    frames: -3\n"  # 6  impossible length
        "    transition: 2\n"  # 7  nothing to blend from
        "  - frames: 4\n"  # 8  no prompt
        "  - prompt: twice\n"  # 9
        "    frames: 4\n"  # 10
        "    seconds: 1\n"  # 11 both lengths
        "    image: nowhere.png\n"  # 12 missing file
        "    zoom: 2\n"  # 13 unknown segment key
        "    colour_lock: 1.5\n"  # 14 out of range
        "output:\n"  # 15
        "  path: story.avi\n"  # 16 not mp4
    )
    result = invoke(["story", bad])
    assert result.exit_code == 2, result.output
    text = result.stderr
    expected = [
        f"{bad}:2: colour: unknown key",
        f"{bad}:3: fps: expected a whole number or a number, got 'fast'",
        f"{bad}:6: segments[0].frames: must be at least 1 (got -3)",
        f"{bad}:7: segments[0].transition: the first segment has no previous prompt",
        f"{bad}:8: segments[1].prompt: missing",
        f"{bad}:11: segments[2].seconds: give frames or seconds, not both",
        f"{bad}:12: segments[2].image: no such file",
        f"{bad}:13: segments[2].zoom: unknown key",
        f"{bad}:14: segments[2].colour_lock: must be from 0 to 1 (got 1.5)",
        f"{bad}:16: output.path: the video is written as MP4",
    ]
    for line in expected:
        assert line in text, (line, text)
    assert "10 problems" in text and "fix:" in text
    assert not (tmp_path / "story.mp4").exists()


def test_yaml_syntax_errors_and_missing_files_name_the_line_or_the_fix(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("segments:\n  - prompt: [unclosed\n")
    result = invoke(["story", broken])
    assert result.exit_code == 2 and f"{broken}:" in result.stderr and "not valid YAML" in result.stderr
    missing = invoke(["story", tmp_path / "none.yaml"])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text("fps: 8\n")
    assert "segments: missing" in invoke(["story", empty]).stderr


def test_dry_run_prints_the_plan_and_renders_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "three.yaml").write_text(THREE)
    result = invoke(["story", "three.yaml", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "storyboard: 3 segments, 64x64 at 8 fps, model tiny-random"
    assert "a blue square moves up quickly [re-anchor]" in result.stdout
    assert "[transition 1]" in result.stdout
    assert "total: 7 frames, 0.88 s of video, 14 denoising steps" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["three.yaml"]


def test_dry_run_sheet_shows_each_segment_s_first_frames_with_its_prompt(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    (tmp_path / "three.yaml").write_text(THREE)
    result = invoke(["story", "three.yaml", "--dry-run", "--sheet", "plan.png"])
    assert result.exit_code == 0, result.output
    assert "wrote the sheet of 3 segments to plan.png" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.png", "three.yaml"]  # no video
    sheet = np.asarray(Image.open("plan.png").convert("RGB")).astype(int)
    assert sheet.shape == (3 * (128 + 28), 3 * 128, 3)  # a row per segment: 3 frames (2 for segment 3)
    assert (sheet[2 * 156 : 2 * 156 + 128, 2 * 128 :] == 255).all()  # segment 3 has 2 frames: blank
    assert (sheet[128:156].min(axis=2) < 128).any()  # the prompt, written under the first row
    again = invoke(["story", "three.yaml", "--dry-run", "--sheet", "plan.png"])
    assert again.exit_code == 2 and "--force" in again.stderr
    for args, words in ((["--sheet", "x.png"], "--dry-run"), (["--dry-run", "--sheet", "x.jpg"], "PNG")):
        bad = invoke(["story", "three.yaml", *args])
        assert bad.exit_code == 2 and words in bad.stderr, bad.output


def test_a_story_renders_its_summed_frames_and_chains_the_references(tiny_model, tmp_path, monkeypatch):
    """Segment 2's first frame is conditioned on the last two latents of segment 1 (noise level 0: exact)."""
    (tmp_path / "three.yaml").write_text(THREE)
    board = load_storyboard(tmp_path / "three.yaml")
    planned = plan_segments(board, tmp_path)
    record = {"storyboard": resolved(board, planned, (64, 64), "tiny-random")}
    calls, boundaries = [], []
    original = tiny_model.cond.reference_features

    def spy(refs):
        calls.append(refs.detach().clone())
        return original(refs)

    monkeypatch.setattr(tiny_model.cond, "reference_features", spy)
    out = tmp_path / "story.mp4"

    def on_segment(index, path):
        state = torch.load(tmp_path / ".story.mp4.story" / "state.pt", weights_only=True)
        boundaries.append((len(calls), state))

    render_story(tiny_model, board, planned, (64, 64), out, record, on_segment=on_segment)
    frames, _ = read_video(out)
    assert len(frames) == 3 + 2 + 2
    after_first, state = boundaries[0]
    first_refs = next(c for c in calls[after_first:] if c.abs().sum() > 0)  # the blank call comes first
    torch.testing.assert_close(first_refs, torch.cat([state["prev"], state["prev2"]], dim=1), rtol=0, atol=0)
    assert state["frames_done"] == 3
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["complete"] is True and [s["frames"] for s in sidecar["storyboard"]["segments"]] == [
        3,
        2,
        2,
    ]
    assert not (tmp_path / ".story.mp4.story").exists()


@pytest.mark.parametrize(
    "locks",
    ["", "colour_lock: 1\nsubject_lock: 1\nbackground_lock: 1\nshape_lock: 1\n"],
    ids=["plain", "locks"],
)
def test_interrupted_story_is_playable_and_resumes_to_the_same_frames(tmp_path, monkeypatch, request, locks):
    """With the four locks on, too (their decode and encode in every frame of every segment, and the
    background lock's target and the shape lock's anchor carried across the interruption)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "three.yaml").write_text(THREE.replace("noise_level: 0\n", "noise_level: 0\n" + locks))
    straight = invoke(["story", "three.yaml", "-o", "straight.mp4"])
    assert straight.exit_code == 0, straight.output

    real_loop = request.getfixturevalue("ctrl_c_in_segment_2")  # Ctrl-C in the middle of segment 2
    stopped = invoke(["story", "three.yaml", "-o", "resumed.mp4"])
    assert stopped.exit_code == 130
    assert "holds the first 1 of 3 segments" in stopped.stderr and "--resume" in stopped.stderr
    assert len(read_video(tmp_path / "resumed.mp4")[0]) == 3  # playable: segment 1
    assert json.loads((tmp_path / "resumed.json").read_text())["complete"] is False
    real_loop()

    again = invoke(["story", "three.yaml", "-o", "resumed.mp4"])
    assert again.exit_code == 2 and "--resume" in again.stderr  # never silently thrown away
    resumed = invoke(["story", "three.yaml", "-o", "resumed.mp4", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    a, b = read_video(tmp_path / "straight.mp4")[0], read_video(tmp_path / "resumed.mp4")[0]
    assert len(a) == len(b) == 7
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not (tmp_path / ".resumed.mp4.story").exists()


def test_a_changed_storyboard_is_not_resumed_into_the_old_render(tmp_path, monkeypatch, tiny_model):
    (tmp_path / "three.yaml").write_text(THREE)
    board = load_storyboard(tmp_path / "three.yaml")
    planned = plan_segments(board, tmp_path)
    out = tmp_path / "story.mp4"

    def stop(index, path):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        record = {"storyboard": resolved(board, planned, (64, 64), "tiny-random")}
        render_story(tiny_model, board, planned, (64, 64), out, record, on_segment=stop)
    same = {"storyboard": resolved(board, planned, (64, 64), "tiny-random")}
    with pytest.raises(ArtvError, match="different storyboard"):  # the --fast settings a storyboard lacks
        render_story(tiny_model, board, planned, (64, 64), out, same, resume=True, speed={"mask_every": 2})
    planned[2].seed += 1
    changed = {"storyboard": resolved(board, planned, (64, 64), "tiny-random")}
    with pytest.raises(ArtvError, match="different storyboard"):
        render_story(tiny_model, board, planned, (64, 64), out, changed, resume=True)


def test_the_sidecar_renders_the_same_video_again(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "examples" / "red-ball.png", tmp_path / "ball.png")
    (tmp_path / "kf.yaml").write_text(
        "model: tiny-random\nsteps: 1\nseed: 2\nbase_prompt: 'toy'\nsegments:\n"
        "  - {prompt: a ball, image: ball.png, frames: 2}\n  - {prompt: it rolls, frames: 2}\n"
        "output: {path: first.mp4, gif: true, frames_dir: pngs}\n"
    )
    first = invoke(["story", "kf.yaml"])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "first.gif").stat().st_size > 0 and len(list((tmp_path / "pngs").glob("*.png"))) == 4
    sidecar = json.loads((tmp_path / "first.json").read_text())
    assert sidecar["storyboard"]["segments"][0]["prompt"] == "toy a ball"
    shutil.rmtree(tmp_path / "pngs")
    second = invoke(["story", "first.json", "-o", "second.mp4"])
    assert second.exit_code == 0, second.output
    a, b = read_video(tmp_path / "first.mp4")[0], read_video(tmp_path / "second.mp4")[0]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)) and len(a) == 4
