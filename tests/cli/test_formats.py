"""`--out` chooses the format by its extension: MP4, GIF, WebM or a folder of PNGs, each with its sidecar."""

import json

import imageio_ffmpeg
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
