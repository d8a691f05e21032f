"""`--guidance-rescale`: one row of the settings table plus one step of the frame loop, and every way in
(option, storyboard key, batch column, sidecar) comes from the row."""

import json

import numpy as np
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.data.video import read_video

ARGS = ["generate", "a red circle moves right", "--model", "tiny-random", "--frames", "3", "--steps", "2"]


def render(tmp_path, name, *extra):
    result = CliRunner().invoke(app, [*ARGS, "--seed", "4", "-o", str(tmp_path / name), *extra])
    assert result.exit_code == 0, result.output
    return read_video(tmp_path / name)[0], json.loads((tmp_path / name).with_suffix(".json").read_text())


def test_zero_is_the_render_without_it_and_a_value_changes_the_frames_and_is_recorded(tmp_path):
    plain, _ = render(tmp_path, "plain.mp4")
    zero, _ = render(tmp_path, "zero.mp4", "--guidance-rescale", "0")
    rescaled, record = render(tmp_path, "rescaled.mp4", "--guidance-rescale", "0.7")
    assert all(np.array_equal(a, b) for a, b in zip(plain, zero, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(plain, rescaled, strict=True))
    assert record["settings"]["guidance_rescale"] == 0.7


def test_out_of_range_values_are_refused_the_same_way_from_the_option_a_storyboard_and_a_batch_row(tmp_path):
    bad = CliRunner().invoke(app, [*ARGS, "--guidance-rescale", "1.5", "-o", str(tmp_path / "v.mp4")])
    assert bad.exit_code == 2 and "--guidance-rescale must be from 0 to 1 (got 1.5)" in bad.stderr
    board = tmp_path / "s.yaml"
    board.write_text("model: tiny-random\nguidance_rescale: 2\nsegments:\n  - {prompt: a ball, frames: 2}\n")
    story = CliRunner().invoke(app, ["story", str(board), "--dry-run"])
    assert story.exit_code == 2 and "guidance_rescale" in story.stderr and "from 0 to 1" in story.stderr
    rows = tmp_path / "rows.csv"
    rows.write_text("prompt,guidance_rescale\na ball,0.5\nanother ball,-1\n")
    batch = CliRunner().invoke(
        app, ["batch", str(rows), "--out", str(tmp_path / "b"), "--model", "tiny-random"]
    )
    assert batch.exit_code == 2 and "rows.csv:3" in batch.stderr and "from 0 to 1" in batch.stderr
    assert not (tmp_path / "v.mp4").exists() and not (tmp_path / "b").exists()
