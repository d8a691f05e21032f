"""Captions in many phrasings: the ground truth stays, train and test phrasings are disjoint, all parse."""

import re

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
