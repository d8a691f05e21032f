"""Captions in many phrasings: the ground truth stays, train and test phrasings are disjoint, all parse."""

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.data.captions import parse_free, vocabulary
from artv_cli.engine.data.synth import SynthSettings, design_video, ground_truth

WORLD = dict(frames=16, max_objects=1, cameras=("static",), patterns=("plain",), holdout=8)


def videos(split: str, captions: str, n: int = 48, seed: int = 3):
    settings = SynthSettings(videos=n, seed=seed, split=split, captions=captions, **WORLD)
    return settings, [ground_truth(design_video(i, settings), settings) for i in range(n)]


def test_varied_captions_keep_the_video_and_use_disjoint_phrasings_of_known_words():
    _, grammar = videos("train", "grammar")
    _, train = videos("train", "varied")
    _, test = videos("test", "varied")
    # the same videos, only the words differ
    assert [v.objects[0].positions for v in grammar] == [v.objects[0].positions for v in train]
    assert len({v.caption for v in train}) > 30 and any(
        v.caption == g.caption for v, g in zip(train, grammar, strict=True)
    )
    # test phrasings are never training phrasings, but every word of them is a word the world knows
    known = vocabulary()
    for video in test:
        assert set(re.findall(r"[a-z]+", video.caption.lower())) <= known, video.caption
    assert not {v.caption for v in test} & {v.caption for v in train}


def test_the_free_parser_reads_every_phrasing_exactly():
    for split in ("train", "test"):
        _, drawn = videos(split, "varied")
        for video in drawn:
            obj = video.objects[0]
            found = parse_free(video.caption)
            assert (found.colour, found.shape, found.direction) == (obj.colour, obj.shape, obj.direction)
            assert found.speed in (None, obj.speed) and found.background in (None, video.tones[0])
    assert parse_free("waves crash on a beach") is None
    assert parse_free("A RED BALL, heading towards the top left, FAST!").direction == "up and to the left"


def test_synth_cli_writes_varied_captions_and_refuses_unknown_styles(tmp_path):
    args = ["data", "synth", tmp_path / "w", "--videos", 6, "--frames", 4, "--max-objects", 1]
    args += ["--cameras", "static", "--patterns", "plain", "--captions", "varied"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    bad = CliRunner().invoke(app, ["data", "synth", str(tmp_path / "x"), "--captions", "poetic"])
    assert bad.exit_code == 2 and "--captions" in bad.output


def test_jitter_draws_off_the_palette_and_records_it_and_zero_changes_nothing(tmp_path):
    from artv_cli.engine.data.synth import draw_frame
    from artv_cli.engine.data.world import BACKGROUND_TONES, COLOURS

    plain, _ = videos("train", "grammar", n=12)
    base = [ground_truth(design_video(i, plain), plain) for i in range(12)]
    jittered_settings = SynthSettings(videos=12, seed=3, jitter=30, **WORLD)
    jittered = [ground_truth(design_video(i, jittered_settings), jittered_settings) for i in range(12)]
    for a, b in zip(base, jittered, strict=True):
        assert a.caption == b.caption and a.objects[0].positions == b.objects[0].positions
        assert a.objects[0].drawn == COLOURS[a.objects[0].colour]  # jitter 0: the palette itself
        offset = np.abs(np.array(b.objects[0].drawn) - COLOURS[b.objects[0].colour])
        assert offset.max() <= 30
        assert np.abs(np.array(b.drawn_tones[0]) - BACKGROUND_TONES[b.tones[0]]).max() <= 30
    assert len({v.objects[0].drawn for v in jittered}) == 12  # off the palette, each its own
    # the drawn colour is the colour in the frame (corner = background, centre of the object = its colour)
    video = jittered[0]
    frame = draw_frame(video, 0, jittered_settings)
    x, y = (int(round(c)) for c in video.objects[0].positions[0])
    if 0 <= x < 64 and 0 <= y < 64:
        assert np.abs(frame[y, x].astype(int) - video.objects[0].drawn).max() <= 1


def test_unnamed_captions_leave_out_the_look_but_keep_the_motion():
    named = SynthSettings(videos=40, seed=3, **WORLD)
    unnamed = SynthSettings(videos=40, seed=3, unnamed=1.0, **WORLD)
    left_out = {"colour": 0, "shape": 0, "both": 0}
    for i in range(40):
        a, b = design_video(i, named), design_video(i, unnamed)
        obj = a.objects[0]
        assert f" {obj.direction} " in f" {b.caption} " and f" {obj.speed}" in b.caption  # motion stays
        has_colour, has_shape = f"{obj.colour} " in b.caption, f" {obj.shape} " in f" {b.caption}"
        assert not (has_colour and has_shape), b.caption
        left_out["both" if not (has_colour or has_shape) else "colour" if has_shape else "shape"] += 1
    assert all(left_out.values()), left_out  # every kind is drawn
    bad = CliRunner().invoke(app, ["data", "synth", "x", "--unnamed", "2"])
    assert bad.exit_code == 2 and "--unnamed" in bad.output
    bad = CliRunner().invoke(app, ["data", "synth", "x", "--jitter", "100"])
    assert bad.exit_code == 2 and "--jitter" in bad.output


def test_shapes_ring_draws_a_new_shape_the_scorer_tells_apart_and_the_world_stays_the_same():
    from artv_cli.engine.data.synth import draw_frame
    from artv_cli.engine.evaluation.worldscore import WorldScorer, classify_shape, parse_prompt

    settings = SynthSettings(videos=8, seed=4, shapes=("ring",), **WORLD)
    rings = [ground_truth(design_video(i, settings), settings) for i in range(8)]
    assert all(v.objects[0].shape == "ring" and " ring " in v.caption for v in rings)
    seen = []
    for video in rings:  # each ring is scored as a ring, by the scorer that scores every render
        scorer = WorldScorer(parse_prompt(video.caption))
        for frame in range(settings.frames):
            scorer.add(draw_frame(video, frame, settings))
        seen.append(scorer.result()["objects"][0]["shape_seen"])
    assert seen == ["ring"] * 8
    disc = np.zeros((21, 21), bool)
    yy, xx = np.mgrid[:21, :21]
    disc[(yy - 10) ** 2 + (xx - 10) ** 2 <= 64] = True
    assert classify_shape(disc) == "circle"
    disc[(yy - 10) ** 2 + (xx - 10) ** 2 <= 9] = False
    assert classify_shape(disc) == "ring"
    _, before = videos("train", "grammar", n=12)  # the world's own four only, unless asked
    assert {v.objects[0].shape for v in before} <= {"circle", "square", "triangle", "diamond"}
    assert "ring" not in vocabulary()  # a word the default model never saw
    result = CliRunner().invoke(app, ["data", "synth", "x", "--shapes", "ring,star"])
    assert result.exit_code == 2 and "--shapes: unknown" in result.stderr


def test_colours_pink_draws_a_new_colour_the_scorer_tells_apart_and_the_world_stays_the_same(tmp_path):
    from artv_cli.engine.data.synth import draw_frame
    from artv_cli.engine.data.world import ALL_COLOURS, COLOURS
    from artv_cli.engine.evaluation.worldscore import WorldScorer, parse_prompt

    pink = np.array(ALL_COLOURS["pink"])
    assert all(np.abs(pink - np.array(rgb)).max() >= 60 for rgb in COLOURS.values())
    settings = SynthSettings(videos=8, seed=4, colours=("pink",), **WORLD)
    pinks = [ground_truth(design_video(i, settings), settings) for i in range(8)]
    assert all(v.objects[0].colour == "pink" and " pink " in f" {v.caption}" for v in pinks)
    for video in pinks:  # found with its colour by the scorer, and not taken for a palette colour
        frames = [draw_frame(video, f, settings) for f in range(settings.frames)]
        scorer = WorldScorer(parse_prompt(video.caption))
        for frame in frames:
            scorer.add(frame)
        assert scorer.result()["objects"][0]["colour_ok"], video.caption
        for other in ("white", "magenta", "red"):
            scorer = WorldScorer(parse_prompt(video.caption.replace("pink", other)))
            for frame in frames:
                scorer.add(frame)
            assert not scorer.result()["objects"][0]["colour_ok"], (video.caption, other)
    assert parse_free("the pink ball goes up").colour == "pink"
    _, before = videos("train", "grammar", n=12)  # the world's own eight only, unless asked
    assert {v.objects[0].colour for v in before} <= set(COLOURS)
    assert "pink" not in vocabulary()  # a word the default model never saw
    result = CliRunner().invoke(app, ["data", "synth", str(tmp_path / "x"), "--colours", "pink,teal"])
    assert result.exit_code == 2 and "--colours: unknown" in result.stderr and not (tmp_path / "x").exists()
    result = CliRunner().invoke(
        app,
        [
            "data",
            "synth",
            str(tmp_path / "p"),
            "--videos",
            "2",
            "--frames",
            "4",
            "--max-objects",
            "1",
            "--colours",
            "pink",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "pink" in (tmp_path / "p" / "results_synth.csv").read_text()


@pytest.mark.parametrize(
    "option, message",
    [
        (["--videos", "0"], "--videos must be at least 1 (got 0)"),
        (["--frames", "2"], "--frames must be at least 3 (got 2)"),
        (["--size", "20"], "--size must be a multiple of 8, at least 16 (got 20)"),
        (["--fps", "0"], "--fps must be positive (got 0)"),
    ],
)
def test_synth_refuses_sizes_it_cannot_draw_and_writes_nothing(tmp_path, option, message):
    result = CliRunner().invoke(app, ["data", "synth", str(tmp_path / "x"), *option])
    assert result.exit_code == 2 and message in result.stderr and "fix:" in result.stderr
    assert list(tmp_path.iterdir()) == []
