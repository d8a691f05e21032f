"""`--out` chooses the format by its extension: MP4, GIF, WebM or a folder of PNGs, each with its sidecar."""

import json

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from artv_cli.app import app

ARGS = ["generate", "a red circle moves right", "--model", "tiny-random", "--frames", "5", "--steps", "1"]


def decoded(path):
    """(codec, size, fps, frame count) as ffmpeg reads the file back."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    return meta["codec"].strip(","), tuple(meta["size"]), meta["fps"], sum(1 for _ in reader)


@pytest.mark.parametrize(
    ("name", "codec", "fps"), [("v.mp4", "h264", 8.0), ("v.webm", "vp9", 8.0), ("v.gif", "gif", 8.33)]
)
def test_each_video_format_decodes_back_with_its_frames_size_and_rate(tmp_path, name, codec, fps):
    out = tmp_path / name
    result = CliRunner().invoke(app, [*ARGS, "--seed", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert decoded(out) == (codec, (64, 64), fps, 5)  # a GIF keeps delays in 1/100 s: 12 cs = 8.33 fps
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["video"] == str(out) and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["v.json", name]
    )


def test_a_name_without_extension_is_a_folder_of_png_frames(tmp_path):
    out = tmp_path / "frames"
    result = CliRunner().invoke(app, [*ARGS, "--seed", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(5)]
    assert Image.open(out / "000000.png").size == (64, 64)
    assert (tmp_path / "frames.json").is_file()
    again = CliRunner().invoke(app, [*ARGS, "--seed", "3", "-o", str(out)])
    assert again.exit_code == 2 and "exists; nothing was changed" in again.stderr
    forced = CliRunner().invoke(app, [*ARGS, "--seed", "3", "-o", str(out), "--force"])
    assert forced.exit_code == 0 and len(list(out.iterdir())) == 5


def test_gif_quality_sets_the_palette_and_webm_quality_the_size(tmp_path):
    sizes = {}
    for quality in (1, 10):
        for ext in ("gif", "webm"):
            out = tmp_path / f"q{quality}-{ext}.{ext}"
            result = CliRunner().invoke(
                app, [*ARGS, "--seed", "3", "--quality", str(quality), "-o", str(out)]
            )
            assert result.exit_code == 0, result.output
            sizes[ext, quality] = out.stat().st_size
    assert sizes["webm", 1] < sizes["webm", 10]
    colours = {q: len(Image.open(tmp_path / f"q{q}-gif.gif").getcolors(1 << 16)) for q in (1, 10)}
    assert colours[1] <= 32 and colours[1] < colours[10], colours


def test_an_unknown_extension_is_refused_before_any_work_naming_the_formats(tmp_path):
    result = CliRunner().invoke(app, [*ARGS, "-o", str(tmp_path / "v.avi")])
    assert result.exit_code == 2
    assert ".avi is not a format artv writes" in result.stderr
    assert all(word in result.stderr for word in (".mp4", ".gif", ".webm", "PNG"))
    assert list(tmp_path.iterdir()) == []


def test_another_formats_sidecar_is_not_replaced_silently(tmp_path):
    first = CliRunner().invoke(app, [*ARGS, "--seed", "3", "-o", str(tmp_path / "v.gif")])
    assert first.exit_code == 0, first.output
    before = (tmp_path / "v.json").read_text()
    second = CliRunner().invoke(app, [*ARGS, "--seed", "3", "-o", str(tmp_path / "v.webm")])
    assert second.exit_code == 2 and "v.json exists" in second.stderr
    assert (tmp_path / "v.json").read_text() == before and not (tmp_path / "v.webm").exists()


STORY = """\
model: tiny-random
size: 64
fps: 8
seed: 5
steps: 1
segments:
  - {prompt: a red circle moves right slowly, frames: 3}
  - {prompt: a blue square moves up quickly, frames: 2}
output: {path: story.mp4}
"""


@pytest.mark.parametrize(("name", "codec", "fps"), [("s.webm", "vp9", 8.0), ("s.gif", "gif", 8.33)])
def test_a_story_writes_each_format_and_its_playable_partial(
    tmp_path, monkeypatch, ctrl_c_in_segment_2, name, codec, fps
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "two.yaml").write_text(STORY)
    stopped = CliRunner().invoke(app, ["story", "two.yaml", "-o", name])
    assert stopped.exit_code == 130 and "holds the first 1 of 2 segments" in stopped.stderr
    assert decoded(tmp_path / name) == (codec, (64, 64), fps, 3)  # playable: segment 1, in its format
    ctrl_c_in_segment_2()  # the real frame loop again
    resumed = CliRunner().invoke(app, ["story", "two.yaml", "-o", name, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert decoded(tmp_path / name) == (codec, (64, 64), fps, 5)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["two.yaml", name, "s.json"])


def test_a_story_into_a_folder_of_pngs_has_the_mp4_s_frames_and_renders_again_from_its_sidecar(
    tmp_path, monkeypatch
):
    from artv_cli.engine.data.video import read_video

    monkeypatch.chdir(tmp_path)
    (tmp_path / "two.yaml").write_text(STORY.replace("{path: story.mp4}", "{path: story.mp4, gif: true}"))
    for args in (["-o", "frames"], ["-o", "v.mp4"]):
        result = CliRunner().invoke(app, ["story", "two.yaml", *args])
        assert result.exit_code == 0, result.output
    pngs = sorted((tmp_path / "frames").iterdir())
    assert [p.name for p in pngs] == [f"{i:06d}.png" for i in range(5)]
    assert decoded(tmp_path / "frames.gif")[3] == 5 and decoded(tmp_path / "v.gif")[3] == 5  # gif: true
    mp4 = read_video(tmp_path / "v.mp4")[0]  # H.264 is lossy: each PNG is nearest its own MP4 frame
    for i, png in enumerate(pngs):
        errors = [abs(np.asarray(Image.open(png), dtype=float) - frame).mean() for frame in mp4]
        assert int(np.argmin(errors)) == i and errors[i] < 16, errors
    again = CliRunner().invoke(app, ["story", "frames.json", "-o", "again"])
    assert again.exit_code == 0, again.output
    assert all(
        np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(tmp_path / "again" / a.name)))
        for a in pngs
    )


def test_batch_format_names_and_writes_every_video_in_it_and_is_part_of_the_batch(tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red circle moves right\na blue square moves up\n")
    quick = ["--model", "tiny-random", "--frames", "3", "--steps", "1"]
    gif = CliRunner().invoke(
        app, ["batch", str(prompts), "--out", str(tmp_path / "g"), *quick, "--format", "gif"]
    )
    assert gif.exit_code == 0, gif.output
    files = [
        json.loads(line)["file"] for line in (tmp_path / "g" / "manifest.jsonl").read_text().splitlines()
    ]
    assert files == ["00000-a-red-circle-moves-right.gif", "00001-a-blue-square-moves-up.gif"]
    assert all(decoded(tmp_path / "g" / f) == ("gif", (64, 64), 8.33, 3) for f in files)
    png = CliRunner().invoke(
        app, ["batch", str(prompts), "--out", str(tmp_path / "p"), *quick, "--format", "png"]
    )
    assert png.exit_code == 0, png.output
    folder = tmp_path / "p" / "00001-a-blue-square-moves-up"
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:06d}.png" for i in range(3)]
    assert (tmp_path / "p" / "00001-a-blue-square-moves-up.json").is_file()
    other = CliRunner().invoke(  # a batch's format cannot change halfway
        app, ["batch", str(prompts), "--out", str(tmp_path / "g"), *quick, "--format", "webm", "--resume"]
    )
    assert other.exit_code == 2 and "holds another batch" in other.stderr
    bad = CliRunner().invoke(
        app, ["batch", str(prompts), "--out", str(tmp_path / "b"), *quick, "--format", "avi"]
    )
    assert bad.exit_code == 2 and "--format avi is not a format" in bad.stderr and "gif, webm" in bad.stderr
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("name", ["v.gif", "v.webm", "frames"])
def test_the_command_in_the_sidecar_renders_the_same_frames_again(tmp_path, name):
    from artv_cli.engine.data.video import read_video

    def frames(path):
        if path.is_dir():
            return [np.asarray(Image.open(p)) for p in sorted(path.iterdir())]
        return read_video(path)[0]

    import subprocess
    import sys

    artv = [sys.executable, "-m", "artv_cli"]  # a real process: the sidecar records its command line
    first = subprocess.run([*artv, *ARGS, "--seed", "3", "-o", str(tmp_path / name)], capture_output=True)
    assert first.returncode == 0, first.stderr
    argv = json.loads((tmp_path / f"{name.split('.')[0]}.json").read_text())["argv"]
    assert argv[:2] == ARGS[:2] and "-o" in argv
    argv[argv.index("-o") + 1] = str(tmp_path / "again" / name)  # the recorded command, another output
    again = subprocess.run([*artv, *argv], capture_output=True)
    assert again.returncode == 0, again.stderr
    a, b = frames(tmp_path / name), frames(tmp_path / "again" / name)
    assert len(a) == len(b) == 5 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
