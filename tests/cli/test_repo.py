"""The project's own promises: help examples work, docs are current, lint is clean, CI runs the tests."""

import json
import runpy
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from artv_cli.app import app

ROOT = Path(__file__).resolve().parents[2]


def help_examples(commands=(("animate",), ("generate",))) -> list[str]:
    import typer.rich_utils

    width, typer.rich_utils.MAX_WIDTH = typer.rich_utils.MAX_WIDTH, 200  # no wrapping inside an example
    runner = CliRunner()
    found = []
    try:
        for command in commands:
            text = runner.invoke(app, [*command, "--help"]).stdout
            found += [line.strip() for line in text.splitlines() if line.strip().startswith("artv ")]
    finally:
        typer.rich_utils.MAX_WIDTH = width
    return found


def test_every_command_has_examples():
    examples = help_examples()
    assert sum(e.startswith("artv animate") for e in examples) >= 2
    assert sum(e.startswith("artv generate") for e in examples) >= 2


@pytest.mark.parametrize("example", help_examples())
def test_help_examples_run_as_printed(example, tmp_path, monkeypatch):
    """Each example runs from the repository root's layout (cut to 2 frames and 1 step to stay fast)."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    args = shlex.split(example)[1:] + ["--frames", "2", "--steps", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert list(tmp_path.glob("*.mp4"))


def test_training_and_eval_help_examples_run_in_order(tmp_path, monkeypatch):
    """The examples of `artv data synth`, `train` and `eval` run as printed, in order (made small)."""
    examples = list(
        dict.fromkeys(help_examples([("data", "synth"), ("train",), ("eval",)]))
    )  # once, in order
    assert sum(e.startswith("artv eval") for e in examples) >= 2
    assert sum(e.startswith("artv train") for e in examples) >= 2
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    for example in examples:
        args = shlex.split(example)[1:]
        if args[:2] == ["data", "synth"]:
            args += ["--videos", "4", "--frames", "6"]
        elif args[0] == "train":  # 100 times fewer steps; a resumed run still goes on from the first
            args[args.index("--steps") + 1] = str(int(args[args.index("--steps") + 1]) // 100)
            args += ["--validation-videos", "0"]
        elif args[0] == "animate":
            args += ["--frames", "2", "--steps", "1"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (example, result.output)


def test_story_help_examples_run_as_printed(tmp_path, monkeypatch):
    examples = help_examples([("story",)])
    assert len(examples) >= 2
    for folder in ("examples", "storyboards"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    for example in examples:
        result = CliRunner().invoke(app, shlex.split(example)[1:])
        assert result.exit_code == 0, (example, result.output)
    assert (tmp_path / "demo.mp4").is_file() and (tmp_path / "keyframes.mp4").is_file()


def test_cli_reference_is_current():
    generated = runpy.run_path(str(ROOT / "docs" / "gen_cli.py"))["render"]()
    assert (ROOT / "docs" / "cli.md").read_text() == generated, "run: python docs/gen_cli.py > docs/cli.md"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(line.strip() for line in ci.splitlines() if "pytest" in line)
    assert command in readme


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_ruff_clean():
    for args in (["check", "."], ["format", "--check", "."]):
        proc = subprocess.run(["ruff", *args], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_python_examples_in_docs_run(tmp_path, monkeypatch):
    import re

    monkeypatch.chdir(tmp_path)
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for block in re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S):
            exec(compile(block, str(doc), "exec"), {})
    assert (tmp_path / "ball.mp4").exists()


def test_batch_help_examples_run_in_order(tmp_path, monkeypatch):
    """`artv batch`'s examples as printed, in order (2 frames, 1 step; the world's set cut to 2 + 2)."""
    from artv_cli.engine.data import prompts

    examples = help_examples([("batch",)])
    assert len(examples) == 3 and "--resume" in examples[1]
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(prompts, "WORLD_HELDOUT", 2)
    for example in examples:
        result = CliRunner().invoke(app, shlex.split(example)[1:] + ["--frames", "2", "--steps", "1"])
        assert result.exit_code == 0, (example, result.output)
    assert len(list((tmp_path / "batch").glob("*.mp4"))) == 4
    assert len(list((tmp_path / "world-gen").glob("*.mp4"))) == 4


def test_readme_first_command_can_be_run_twice(tmp_path, monkeypatch):
    """The README's main command (cut to 2 frames and 1 step) run twice in one folder: both succeed."""
    readme = (ROOT / "README.md").read_text()
    line = next(line for line in readme.splitlines() if "artv animate" in line and "pip install" in line)
    words = shlex.split(line.split("&&", 1)[1])
    assert words[0] == "artv"
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        result = CliRunner().invoke(app, [*words[1:], "--frames", "2", "--steps", "1"])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "ball.mp4").is_file() and (tmp_path / "ball.json").is_file()


def test_user_docs_link_nothing_outside_the_repository():
    """Docs hold the project's own reading of the method: no link or path outside the repository, and no
    path of a development machine."""
    import re

    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = doc.read_text()
        assert "../shared" not in text and "METHOD.md" not in text, doc.name
        assert not re.search(r"~/artv-runs|/root/|/work/", text), doc.name  # no development machine's paths
        if doc.parent.name != "research":  # user pages speak of the tool, not of how it was made
            assert not re.search(r"\b(issue|session)s?\b", text, flags=re.I), doc.name
        for target in re.findall(r"\]\(([^)#]+)", text):
            if "://" in target:
                continue
            assert (doc.parent / target).resolve().is_relative_to(ROOT), (doc.name, target)
            assert (doc.parent / target).exists(), (doc.name, target)


def test_readme_numbers_about_the_default_model_come_from_its_results_file():
    """The README's can / cannot-yet table is the one bench/results.py makes from the results file, and
    the results file holds what the measurement reports say."""
    results_script = runpy.run_path(str(ROOT / "bench" / "results.py"))
    stored = json.loads((ROOT / "docs" / "bench" / "default-model-results.json").read_text())
    fresh = results_script["collect"]()
    assert stored == fresh, "run: python bench/results.py --write"
    assert results_script["readme_table"](stored) in (ROOT / "README.md").read_text()
    scores = (ROOT / "docs" / "default-model.md").read_text()
    columns = (
        "colour_accuracy", "shape_accuracy", "direction_accuracy", "speed_accuracy", "background_accuracy",
        "slow_moving_rate", "identity_rate",
    )  # fmt: skip
    for name, key in (
        ("animate (grammar)", "| `animate`, grammar's wording |"),
        ("animate (people)", "| `animate`, people's phrasing |"),
        ("generate (grammar)", "| `generate`, grammar's wording |"),
        ("generate (people)", "| `generate`, people's phrasing |"),
    ):
        row = next(line for line in scores.splitlines() if line.startswith(key))
        stored_row = stored["scores"]["rows"][name]
        expected = [f"{round(100 * stored_row[k])} %" for k in columns]
        expected.append(f"{stored_row['max_background_shift']:.1f}")
        assert [cell.strip() for cell in row.split("|")[2:-1]] == expected, row
    for name, key in (
        ("animate 256 frames", "| `animate`, 256 frames (8 videos) |"),
        ("generate 256 frames", "| `generate`, 256 frames (8 videos) |"),
    ):
        row = next(line for line in scores.splitlines() if line.startswith(key))
        long_row = stored["long"]["rows"][name]
        assert f"| {round(100 * long_row['identity_rate'])} % of frames" in row, row
        assert f"| {long_row['max_background_shift']:.1f} (" in row, row
        assert f"| {long_row['frozen_videos']} of {long_row['videos']} |" in row, row
    times = stored["times"]["readme_command_seconds"]
    for low, high in times.values():  # the speed table quotes the timed spans
        assert f"{low}-{high} s" in scores


def test_readme_claims_go_under_can_only_when_they_meet_their_targets():
    """A column at its target is a "can"; one below it is a "cannot yet" naming the target; the picture
    protocol and the probe join the table when measured."""
    results_script = runpy.run_path(str(ROOT / "bench" / "results.py"))
    row = {
        "colour_accuracy": 1.0, "background_accuracy": 1.0, "shape_accuracy": 0.9,
        "speed_accuracy": 0.85, "direction_accuracy": 0.5,
    }  # fmt: skip
    results = {
        "scores": {"rows": {"animate (grammar)": row}},
        "long": {"rows": {"animate 256 frames": {"max_background_shift": 12.0, "identity_rate": 0.9}}},
        "picture": {"frame0_error_mean": 2.0, "look_kept_90_rate": 0.5},
        "probe": {"mean_cosine": 0.95},
    }
    table = {name: (can, cannot) for name, can, cannot in (
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in results_script["readme_table"](results | {
            "times": {"readme_command_seconds": {"recommended": [30, 31], "fast": [10, 11]}, "date": "today"},
            "size_mb": 1.0,
        }).splitlines()[2:]
    )}  # fmt: skip
    can, cannot = table["appearance"]
    assert "the asked shape: 90 %" in can and "frame 0 within 2.0" in can
    assert "own colour and shape: 50 % of videos (target 90 %)" in cannot
    can, cannot = table["motion"]
    assert '"slowly" from "quickly": 85 %' in can and "mean cosine 0.95" in can
    assert "the asked direction: 50 % (target 80 %)" in cannot
    can, cannot = table["long videos"]
    assert "found in 90 %" in can and "worst shift 12.0" in cannot
