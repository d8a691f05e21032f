"""The embedded default model, and the training pieces that build it and its ablations (issue 5)."""

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.data.video import read_video
from artv_cli.engine.evaluation.worldscore import WorldScorer, parse_prompt

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "artv_cli"
QUICK = ["--model", "tiny-random", "--batch-size", "2", "--lr", "1e-3", "--validation-videos", "0"]


def invoke(args, **kwargs):
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


def example_prompts() -> dict[str, str]:
    lines = (ROOT / "examples" / "prompts.txt").read_text().splitlines()
    return dict(line.split("\t") for line in lines)


# ----- the shipped model -----------------------------------------------------------------------------
def test_default_model_ships_inside_the_package_and_loads_offline(monkeypatch):
    from artv_cli.engine.hub.registry import DEFAULT_MODEL, load_model, resolve_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ref = resolve_model(DEFAULT_MODEL)
    assert ref.name == "default" and ref.folder.is_relative_to(PACKAGE / "models")
    model = load_model(ref, torch.device("cpu"), torch.float32)
    assert model.config.preset == "world64" and model.config.native_size == 64
    assert "training" in model.config.extra and "vae_training" in model.config.extra
    data = [f for f in PACKAGE.rglob("*") if f.is_file() and f.suffix not in (".py", ".pyc")]
    assert sum(f.stat().st_size for f in data) < 50 * 2**20  # the limit on package data


def test_models_lists_the_embedded_default():
    rows = {r["name"]: r for r in json.loads(invoke(["models", "--json"]).stdout)}
    assert rows["default"]["default"] is True and rows["default"]["local"] is True
    assert rows["tiny-random"]["default"] is False


def test_animate_with_no_model_follows_the_prompt_on_a_bundled_example(tmp_path):
    """The README's first command: the scorer finds the asked colour and motion (behaviour, not pixels)."""
    prompt = example_prompts()["red-ball.png"]
    out = tmp_path / "red.mp4"
    result = invoke(["animate", ROOT / "examples" / "red-ball.png", prompt, "--seed", 0, "--out", out])
    assert result.exit_code == 0, result.output
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["model"] == "default" and sidecar["settings"]["frames"] == 16
    scorer = WorldScorer(parse_prompt(prompt))
    frames, _ = read_video(out)
    for frame in frames:
        scorer.add(frame)
    found = scorer.result()["objects"][0]
    assert found["colour_ok"] and found["direction_ok"], found
    assert found["motion_px"][0] > 3  # it moved right by more than a few pixels


def score(prompt: str, video: Path) -> dict:
    scorer = WorldScorer(parse_prompt(prompt))
    frames, _ = read_video(video)
    for frame in frames:
        scorer.add(frame)
    return scorer.result()


GENERATE_PROMPTS = [
    "a blue square moves up quickly, on a plain grey background",  # the examples
    "a green circle moving left",
    "A video of a green ball heading left, on a black backdrop.",  # people's phrasing
    "a yellow triangle moves down slowly, on a plain navy background",
]


def test_generate_with_no_model_draws_the_asked_objects_on_the_asked_backgrounds(tmp_path):
    """Text only, four fixed prompts (grammar and free phrasing), seeds 0-2, 8 frames: the scorer finds the
    asked colour in each, the asked shape and direction in at least two of three videos, and the asked
    background in all but one of those that name one. (The shipped model with its recommended sampler, on
    64 held-out prompts a set at 16 frames: colour 100 / 98 %, shape 89 / 80 %, direction 97 / 86 %,
    background 100 / 100 %, grammar / people. Three seeds, not one: a single seed's four videos moved from
    3 right of 4 to 2 when frame 0's steps went from 6 to 24, which the 128 prompts of the protocol
    measure as better. The second generation followed the direction in 20 % of held-out prompts.)
    """
    shapes, directions, backgrounds = [], [], []
    for seed in range(3):
        for number, prompt in enumerate(GENERATE_PROMPTS):
            out = tmp_path / f"{seed}-{number}.mp4"
            result = invoke(["generate", prompt, "--seed", seed, "--frames", 8, "--out", out])
            assert result.exit_code == 0, result.output
            found = score(prompt, out)
            obj = found["objects"][0]
            assert obj["colour_ok"], (prompt, found)
            shapes.append(obj["shape_ok"])
            directions.append(obj["direction_ok"])
            backgrounds += [found["background_ok"]] if found["background_ok"] is not None else []
    assert sum(shapes) >= 8 and sum(directions) >= 8, (shapes, directions)
    assert sum(backgrounds) >= len(backgrounds) - 1, backgrounds


def test_the_fast_preset_keeps_what_the_scorer_checks(tmp_path):
    """`--fast` (the model folder's measured preset, about 0.3x the time): the README's animation still
    moves the asked way in the asked colour, and text-only videos keep the asked colours and backgrounds."""
    prompt = example_prompts()["red-ball.png"]
    out = tmp_path / "red.mp4"
    result = invoke(
        ["animate", ROOT / "examples" / "red-ball.png", prompt, "--seed", 0, "--fast", "--out", out]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.with_suffix(".json").read_text())["sampling_from"] == "fast"
    obj = score(prompt, out)["objects"][0]
    assert obj["colour_ok"] and obj["direction_ok"] and obj["motion_px"][0] > 3, obj
    backgrounds = []
    for number, prompt in enumerate(GENERATE_PROMPTS):
        out = tmp_path / f"{number}.mp4"
        result = invoke(["generate", prompt, "--seed", 0, "--frames", 8, "--fast", "--out", out])
        assert result.exit_code == 0, result.output
        found = score(prompt, out)
        assert found["objects"][0]["colour_ok"], (prompt, found)
        backgrounds += [found["background_ok"]] if found["background_ok"] is not None else []
    assert sum(backgrounds) >= len(backgrounds) - 1, backgrounds  # as without --fast: one miss of three


# ----- the synthetic world's held-out split ----------------------------------------------------------
def test_holdout_splits_combinations_and_keeps_every_word_in_training():
    from artv_cli.engine.data.synth import COLOURS, DIRECTIONS, SHAPES, SynthSettings, design_video, held_out

    train = SynthSettings(videos=300, max_objects=1, cameras=("static",), patterns=("plain",), holdout=8)
    test = SynthSettings(**{**train.__dict__, "split": "test", "seed": 1})
    seen = [design_video(i, train) for i in range(300)]
    combos = [(o.colour, o.shape, o.direction) for v in seen for o in v.objects]
    assert not any(held_out(*c, 8) for c in combos)
    assert {c[0] for c in combos} == set(COLOURS) and {c[1] for c in combos} == set(SHAPES)
    assert {c[2] for c in combos} == set(DIRECTIONS)
    assert all(v.camera == "static" and v.pattern == "plain" and len(v.objects) == 1 for v in seen)
    for i in range(40):
        obj = design_video(i, test).objects[0]
        assert held_out(obj.colour, obj.shape, obj.direction, 8)
    assert held_out("red", "circle", "right", 8)  # the README's example is a held-out combination


def test_synth_cli_checks_world_options(tmp_path):
    bad = invoke(["data", "synth", tmp_path / "a", "--videos", 2, "--cameras", "static,dolly"])
    assert bad.exit_code == 2 and "--cameras" in bad.stderr and "dolly" in bad.stderr
    bad = invoke(["data", "synth", tmp_path / "b", "--videos", 2, "--split", "test"])
    assert bad.exit_code == 2 and "--holdout" in bad.stderr
    good = invoke(
        ["data", "synth", tmp_path / "c", "--videos", 3, "--frames", 4, "--holdout", 8, "--split", "test"],
        env={"ARTV_PROGRESS_EVERY": "3600"},
    )
    assert good.exit_code == 0, good.output
    # stderr is not a terminal here (as under nohup): plain lines at the start and the end, no live bar
    assert re.findall(r"^videos (\d+/\d+) ", good.stderr, re.M) == ["1/3", "3/3"]
    world = json.loads((tmp_path / "c" / "synth.json").read_text())
    assert world["settings"]["holdout"] == 8 and world["settings"]["split"] == "test"


# ----- the trainer's pieces for a model from scratch --------------------------------------------------
def _weights(folder: Path, part: str) -> dict:
    name = "model.safetensors" if part == "text_encoder" else "diffusion_pytorch_model.safetensors"
    return load_file(folder / part / name)


def test_vae_stage_fits_only_the_autoencoder_and_sets_its_scale(synth_data, tmp_path):
    run = tmp_path / "vae"
    result = invoke(["train", "--data", synth_data, "--out", run, *QUICK, "--stage", "vae", "--steps", 6])
    assert result.exit_code == 0, result.output
    reference = tmp_path / "reference"
    from artv_cli.engine.model.artv import ARTVModel

    ARTVModel.random("tiny", seed=0).save(reference)
    model = run / "model"
    before, after = _weights(reference, "vae"), _weights(model, "vae")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    for part in ("unet", "mask_unet", "text_encoder"):
        a, b = _weights(reference, part), _weights(model, part)
        assert all(torch.equal(a[k], b[k]) for k in a), part
    scale = json.loads((model / "vae" / "config.json").read_text())["scaling_factor"]
    recorded = json.loads((model / "artv_config.json").read_text())["extra"]["vae_training"]
    assert scale == recorded["scaling_factor"] and scale != 0.18215
    again = invoke(
        ["train", "--data", synth_data, "--out", run, *QUICK, "--stage", "vae", "--resume", "latest"]
    )
    assert again.exit_code == 2 and "cannot resume" in again.stderr


@pytest.mark.parametrize("text", [False, True])
def test_text_encoder_learns_only_when_asked(synth_data, tmp_path, text):
    run = tmp_path / "run"
    args = ["train", "--data", synth_data, "--out", run, *QUICK, "--steps", 3, "--ema-decay", 0]
    result = invoke(args + (["--train-text-encoder"] if text else []))
    assert result.exit_code == 0, result.output
    from artv_cli.engine.model.base import random_base

    start = random_base("tiny", seed=0).text_encoder.state_dict()
    after = _weights(run / "model", "text_encoder")
    changed = any(not torch.equal(start[k], after[k]) for k in after if k in start)
    assert changed == text


def test_ablations_are_saved_with_the_model_and_change_sampling(synth_data, tmp_path):
    from artv_cli.engine.model.artv import ARTVModel
    from artv_cli.engine.sampling.loop import RenderState, SampleSettings, render

    run = tmp_path / "ablated"
    args = ["train", "--data", synth_data, "--out", run, *QUICK, "--steps", 2]
    result = invoke(
        args + ["--ablate", "mask", "--ablate", "anchor", "--ablate", "noise-aug", "--drop-ref", 0.3]
    )
    assert result.exit_code == 0, result.output
    config = json.loads((run / "model" / "artv_config.json").read_text())
    assert config["use_mask"] is False and config["use_anchor"] is False
    assert config["t_max"] == 0 and config["t_test"] == 0 and config["drop_ref"] == 0.3
    model = ARTVModel.load(run / "model").eval()
    state = RenderState()
    image = torch.zeros(1, 3, 64, 64)
    frames = list(render(model, "a red circle", SampleSettings(frames=3, steps=2), image=image, state=state))
    assert len(frames) == 3 and state.counters["mask_rows"] == 0  # Phi_mask never ran
    # full, no-text, no-reference: no anchor branch for a model that never saw an anchor
    assert state.counters["unet_rows"] == 2 * 2 * 3
    bad = invoke(["train", "--data", synth_data, "--out", tmp_path / "x", *QUICK, "--ablate", "text"])
    assert bad.exit_code == 2 and "--ablate" in bad.output
    bad = invoke(["train", "--data", synth_data, "--out", tmp_path / "y", *QUICK, "--drop-ref", 1.5])
    assert bad.exit_code == 2 and "--drop-ref" in bad.stderr


def test_world_tokenizer_makes_each_world_word_one_token_and_is_reproducible():
    from artv_cli.engine.data import synth
    from artv_cli.engine.model.tokenizers import world_tokenizer

    first, second = world_tokenizer(), world_tokenizer()
    assert first.get_vocab() == second.get_vocab()
    for phrase in [*synth.COLOURS, *synth.SHAPES, *synth.DIRECTIONS, *synth.SPEEDS, *synth.BACKGROUND_TONES]:
        for word in phrase.split():
            assert len(first.tokenize(word)) == 1, word
    assert first.tokenize("purple")  # words outside the world still tokenize (character by character)


def test_synth_start_anywhere_gives_the_direction_away_no_more_and_centred_is_unchanged(tmp_path):
    """With centred paths the start predicts the direction (a shortcut the default model took);
    --start anywhere draws it independently. Same seed: same objects and captions, only the starts move."""
    import numpy as np

    from artv_cli.engine.data.synth import DIRECTIONS, SynthSettings, design_video

    def agreement(start: str) -> float:
        settings = SynthSettings(videos=400, frames=16, max_objects=1, cameras=("static",), start=start)
        scores = []
        for index in range(400):
            obj = design_video(index, settings).objects[0]
            toward_middle = np.array([0.5, 0.5]) - np.array(obj.start)
            scores.append(float(toward_middle @ np.array(DIRECTIONS[obj.direction], float)) > 0)
        return float(np.mean(scores))

    assert agreement("centred") > 0.85  # "move towards the middle" is right almost nine times in ten
    assert 0.35 < agreement("anywhere") < 0.65  # a coin toss
    plain = SynthSettings(videos=3, frames=16)
    anywhere = SynthSettings(videos=3, frames=16, start="anywhere")
    for index in range(3):
        a, b = design_video(index, plain), design_video(index, anywhere)
        assert a.caption == b.caption and [o.direction for o in a.objects] == [o.direction for o in b.objects]
    result = CliRunner().invoke(
        app, ["data", "synth", str(tmp_path / "w"), "--videos", "2", "--start", "edge"]
    )
    assert result.exit_code != 0 and "--start must be centred or anywhere" in result.output
