"""A render request: settings resolved flags > model folder > built-in, recorded; unseen words named."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.hub.registry import resolve_model
from artv_cli.engine.model.config import ARTVConfig
from artv_cli.engine.sampling.recommended import model_config, sampling, unknown_words
from artv_cli.engine.sampling.request import RenderRequest


@pytest.fixture(scope="module")
def recommending_model(tmp_path_factory, tiny_model):
    """The tiny model saved with a recommended sampler and the words of its (pretend) training captions."""
    folder = tmp_path_factory.mktemp("m") / "model"
    tiny_model.save(folder)
    config = ARTVConfig.load(folder)
    config.steps, config.scheduler, config.colour_lock = 3, "dpm++", 0.75
    config.fast = dict(steps=2, guidance_ref=0.0, guidance_anchor=0.0, mask_every=2, first_frame_steps=3)
    config.extra["training_words"] = ["a", "red", "circle", "moves", "right"]
    config.save(folder)
    return folder


@pytest.mark.parametrize(
    "given, expected",
    [
        ({}, (3, "dpm++", "model")),
        ({"steps": 7}, (7, "dpm++", "flags")),
        ({"scheduler": "ddim"}, (3, "ddim", "flags")),
        ({"fast": True}, (2, "dpm++", "fast")),
        ({"fast": True, "steps": 4}, (4, "dpm++", "flags")),
    ],
)
def test_a_model_folder_recommends_its_sampler_and_flags_win(recommending_model, given, expected):
    request = RenderRequest("a red circle", model=str(recommending_model), **given)
    assert sampling(request, model_config(resolve_model(str(recommending_model)))) == expected


def test_without_a_recommendation_the_built_in_defaults_hold():
    none = model_config(resolve_model("tiny-random"))  # a random preset has no folder, so no recommendation
    assert none is None
    assert sampling(RenderRequest("x"), none) == (25, "ddim", "built-in")
    assert sampling(RenderRequest("x", fast=True), none) == (12, "dpm++", "fast")


def test_words_the_model_never_saw_are_named(recommending_model):
    config = model_config(resolve_model(str(recommending_model)))
    assert unknown_words("A red circle moves right!", config) == []
    (notice,) = unknown_words("waves crash on a beach", config)
    assert "'waves', 'crash', 'on', 'beach'" in notice
    assert unknown_words("anything at all", None) == []


def test_the_cli_renders_with_the_recommendation_records_it_and_warns_of_unseen_words(
    recommending_model, tmp_path
):
    out = tmp_path / "v.mp4"
    args = ["generate", "waves crash", "--model", str(recommending_model), "--frames", "2", "--seed", "1"]
    result = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "never saw 'waves', 'crash'" in result.stderr
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["settings"]["steps"] == 3 and record["settings"]["scheduler"] == "dpm++"
    assert record["sampling_from"] == "model" and record["settings"]["colour_lock"] == 0.75
    off = CliRunner().invoke(app, [*args, "-o", str(out), "--force", "--colour-lock", "0"])
    assert (
        off.exit_code == 0
        and json.loads(out.with_suffix(".json").read_text())["settings"]["colour_lock"] == 0
    )


def test_fast_takes_the_model_folders_speed_preset_and_flags_win(recommending_model, tmp_path):
    out = tmp_path / "v.mp4"
    args = ["generate", "a red circle", "--model", str(recommending_model), "--frames", "2", "--fast"]
    result = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads(out.with_suffix(".json").read_text())
    settings = record["settings"]
    assert record["sampling_from"] == "fast" and (settings["steps"], settings["scheduler"]) == (2, "dpm++")
    assert (settings["guidance_ref"], settings["guidance_anchor"], settings["mask_every"]) == (0, 0, 2)
    assert settings["guidance_text"] == record["model_config"]["guidance_text"]  # not in the preset
    assert settings["first_frame_steps"] == 3  # text only: frame 0 at the preset's own steps
    told = ["--guidance-ref", "0.5", "--mask-every", "1", "--steps", "3"]
    again = CliRunner().invoke(app, [*args, *told, "-o", str(out), "--force"])
    assert again.exit_code == 0, again.output
    settings = json.loads(out.with_suffix(".json").read_text())["settings"]
    assert (settings["steps"], settings["guidance_ref"], settings["mask_every"]) == (3, 0.5, 1)
    assert settings["guidance_anchor"] == 0  # what the flags left open still comes from the preset
    assert settings["first_frame_steps"] is None  # --steps given: every frame at those steps
    image = ["animate", str(Path(__file__).resolve().parents[2] / "examples" / "red-ball.png"), *args[1:]]
    animated = CliRunner().invoke(app, [*image, "-o", str(out), "--force"])
    settings = json.loads(out.with_suffix(".json").read_text())["settings"]
    assert animated.exit_code == 0 and settings["first_frame_steps"] is None and settings["steps"] == 2
    plain = CliRunner().invoke(app, [*args[:-1], "-o", str(out), "--force"])  # no --fast: the model's own
    settings = json.loads(out.with_suffix(".json").read_text())["settings"]
    assert plain.exit_code == 0 and (settings["steps"], settings["guidance_ref"], settings["mask_every"]) == (
        3,
        record["model_config"]["guidance_ref"],
        1,
    )


def test_story_fast_takes_the_preset_where_the_command_line_is_silent(recommending_model, tmp_path):
    board = tmp_path / "s.yaml"
    board.write_text(f"model: {recommending_model}\nsegments:\n  - prompt: a red circle\n    frames: 2\n")
    out = tmp_path / "s.mp4"
    args = ["story", str(board), "--fast", "--guidance-ref", "0.5", "--size", "32", "-o", str(out)]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["settings_from"]["steps"] == "fast" and record["storyboard"]["steps"] == 2
    assert record["settings_from"]["guidance_ref"] == "command line"
    assert record["storyboard"]["guidance_ref"] == 0.5 and record["storyboard"]["guidance_anchor"] == 0
    # mask_every is a storyboard key (from the preset); first_frame_steps has none, so it is the "speed"
    assert record["storyboard"]["mask_every"] == 2 and record["settings_from"]["mask_every"] == "fast"
    assert record["speed"] == {"first_frame_steps": 3}


def test_a_speed_preset_with_an_unknown_key_is_refused_with_the_fix(recommending_model, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(recommending_model, folder)
    data = json.loads((folder / "artv_config.json").read_text())
    data["fast"]["stepz"] = 4
    (folder / "artv_config.json").write_text(json.dumps(data))
    result = CliRunner().invoke(
        app, ["generate", "a ball", "--model", str(folder), "-o", str(tmp_path / "x.mp4")]
    )
    assert result.exit_code == 2 and 'unknown key(s) stepz in "fast"' in result.stderr
    assert "a speed preset may set only steps, scheduler" in result.stderr


@pytest.mark.parametrize("command", [["generate", "a ball"], ["story", "storyboards/demo.yaml", "--dry-run"]])
def test_a_colour_lock_outside_0_to_1_is_refused_with_the_fix(command, tmp_path):
    result = CliRunner().invoke(app, [*command, "--colour-lock", "1.5", "-o", str(tmp_path / "x.mp4")])
    assert result.exit_code == 2 and "--colour-lock must be from 0 to 1 (got 1.5)" in result.stderr
    assert "use --colour-lock 1, or 0 for off" in result.stderr and not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def first_steps_model(tmp_path_factory, recommending_model):
    """The recommending model that also recommends 5 steps for a text-only video's frame 0."""
    folder = tmp_path_factory.mktemp("m") / "model"
    shutil.copytree(recommending_model, folder)
    config = ARTVConfig.load(folder)
    config.first_frame_steps = 5
    config.save(folder)
    return folder


def test_a_model_folder_recommends_a_text_only_frame_0s_steps_unless_the_steps_are_given(
    first_steps_model, tmp_path
):
    """generate takes the model's steps for frame 0 (made from blank references) and its steps for the
    rest; --steps is every frame's; animate's frame 0 is the picture, so it has none; --fast its own."""
    out = tmp_path / "v.mp4"
    args = ["generate", "a red circle", "--model", str(first_steps_model), "--frames", "2", "--seed", "1"]

    def settings(*extra, command=args):
        result = CliRunner().invoke(app, [*command, *extra, "-o", str(out), "--force"])
        assert result.exit_code == 0, result.output
        return json.loads(out.with_suffix(".json").read_text())["settings"]

    assert (settings()["steps"], settings()["first_frame_steps"]) == (3, 5)
    assert (settings("--steps", "4")["steps"], settings("--steps", "4")["first_frame_steps"]) == (4, None)
    assert settings("--fast")["first_frame_steps"] == 3  # the preset's own
    image = ["animate", str(Path(__file__).resolve().parents[2] / "examples" / "red-ball.png"), *args[1:]]
    assert settings(command=image)["first_frame_steps"] is None


def test_a_story_from_text_takes_the_models_frame_0_steps_where_the_steps_are_the_models(
    first_steps_model, tmp_path
):
    board = tmp_path / "s.yaml"
    board.write_text(f"model: {first_steps_model}\nsegments:\n  - prompt: a red circle\n    frames: 2\n")
    out = tmp_path / "s.mp4"
    done = CliRunner().invoke(app, ["story", str(board), "--size", "32", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert json.loads(out.with_suffix(".json").read_text())["speed"] == {"first_frame_steps": 5}
    given = CliRunner().invoke(
        app, ["story", str(board), "--size", "32", "--steps", "2", "-o", str(out), "--force"]
    )
    assert given.exit_code == 0, given.output
    assert json.loads(out.with_suffix(".json").read_text())["speed"] == {}
