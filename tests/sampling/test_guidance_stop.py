"""`--guidance-stop`: the guidance branches only for the first, noisiest share of each frame's steps; one
row of the settings table, one change in the frame loop's step 6."""

import json

import numpy as np
import torch
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.sampling.loop import RenderState, SampleSettings, render


def image():
    return torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1


def frames_and_state(model, **settings):
    state = RenderState()
    settings = SampleSettings(frames=3, steps=4, seed=1, **settings)
    frames = list(render(model, "a ball", settings, image=image(), state=state))
    return frames, state


def test_stop_one_is_the_plain_render_and_zero_is_the_full_branch_alone(tiny_model):
    plain, plain_state = frames_and_state(tiny_model)
    every, _ = frames_and_state(tiny_model, guidance_stop=1.0)
    never, never_state = frames_and_state(tiny_model, guidance_stop=0.0)
    unguided, _ = frames_and_state(tiny_model, guidance_text=0, guidance_ref=0, guidance_anchor=0)
    assert all(np.array_equal(a, b) for a, b in zip(plain, every, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(never, unguided, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(plain, never, strict=True))
    # 2 frames x 4 steps x (full, no text, no ref, no anchor), against the full branch alone
    assert plain_state.counters["unet_rows"] == 2 * 4 * 4 and never_state.counters["unet_rows"] == 2 * 4


def test_half_guides_the_first_half_of_the_steps_and_is_in_between(tiny_model):
    plain, _ = frames_and_state(tiny_model)
    never, _ = frames_and_state(tiny_model, guidance_stop=0.0)
    half, state = frames_and_state(tiny_model, guidance_stop=0.5)
    assert state.counters["unet_rows"] == 2 * (2 * 4 + 2 * 1)
    assert state.counters["mask_rows"] == 2 * (2 * 3 + 2 * 1)  # no-ref rows have no static path
    assert not any(np.array_equal(half[i], other[i]) for other in (plain, never) for i in (1, 2))
    # with the mask reused between steps, the switch recomputes it for the fewer rows
    sparse, sparse_state = frames_and_state(tiny_model, guidance_stop=0.5, mask_every=4)
    assert len(sparse) == 3 and sparse_state.counters["mask_rows"] == 2 * (3 + 1)


ARGS = ["generate", "a red circle moves right", "--model", "tiny-random", "--frames", "3", "--steps", "4"]


def test_the_option_is_recorded_and_bad_values_are_refused_from_every_way_in(tmp_path):
    out = tmp_path / "v.mp4"
    result = CliRunner().invoke(app, [*ARGS, "--guidance-stop", "0.5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.with_suffix(".json").read_text())["settings"]["guidance_stop"] == 0.5
    bad = CliRunner().invoke(app, [*ARGS, "--guidance-stop", "2", "-o", str(tmp_path / "bad.mp4")])
    assert bad.exit_code == 2 and "--guidance-stop must be from 0 to 1 (got 2)" in bad.stderr
    board = tmp_path / "s.yaml"
    board.write_text("model: tiny-random\nsegments:\n  - {prompt: a ball, frames: 2, guidance_stop: -1}\n")
    story = CliRunner().invoke(app, ["story", str(board), "--dry-run"])
    assert story.exit_code == 2 and "guidance_stop" in story.stderr and "from 0 to 1" in story.stderr
    assert not (tmp_path / "bad.mp4").exists()
