"""The subject lock (`--subject-lock`, step 7): the subject's colour held at the anchor's subject's."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.sampling.colours import colour_targets, shift_colours


def frame(background, subject, box=(20, 36, 24, 40), size=64):
    pixels = np.empty((size, size, 3), np.uint8)
    pixels[:] = background
    top, bottom, left, right = box
    pixels[top:bottom, left:right] = subject
    return pixels


def test_colour_targets_are_the_median_and_the_subjects_colour_or_nan_without_a_subject():
    targets = colour_targets(np.stack([frame(128, (220, 30, 30)), frame(128, 128)]))
    assert targets.shape == (2, 2, 3)
    assert np.array_equal(targets[0], [[128, 128, 128], [220, 30, 30]])
    assert np.array_equal(targets[1, 0], [128, 128, 128]) and np.isnan(targets[1, 1]).all()


def test_shift_colours_moves_the_subject_to_the_anchors_subject_and_leaves_the_rest_to_the_colour_lock():
    anchor = colour_targets(frame(110, (220, 30, 30))[None])
    drifted = frame(128, (200, 60, 60), box=(8, 24, 30, 46))[None]  # moved, background and subject drifted
    both = colour_targets(shift_colours(drifted, anchor, 1.0, 1.0))
    assert np.abs(both[0] - anchor[0]).max() <= 0.5
    background_only = shift_colours(drifted, anchor, 1.0, 0.0)
    assert np.array_equal(colour_targets(background_only)[0, 1], [182, 42, 42])  # shifted with the frame
    half = colour_targets(shift_colours(drifted, anchor, 1.0, 0.5))[0, 1]
    assert np.abs(half - [201, 36, 36]).max() <= 0.5  # half of the remaining way
    # off: the pixels as they were; a frame without a subject, or an anchor without one: the lock alone
    assert np.array_equal(shift_colours(drifted, anchor, 0.0, 0.0), drifted)
    empty = frame(128, 128)[None]
    assert np.array_equal(shift_colours(empty, anchor, 1.0, 1.0), shift_colours(empty, anchor, 1.0, 0.0))
    plain_anchor = colour_targets(frame(110, 110)[None])
    assert np.array_equal(shift_colours(drifted, plain_anchor, 1.0, 1.0), background_only)


def test_the_subject_lock_holds_the_subject_colour_in_every_rendered_frame():
    """Through the frame loop, with the test autoencoder that maps pixels to latents and back: every frame
    after the anchor in which a subject is found has about the picture's subject colour (noisy frames: a
    subject found anew after the shift includes a few pixels of its soft edge)."""
    import torch

    from artv_cli.engine.model.artv import ARTVModel
    from artv_cli.engine.sampling.loop import SampleSettings, render
    from tests.sampling.test_loop import pixel_vae

    model = pixel_vae(ARTVModel.random("tiny", seed=0).eval())
    picture = frame(110, (150, 90, 200), box=(20, 44, 24, 48))
    given = torch.from_numpy(picture).permute(2, 0, 1)[None].float() / 127.5 - 1

    def subject_colours(lock):
        settings = SampleSettings(frames=5, steps=2, seed=1, colour_lock=1.0, subject_lock=lock)
        return colour_targets(np.stack(list(render(model, "a ball", settings, given))[1:]))[:, 1]

    free, locked = subject_colours(0.0), subject_colours(1.0)
    found = ~np.isnan(locked).any(axis=1)
    assert found.any()
    assert np.abs(locked[found] - [150, 90, 200]).max() <= 20, locked
    assert np.nanmax(np.abs(free - [150, 90, 200])) > 8, free  # there was a drift to hold


@pytest.mark.parametrize("value", ["1.5", "-0.1"])
def test_a_subject_lock_out_of_range_is_refused_naming_the_fix(tmp_path, value):
    result = CliRunner().invoke(app, ["generate", "a red ball", "-o", str(tmp_path / "v.mp4"),
                                      "--subject-lock", value])  # fmt: skip
    assert result.exit_code != 0
    assert "--subject-lock" in result.output and "0 for off" in result.output
    assert not (tmp_path / "v.mp4").exists()


def test_animate_with_the_subject_lock_keeps_an_off_palette_pictures_colour_and_records_it(tmp_path):
    """The default model draws the palette's colour the words name; with --subject-lock 1 the object keeps
    the picture's own (off-palette) colour in every frame where it is found."""
    picture = frame((104, 104, 104), (150, 90, 200), box=(26, 38, 26, 38))
    Image.fromarray(picture).save(tmp_path / "ball.png")
    args = ["animate", str(tmp_path / "ball.png"), "a magenta circle moves right", "--frames", "6"]
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "v.mp4"), "--subject-lock", "1",
                                      "--frames-dir", str(tmp_path / "frames")])  # fmt: skip
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "v.json").read_text())
    assert sidecar["settings"]["subject_lock"] == 1.0
    frames = np.stack(
        [np.asarray(Image.open(p).convert("RGB")) for p in sorted((tmp_path / "frames").glob("*.png"))]
    )
    subject = colour_targets(frames[1:])[:, 1]
    found = ~np.isnan(subject).any(axis=1)
    assert found.sum() >= 3, subject
    assert np.abs(subject[found] - [150, 90, 200]).max() <= 20, subject
