"""Captions in many phrasings, the scorer that reads them, and the trainer's base stage."""

import re

import numpy as np
import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.data.captions import parse_free, vocabulary
from artv_cli.engine.data.synth import SynthSettings, design_video, draw_frame, ground_truth
from artv_cli.engine.evaluation.worldscore import WorldScorer, parse_prompt, summarise

WORLD = dict(frames=16, max_objects=1, cameras=("static",), patterns=("plain",), holdout=8)


def videos(split: str, captions: str, n: int = 48, seed: int = 3):
    settings = SynthSettings(videos=n, seed=seed, split=split, captions=captions, **WORLD)
    return settings, [ground_truth(design_video(i, settings), settings) for i in range(n)]


def score(settings, video, prompt=None, frames=None):
    scorer = WorldScorer(parse_prompt(prompt or video.caption))
    for frame in frames if frames is not None else (draw_frame(video, f, settings) for f in range(16)):
        scorer.add(frame)
    return scorer.result()


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


@pytest.mark.parametrize("captions", ["grammar", "varied"])
def test_the_scorer_scores_ground_truth_videos_right_on_every_column(captions):
    settings, drawn = videos("test", captions, n=24)
    summary = summarise([score(settings, v) for v in drawn])
    for column in ("colour", "shape", "direction", "speed", "background"):
        assert summary[f"{column}_accuracy"] >= 0.98, (column, summary)
    assert summary["identity_rate"] >= 0.98 and summary["slow_moving_rate"] == 1
    assert summary["max_background_shift"] < 1


def test_the_scorer_catches_a_wrong_background_speed_and_a_frozen_object():
    settings, drawn = videos("test", "grammar", n=12)
    video = next(v for v in drawn if v.objects[0].speed == "slowly")
    other = "teal" if video.tones[0] != "teal" else "grey"
    wrong = video.caption.replace(f"plain {video.tones[0]}", f"plain {other}").replace("slowly", "quickly")
    result = score(settings, video, wrong)
    assert result["background_ok"] is False and result["objects"][0]["speed_ok"] is False
    frozen = [draw_frame(video, 0, settings)] * 16
    obj = score(settings, video, frames=frozen)["objects"][0]
    assert obj["moving"] is False and obj["direction_ok"] is False and obj["colour_ok"] is True


def test_synth_cli_writes_varied_captions_and_refuses_unknown_styles(tmp_path):
    args = ["data", "synth", tmp_path / "w", "--videos", 6, "--frames", 4, "--max-objects", 1]
    args += ["--cameras", "static", "--patterns", "plain", "--captions", "varied"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    bad = CliRunner().invoke(app, ["data", "synth", str(tmp_path / "x"), "--captions", "poetic"])
    assert bad.exit_code == 2 and "--captions" in bad.output


def test_base_stage_trains_phi_dynamic_as_text_to_image_and_leaves_the_art_v_parts(synth_data, tmp_path):
    run = tmp_path / "base"
    args = ["train", "--data", synth_data, "--model", "tiny-random", "--out", run, "--stage", "base"]
    args += [
        "--steps",
        6,
        "--batch-size",
        2,
        "--lr",
        "1e-3",
        "--validation-videos",
        0,
        "--train-text-encoder",
    ]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    from artv_cli.engine.model.artv import ARTVModel

    fresh = ARTVModel.random("tiny", seed=0)
    unet = load_file(run / "model" / "unet" / "diffusion_pytorch_model.safetensors")
    mask = load_file(run / "model" / "mask_unet" / "diffusion_pytorch_model.safetensors")
    before = fresh.unet.state_dict()
    assert not np.allclose(unet["conv_in.weight"].numpy(), before["conv_in.weight"].numpy())
    # the ART-V additions stay at zero and Phi_mask as it was: ART-V starts from this exactly as from SD
    assert all(float(v.abs().max()) == 0 for k, v in unet.items() if "to_v_ip" in k)
    assert all(float(v.abs().max()) == 0 for k, v in unet.items() if k.startswith("class_embedding.linear_2"))
    for key, value in fresh.mask_unet.state_dict().items():
        assert np.array_equal(mask[key].numpy(), value.numpy()), key


def test_first_step_share_makes_frame_one_targets_as_often_as_asked(tmp_path):
    from artv_cli.engine.data.datasets import sample_indices
    from artv_cli.engine.training.trainer import StepSampler, TrainConfig

    config = TrainConfig(data=tmp_path, model="tiny-random", out=tmp_path, steps=200, batch_size=8)
    config.first_step_share = 0.5
    targets = [sample_indices(16, u, a, 10)[0] for batch in StepSampler(config, 5, 0, 0) for _, u, a in batch]
    share = np.mean(np.array(targets) == 1)
    assert 0.45 < share < 0.6  # 0.5 asked, plus the uniform draws that land on frame 1 anyway
    config.first_step_share = 0.0
    plain = [sample_indices(16, u, a, 10)[0] for batch in StepSampler(config, 5, 0, 0) for _, u, a in batch]
    assert np.mean(np.array(plain) == 1) < 0.15
