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


def test_colour_targets_are_the_median_and_the_subjects_colour_and_share_or_nan_without_a_subject():
    targets = colour_targets(np.stack([frame(128, (220, 30, 30)), frame(128, 128)]))
    assert targets.shape == (2, 2, 4)
    assert np.array_equal(targets[0], [[128, 128, 128, 1], [220, 30, 30, 256 / 4096]])
    assert np.array_equal(targets[1, 0], [128, 128, 128, 1]) and np.isnan(targets[1, 1]).all()
    # a soft edge (half way to the background) does not pull the subject's colour towards the background
    soft = frame(128, (174, 79, 79), box=(18, 38, 22, 42))
    soft[20:36, 24:40] = (220, 30, 30)
    assert np.array_equal(colour_targets(soft[None])[0, 1, :3], [220, 30, 30])


def test_shift_colours_moves_the_subject_to_the_anchors_subject_and_leaves_the_rest_to_the_colour_lock():
    anchor = colour_targets(frame(110, (220, 30, 30))[None])
    drifted = frame(128, (200, 60, 60), box=(8, 24, 30, 46))[None]  # moved, background and subject drifted
    both = colour_targets(shift_colours(drifted, anchor, 1.0, 1.0))
    assert np.abs(both[0] - anchor[0]).max() <= 0.5
    background_only = shift_colours(drifted, anchor, 1.0, 0.0)
    assert np.array_equal(colour_targets(background_only)[0, 1, :3], [182, 42, 42])  # shifted with the frame
    half = colour_targets(shift_colours(drifted, anchor, 1.0, 0.5))[0, 1, :3]
    assert np.abs(half - [201, 36, 36]).max() <= 0.5  # half of the remaining way
    # off: the pixels as they were; a frame without a subject, or an anchor without one: the lock alone
    assert np.array_equal(shift_colours(drifted, anchor, 0.0, 0.0), drifted)
    empty = frame(128, 128)[None]
    assert np.array_equal(shift_colours(empty, anchor, 1.0, 1.0), shift_colours(empty, anchor, 1.0, 0.0))
    plain_anchor = colour_targets(frame(110, 110)[None])
    assert np.array_equal(shift_colours(drifted, plain_anchor, 1.0, 1.0), background_only)


def test_a_fading_trace_is_recoloured_in_proportion_not_made_solid():
    anchor = colour_targets(frame(128, (220, 30, 30))[None])
    now = frame(128, (200, 60, 60), box=(8, 24, 30, 46))
    now[40:44, 10:14] = (164, 94, 94)  # a trace half way from the background to the subject
    out = shift_colours(now[None], anchor, 0.0, 1.0)[0].astype(int)
    assert np.array_equal(out[12, 35], [220, 30, 30])  # the subject: all the way
    assert np.array_equal(out[42, 12], [174, 79, 79])  # the trace: half the way, still half covered
    assert np.array_equal(out[2, 2], [128, 128, 128])  # the background: not at all


def test_a_frame_where_far_more_than_the_subject_stands_out_is_left_to_the_colour_lock():
    """A background that drifts in a large patch would otherwise be recoloured as the subject and grow."""
    anchor = colour_targets(frame(128, (240, 240, 240), box=(28, 36, 28, 36))[None])  # 64 pixels
    patch = frame(128, (200, 190, 180), box=(0, 32, 0, 32))  # 1,024 pixels stand out: 16 times as many
    assert np.array_equal(shift_colours(patch[None], anchor, 0.0, 1.0)[0], patch)


def test_a_frame_whose_only_subject_is_a_faint_ghost_is_left_to_the_colour_lock():
    """Once the subject has left, a faint patch (under half the anchor's contrast) must not be made the
    subject's colour: the next frames would grow it."""
    anchor = colour_targets(frame((28, 94, 95), (210, 49, 199))[None])
    ghost = frame((28, 94, 95), (70, 81, 137), box=(56, 64, 0, 20))  # 0.29 of the way, bluish
    assert np.array_equal(shift_colours(ghost[None], anchor, 0.0, 1.0)[0], ghost)
    strong = frame((28, 94, 95), (150, 60, 200), box=(56, 64, 0, 20))  # the subject drawn in another hue
    assert (
        np.abs(colour_targets(shift_colours(strong[None], anchor, 0.0, 1.0))[0, 1, :3] - [210, 49, 199]).max()
        <= 1
    )


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
    args = [
        "animate",
        str(tmp_path / "ball.png"),
        "a magenta circle moves right",
        "--frames",
        "6",
        "--seed",
        "0",
    ]
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "v.mp4"), "--subject-lock", "1",
                                      "--frames-dir", str(tmp_path / "frames")])  # fmt: skip
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "v.json").read_text())
    assert sidecar["settings"]["subject_lock"] == 1.0
    frames = np.stack(
        [np.asarray(Image.open(p).convert("RGB")) for p in sorted((tmp_path / "frames").glob("*.png"))]
    )
    subject = colour_targets(frames[1:])[:, 1, :3]
    found = ~np.isnan(subject).any(axis=1)
    assert found.sum() >= 3, subject
    assert np.abs(subject[found] - [150, 90, 200]).max() <= 20, subject
