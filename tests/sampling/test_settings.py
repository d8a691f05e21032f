"""The table of render settings is the one source: every place that names a setting is built from it."""

import dataclasses
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.model.config import ARTVConfig
from artv_cli.engine.sampling.batch import ROW_KEYS
from artv_cli.engine.sampling.loop import SampleSettings
from artv_cli.engine.sampling.overrides import OVERRIDABLE
from artv_cli.engine.sampling.request import RenderRequest
from artv_cli.engine.sampling.settings import FAST_KEYS, FLAGS, SETTINGS, resolve
from artv_cli.engine.sampling.storyboard import PlannedSegment, Segment, Storyboard


def options_of(name: str) -> set[str]:
    command = typer.main.get_command(app).commands[name]
    return {opt for param in command.params for opt in param.opts}


@pytest.mark.parametrize("command", ["animate", "generate", "batch", "story"])
def test_every_render_command_takes_every_setting_as_an_option(command):
    assert {SETTINGS[name].option for name in FLAGS} <= options_of(command)


def test_every_place_that_names_a_setting_has_every_one():
    fields = {cls: {f.name for f in dataclasses.fields(cls)} for cls in (RenderRequest, Segment, Storyboard)}
    for name in FLAGS:
        assert all(name in names for names in fields.values()), name
        assert name in ROW_KEYS and name in OVERRIDABLE, name
        assert name in {f.name for f in dataclasses.fields(PlannedSegment)}, name
    # the frame loop takes every setting of the table (the flags and the preset-only ones)
    assert set(SETTINGS) <= {f.name for f in dataclasses.fields(SampleSettings)}
    assert set(FAST_KEYS) <= set(SETTINGS)


@pytest.mark.parametrize("page", ["batch.md", "storyboards.md"])
def test_the_pages_that_list_the_batch_columns_and_storyboard_keys_name_every_setting(page):
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / page).read_text()
    assert [name for name in FLAGS if f"`{name}`" not in text] == []


def test_one_order_everywhere_given_then_fast_then_model_then_default():
    config = ARTVConfig(steps=12, scheduler="dpm++", colour_lock=1.0, t_test=150, fast={"steps": 6})
    values, sources = resolve({"guidance_text": 3.0}, config)
    assert (values["guidance_text"], sources["guidance_text"]) == (3.0, "given")
    assert (values["steps"], sources["steps"]) == (12, "model")
    assert (values["noise_level"], values["colour_lock"]) == (150, 1.0)
    assert (values["mask_every"], sources["mask_every"]) == (1, "default")
    values, sources = resolve({"steps": 9}, config, fast=True)
    assert (values["steps"], sources["steps"]) == (9, "given")  # flags win over the preset
    assert (values["scheduler"], sources["scheduler"]) == ("dpm++", "fast")
    values, _ = resolve({}, config, fast=True)
    assert values["steps"] == 6
    values, sources = resolve({}, None)
    assert (values["steps"], values["scheduler"], sources["steps"]) == (25, "ddim", "default")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("steps", 0, "--steps must be at least 1 (got 0)"),
    ("noise_level", 1000, "--noise-level must be from 0 to 999 (got 1000)"),
    ("colour_lock", 1.5, "--colour-lock must be from 0 to 1 (got 1.5)"),
    ("background_lock", -1, "--background-lock must be from 0 to 1 (got -1)"),
    ("shape_lock", 2, "--shape-lock must be from 0 to 1 (got 2)"),
    ("mask_every", 0, "--mask-every must be at least 1 (got 0)"),
])  # fmt: skip
def test_a_bad_value_gets_the_same_words_from_the_command_line_a_storyboard_and_a_batch_row(
    tmp_path, name, value, message
):
    flag = SETTINGS[name].option
    out = tmp_path / "v.mp4"
    result = CliRunner().invoke(
        app, ["generate", "x", "--model", "tiny-random", flag, str(value), "-o", str(out)]
    )
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert f"fix: use {flag} {SETTINGS[name].example}" in result.stderr and not out.exists()
    board = tmp_path / "s.yaml"
    board.write_text(f"model: tiny-random\n{name}: {value}\nsegments:\n  - prompt: a\n    frames: 2\n")
    result = CliRunner().invoke(app, ["story", str(board), "--dry-run"])
    assert result.exit_code == 2 and f"{name}: {message.split(' ', 1)[1]}" in result.stderr, result.output
    rows = tmp_path / "rows.csv"
    rows.write_text(f"prompt,{name}\na ball,{value}\n")
    result = CliRunner().invoke(
        app, ["batch", str(rows), "--out", str(tmp_path / "b"), "--model", "tiny-random"]
    )
    assert result.exit_code == 2 and f"{name} {message.split(' ', 1)[1]}" in result.stderr, result.output
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("name", ["colour_lock", "subject_lock", "background_lock", "shape_lock"])
def test_the_default_models_locks_are_on_recorded_and_each_turns_off(tmp_path, name):
    """The default model recommends every lock of step 7: a render records it, and its flag at 0 turns it
    off for that render alone."""
    picture = Path(__file__).resolve().parents[2] / "examples" / "red-ball.png"
    args = ["animate", str(picture), "a red circle moves right", "--frames", "3", "--seed", "0"]
    for extra, expected in (([], 1.0), ([SETTINGS[name].option, "0"], 0.0)):
        out = tmp_path / "v.mp4"
        result = CliRunner().invoke(app, [*args, "-o", str(out), "--force", *extra])
        assert result.exit_code == 0, result.output
        assert json.loads(out.with_suffix(".json").read_text())["settings"][name] == expected
