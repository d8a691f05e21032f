"""`artv animate` and `artv generate` end to end, as a user sees them: files, exit codes, messages."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.data.video import read_video

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "red-ball.png"
FAST = ["--model", "tiny-random", "--steps", "2", "--seed", "3"]


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_animate_writes_a_video_with_the_asked_frames_size_and_fps(runner, tmp_path):
    out = tmp_path / "ball.mp4"
    result = invoke(
        runner, ["animate", EXAMPLE, "a red ball rolls right", *FAST, "--frames", 5, "--fps", 12, "-o", out]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    frames, meta = read_video(out)
    assert len(frames) == 5
    assert meta["size"] == (64, 64)
    assert meta["fps"] == pytest.approx(12)
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert "frame 5/5" in result.stderr and "eta" in result.stderr
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["command"] == "animate"
    assert sidecar["prompt"] == "a red ball rolls right"
    assert sidecar["settings"]["frames"] == 5
    assert sidecar["settings"]["seed"] == 3
    assert sidecar["settings"]["steps"] == 2
    assert sidecar["settings"]["noise_level"] == 200
    assert sidecar["settings"]["guidance_text"] == 6.5
    assert sidecar["model"] == "tiny-random"
    assert sidecar["fps"] == 12
    assert sidecar["versions"]["torch"]
    assert leftovers(tmp_path) == ["ball.json", "ball.mp4"]


def test_generate_json_output_and_png_frames(runner, tmp_path):
    out = tmp_path / "sq.mp4"
    frames_dir = tmp_path / "frames"
    result = invoke(
        runner,
        [
            "generate",
            "a blue square slides up",
            *FAST,
            "--frames",
            3,
            "--size",
            "96x64",
            "-o",
            out,
            "--frames-dir",
            frames_dir,
            "--json",
            "--scheduler",
            "dpm++",
            "--guidance-ref",
            0,
            "--noise-level",
            100,
            "--negative-prompt",
            "blurry",
        ],
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["video"] == str(out) and info["frames"] == 3 and (info["width"], info["height"]) == (96, 64)
    frames, meta = read_video(out)
    assert len(frames) == 3 and meta["size"] == (96, 64)
    pngs = sorted(frames_dir.glob("*.png"))
    assert len(pngs) == 3 and Image.open(pngs[0]).size == (96, 64)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["command"] == "generate" and sidecar["image"] is None
    assert sidecar["settings"]["scheduler"] == "dpm++"
    assert sidecar["settings"]["guidance_ref"] == 0
    assert sidecar["settings"]["noise_level"] == 100
    assert sidecar["settings"]["negative_prompt"] == "blurry"


def test_same_seed_same_video_from_the_cli(runner, tmp_path):
    paths = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        out = tmp_path / f"{name}.mp4"
        args = ["generate", "a ball", "--model", "tiny-random", "--steps", 2, "--frames", 2, "--seed", seed]
        result = invoke(runner, [*args, "--frames-dir", tmp_path / name, "-o", out])
        assert result.exit_code == 0, result.output
        paths.append(sorted((tmp_path / name).glob("*.png")))
    load = [np.stack([np.asarray(Image.open(p)) for p in ps]) for ps in paths]
    assert np.array_equal(load[0], load[1])
    assert not np.array_equal(load[0], load[2])


def test_default_output_name_and_model_notice(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["generate", "A Green Ball!", "--steps", 1, "--frames", 1, "--seed", 9]
    first = invoke(runner, args)
    second = invoke(runner, args)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert first.stdout.strip() == "a-green-ball-9.mp4"
    assert second.stdout.strip() == "a-green-ball-9-1.mp4"  # never overwrites a video it did not name
    assert "model default on cpu" in first.stderr  # the embedded default model, no --model needed


def test_animate_takes_the_image_aspect_ratio(runner, tmp_path):
    wide = tmp_path / "wide.png"
    Image.new("RGB", (200, 100), (200, 30, 30)).save(wide)
    out = tmp_path / "w.mp4"
    result = invoke(runner, ["animate", wide, "x", *FAST, "--frames", 2, "-o", out])
    assert result.exit_code == 0, result.output
    assert read_video(out)[1]["size"] == (96, 48)
    assert "follows the image's aspect" in result.stderr


def odd_images(folder: Path) -> dict[str, tuple[Path, str]]:
    """Images that must work, each with the notice it must produce."""
    rgba = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (16, 16, 48, 48))
    grey = Image.new("L", (64, 64), 128)
    deep = Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16))
    rotated = Image.new("RGB", (32, 64), (0, 200, 0))
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees
    paths = {
        "rgba": (folder / "rgba.png", "transparency flattened onto white"),
        "grey": (folder / "grey.png", "greyscale image used as RGB"),
        "16bit": (folder / "deep.png", "16-bit image reduced to 8 bits"),
        "exif": (folder / "rot.jpg", "rotated by its EXIF orientation"),
        "big": (folder / "big.png", "resized from 128x128 to 64x64"),
        "wide": (folder / "wide.png", "resized from 128x96 to 64x64 (scaled to 85x64, then centre-cropped)"),
    }
    rgba.save(paths["rgba"][0])
    grey.save(paths["grey"][0])
    deep.save(paths["16bit"][0])
    rotated.save(paths["exif"][0], exif=exif)
    Image.new("RGB", (128, 128), (9, 9, 9)).save(paths["big"][0])
    Image.new("RGB", (128, 96), (9, 9, 9)).save(paths["wide"][0])
    return paths


@pytest.mark.parametrize("kind", ["rgba", "grey", "16bit", "exif", "big", "wide"])
def test_unusual_images_work_with_a_notice(runner, tmp_path, kind):
    path, notice = odd_images(tmp_path)[kind]
    out = tmp_path / "v.mp4"
    result = invoke(runner, ["animate", path, "x", *FAST, "--frames", 2, "--size", 64, "-o", out])
    assert result.exit_code == 0, result.output
    assert notice in result.stderr
    assert len(read_video(out)[0]) == 2


def write_bad_files(tmp: Path) -> None:
    (tmp / "notes.png").write_text("this is not a picture")
    Image.new("RGB", (64, 64)).save(tmp / "good.png")
    data = (tmp / "good.png").read_bytes()
    (tmp / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp / "a_file").write_text("x")
    (tmp / "old.mp4").write_text("the user's own file")
    import shutil

    from artv_cli.engine.hub.registry import embedded_folder

    for name in ("no-weights", "cut-weights"):  # model folders: one lacks a weights file, one has it cut
        shutil.copytree(embedded_folder("default"), tmp / name)
    (tmp / "no-weights" / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    cut = tmp / "cut-weights" / "unet" / "diffusion_pytorch_model.safetensors"
    cut.write_bytes(cut.read_bytes()[:50_000])
    (tmp / "broken.yaml").write_text("segments: [\n  - prompt: x\n")
    (tmp / "one-bad-row.csv").write_text("prompt,frames\na red ball,2\na blue box,-1\n")
    (tmp / "empty.txt").write_text("")
    (tmp / "good.txt").write_text("a red ball\n")
    (tmp / "ok.yaml").write_text("model: tiny-random\nsegments:\n  - prompt: a red ball\n    frames: 2\n")
    (tmp / "no-videos").mkdir()


def bad_inputs(tmp: Path) -> dict[str, tuple[list, str]]:
    out = tmp / "v.mp4"
    return {
        "missing image": (["animate", tmp / "nope.png", "x", "-o", out], "does not exist"),
        "folder as image": (["animate", tmp, "x", "-o", out], "is a folder"),
        "not an image": (["animate", tmp / "notes.png", "x", "-o", out], "is not an image that can be read"),
        "truncated image": (["animate", tmp / "cut.png", "x", "-o", out], "cannot read image"),
        "size": (["generate", "x", "--size", "100x100", "-o", out], "multiples of 16 pixels"),
        "size text": (["generate", "x", "--size", "big", "-o", out], "is not a size"),
        "zero frames": (["generate", "x", "--frames", 0, "-o", out], "--frames must be at least 1"),
        "negative frames": (
            ["animate", tmp / "good.png", "x", "--frames", -3, "-o", out],
            "--frames must be at least 1",
        ),
        "zero steps": (["generate", "x", "--steps", 0, "-o", out], "--steps must be at least 1"),
        "quality": (["generate", "x", "--quality", 11, "-o", out], "--quality must be between 1 and 10"),
        "noise level": (
            ["generate", "x", "--noise-level", 1000, "-o", out],
            "--noise-level must be from 0 to 999",
        ),
        "unwritable out": (["generate", "x", "-o", tmp / "a_file" / "v.mp4"], "cannot write to"),
        "unknown format": (["generate", "x", "-o", tmp / "v.avi"], ".avi is not a format artv writes"),
        "unknown model": (["generate", "x", "--model", "sd99", "-o", out], "unknown model 'sd99'"),
        "missing model folder": (["generate", "x", "--model", "./runs/none", "-o", out], "does not exist"),
        "not a model folder": (["generate", "x", "--model", tmp, "-o", out], "is not an ART-V model folder"),
        "no cuda": (
            ["generate", "x", "--device", "cuda", "-o", tmp / "new" / "v.mp4"],
            "no CUDA device is visible",
        ),
        "empty prompt": (["generate", "  ", "-o", out], "the prompt is empty"),
        "frames dir with other files": (
            ["generate", "x", "-o", out, "--frames-dir", tmp],
            "holds other files",
        ),
        "frames dir is a file": (["generate", "x", "-o", out, "--frames-dir", tmp / "a_file"], "is a file"),
        "existing output": (["generate", "x", "-o", tmp / "old.mp4"], "exists; nothing was changed"),
        "frames beyond the disk": (["generate", "x", "--frames", 10**12, "-o", out], "on disk; "),
        "10,000-character prompt": (["generate", "x" * 10_000, "-o", out], "characters long (at most 2,000)"),
        "missing weights file": (
            ["generate", "x", "--model", tmp / "no-weights", "-o", out],
            "has no vae/diffusion_pytorch_model.safetensors",
        ),
        "truncated weights file": (
            ["generate", "x", "--model", tmp / "cut-weights", "-o", out],
            "is damaged (cut short, or not a safetensors file)",
        ),
        "story: broken YAML": (["story", tmp / "broken.yaml", "-o", out], "broken.yaml:2:3: not valid YAML"),
        "story: existing output": (
            ["story", tmp / "ok.yaml", "-o", tmp / "old.mp4"],
            "exists; nothing was changed",
        ),
        "batch: a bad row": (
            ["batch", tmp / "one-bad-row.csv", "-o", tmp / "b"],
            "one-bad-row.csv:3: --frames",
        ),
        "batch: empty file": (["batch", tmp / "empty.txt", "-o", tmp / "b"], "has no prompts"),
        "batch: output is a file": (
            ["batch", tmp / "good.txt", "-o", tmp / "a_file"],
            "a_file is a file",
        ),
        "train: a file as --data": (
            ["train", "--data", tmp / "a_file", "--model", "tiny-random", "--out", tmp / "run"],
            "is a file, not a folder",
        ),
        "train: missing --data": (
            ["train", "--data", tmp / "nope", "--model", "tiny-random", "--out", tmp / "run"],
            "does not exist",
        ),
        "eval: empty folder": (["eval", tmp / "no-videos"], "holds no videos"),
        "eval: a file as the folder": (["eval", tmp / "a_file"], "is not a folder of videos"),
    }


def test_every_bad_input_is_in_the_cli_docs_table():
    table = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    for case, (_, message) in bad_inputs(Path("/x")).items():
        assert f"| {case} |" in table and message in table, case


@pytest.mark.parametrize("case", list(bad_inputs(Path("/nonexistent"))))
def test_bad_input_is_one_line_exit_2_and_no_output(runner, tmp_path, case):
    if case == "no cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is visible")
    write_bad_files(tmp_path)
    args, message = bad_inputs(tmp_path)[case]
    before = set(tmp_path.rglob("*"))
    result = invoke(runner, args)  # the default model: its note must not come before the error
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and lines[-1].lstrip().startswith("fix: ")
    assert len(lines) == 2  # the problem, then its fix
    assert set(tmp_path.rglob("*")) == before  # nothing written


def test_out_folder_is_created_when_missing(runner, tmp_path):
    out = tmp_path / "renders" / "today" / "v.mp4"
    result = invoke(runner, ["generate", "x", *FAST, "--frames", 1, "-o", out])
    assert result.exit_code == 0, result.output
    assert out.exists() and out.with_suffix(".json").exists()


def test_frames_dir_of_an_earlier_run_is_replaced(runner, tmp_path):
    frames_dir = tmp_path / "frames"
    for frames in (4, 2):
        args = [
            "generate",
            "x",
            *FAST,
            "--frames",
            frames,
            "-o",
            tmp_path / "v.mp4",
            "--frames-dir",
            frames_dir,
            "--force",  # the second run replaces the first one's video, as asked
        ]
        assert invoke(runner, args).exit_code == 0
    assert sorted(p.name for p in frames_dir.iterdir()) == ["000000.png", "000001.png"]


def test_debug_env_shows_the_traceback(runner, tmp_path):
    result = invoke(
        runner, ["generate", "x", "--frames", 0, "-o", tmp_path / "v.mp4"], env={"ARTV_DEBUG": "1"}
    )
    assert result.exit_code != 0
    assert result.exception is not None and "frames" in str(result.exception)


def test_usage_errors_name_the_option(runner):
    missing = invoke(runner, ["animate"])
    assert missing.exit_code == 2 and "Missing argument 'image'" in missing.output
    wrong = invoke(runner, ["generate", "x", "--scheduler", "euler"])
    assert wrong.exit_code == 2 and "--scheduler" in wrong.output and "dpm++" in wrong.output


def test_unexpected_failure_is_one_line_without_traceback(runner, tmp_path, monkeypatch):
    import artv_cli.engine.sampling.loop as sampler

    def broken(*args, **kwargs):
        raise RuntimeError("something inside broke")
        yield

    monkeypatch.setattr(sampler, "render", broken)
    result = invoke(runner, ["generate", "x", *FAST, "-o", tmp_path / "v.mp4"])
    assert result.exit_code == 1
    assert "internal error: RuntimeError: something inside broke" in result.stderr
    assert "ARTV_DEBUG=1" in result.stderr and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_interrupted_render_leaves_no_complete_looking_file(runner, tmp_path, monkeypatch):
    import artv_cli.engine.sampling.loop as sampler

    real = sampler.render

    def interrupted(*args, **kwargs):
        for i, frame in enumerate(real(*args, **kwargs)):
            if i == 2:
                raise KeyboardInterrupt
            yield frame

    monkeypatch.setattr(sampler, "render", interrupted)
    out = tmp_path / "v.mp4"
    result = invoke(
        runner, ["generate", "x", *FAST, "--frames", 5, "-o", out, "--frames-dir", tmp_path / "f"]
    )
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    assert leftovers(tmp_path) == []


def test_help_has_examples(runner):
    for command in ([], ["animate"], ["generate"]):
        result = invoke(runner, [*command, "--help"])
        assert result.exit_code == 0
        assert "Examples" in result.stdout and "artv " in result.stdout


def test_version(runner):
    result = invoke(runner, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("artv ")


@pytest.mark.skipif(os.environ.get("CI_NO_SUBPROCESS") == "1", reason="no subprocess")
def test_console_script_runs(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "v.mp4"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "artv_cli",
            "animate",
            str(EXAMPLE),
            "a ball",
            *FAST,
            "--frames",
            "2",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out) and out.exists()


def test_fast_takes_the_default_models_measured_preset_unless_told_otherwise(runner, tmp_path):
    out = tmp_path / "fast.mp4"
    result = invoke(runner, ["generate", "a ball", "--fast", "--frames", 2, "--seed", 1, "-o", out])
    assert result.exit_code == 0, result.output
    record = json.loads(out.with_suffix(".json").read_text())
    settings, preset = record["settings"], record["model_config"]["fast"]
    assert record["sampling_from"] == "fast" and preset["steps"] < record["model_config"]["steps"]
    assert {k: settings[k] for k in preset} == preset  # the default model's preset (docs/default-model.md)
    timing = record["timing"]
    assert timing["first_generated_frame_seconds"] > 0 and timing["compiled"] is False
    told = invoke(runner, ["generate", "a ball", "--fast", "--steps", 3, "--frames", 2, "-o", out, "--force"])
    assert told.exit_code == 0 and json.loads(out.with_suffix(".json").read_text())["settings"]["steps"] == 3
    # a model without a preset (a random one has no folder): DPM-Solver++ at 12 steps
    args = ["generate", "a ball", "--model", "tiny-random", "--frames", 1, "--fast", "-o", out, "--force"]
    capped = invoke(runner, args)
    settings = json.loads(out.with_suffix(".json").read_text())["settings"]
    assert capped.exit_code == 0 and (settings["scheduler"], settings["steps"]) == ("dpm++", 12)
    # without --fast: the default model's own recommendation (DPM-Solver++), a random preset's built-in DDIM
    default = invoke(runner, ["generate", "a ball", "--frames", 1, "--steps", 1, "-o", out, "--force"])
    assert (
        default.exit_code == 0
        and json.loads(out.with_suffix(".json").read_text())["settings"]["scheduler"] == "dpm++"
    )
    args = ["generate", "a ball", "--model", "tiny-random", "--frames", 1, "--steps", 1, "-o", out, "--force"]
    built_in = invoke(runner, args)
    assert (
        built_in.exit_code == 0
        and json.loads(out.with_suffix(".json").read_text())["settings"]["scheduler"] == "ddim"
    )


def test_mask_every_is_recorded_and_checked(runner, tmp_path):
    out = tmp_path / "m.mp4"
    result = invoke(
        runner, ["animate", EXAMPLE, "a ball", *FAST, "--frames", 2, "--mask-every", 2, "-o", out]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.with_suffix(".json").read_text())["settings"]["mask_every"] == 2
    bad = invoke(runner, ["animate", EXAMPLE, "a ball", *FAST, "--mask-every", 0, "-o", out])
    assert bad.exit_code == 2 and "--mask-every must be at least 1" in bad.stderr


@pytest.mark.slow
def test_compile_renders_the_same_video_shape(runner, tmp_path):
    out = tmp_path / "c.mp4"
    result = invoke(runner, ["animate", EXAMPLE, "a ball", *FAST, "--frames", 3, "--compile", "-o", out])
    assert result.exit_code == 0, result.output
    assert len(read_video(out)[0]) == 3
    assert json.loads(out.with_suffix(".json").read_text())["timing"]["compiled"] is True
