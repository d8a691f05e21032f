"""The protocols' prompt sets (`artv batch --protocol`)."""

import pytest
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.data.prompts import class_prompt, protocol_prompts, ucf101_classes
from artv_cli.engine.evaluation.worldscore import parse_prompt


def test_ucf101_has_its_101_classes_and_the_protocol_2048_prompts_in_turn():
    classes = ucf101_classes()
    assert len(classes) == len(set(classes)) == 101 and "ApplyEyeMakeup" in classes and "YoYo" in classes
    assert class_prompt("ApplyEyeMakeup") == "apply eye makeup" and class_prompt("YoYo") == "yo yo"
    prompts = protocol_prompts("ucf101-fvd2048-16f")
    assert len(prompts) == 2048 and prompts[0] == prompts[101] == "apply eye makeup"
    assert prompts == protocol_prompts("ucf101-is")


def test_world_heldout_is_the_scorers_own_prompts_in_both_wordings():
    prompts = protocol_prompts("world-heldout")
    assert len(prompts) == 128 and len(set(prompts[:64]) & set(prompts[64:])) == 0
    assert all(parse_prompt(p) is not None for p in prompts)  # the world scorer reads every one


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--protocol", "msrvtt-clipsim"], "not shipped with artv"),
        (["--protocol", "kinetics"], "unknown protocol 'kinetics'"),
        ([], "give a prompts file or --protocol NAME"),
    ],
)
def test_batch_protocol_errors_say_what_to_give(tmp_path, args, message):
    result = CliRunner().invoke(app, ["batch", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_batch_renders_a_protocols_prompts_and_resumes_it(tmp_path):
    from artv_cli.engine.data import prompts as sets

    out = tmp_path / "out"
    args = ["batch", "--protocol", "world-heldout", "--out", str(out), "--model", "tiny-random"]
    args += ["--frames", "1", "--steps", "1"]
    original = sets.WORLD_HELDOUT
    sets.WORLD_HELDOUT = 2  # two prompts per wording: the wiring, not the set's size
    try:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        again = CliRunner().invoke(app, [*args, "--resume"])
        assert again.exit_code == 0 and "4 done, 0 to render" in again.stderr
    finally:
        sets.WORLD_HELDOUT = original
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 4
