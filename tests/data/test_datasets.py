"""`artv data synth`, the dataset loaders and the latent cache, as a user and the trainer see them."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.data.datasets import ClipDataset, FrameSpec, sample_indices, scan
from artv_cli.engine.data.synth import COLOURS, SynthSettings, synth_dataset
from artv_cli.engine.data.video import VideoWriter, read_video
from artv_cli.errors import ArtvError


def truth_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "ground_truth.jsonl").read_text().splitlines()]


def test_synth_cli_writes_the_webvid_layout_with_ground_truth(tmp_path):
    out = tmp_path / "world"
    result = CliRunner().invoke(
        app, ["data", "synth", str(out), "--videos", "3", "--frames", "6", "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    rows = list(csv.DictReader((out / "results_synth.csv").read_text().splitlines()))
    assert [r["videoid"] for r in rows] == ["000000", "000001", "000002"]
    assert set(rows[0]) == {"videoid", "name", "page_dir", "duration"}
    assert rows[0]["duration"] == "PT00H00M01S"
    for row in rows:
        frames, meta = read_video(out / "videos" / row["page_dir"] / f"{row['videoid']}.mp4")
        assert len(frames) == 6 and meta["size"] == (64, 64)
        assert " moves " in row["name"]
    truths = truth_lines(out)
    assert [t["caption"] for t in truths] == [r["name"] for r in rows]
    assert all(len(o["positions"]) == 6 for t in truths for o in t["objects"])
    assert not (tmp_path / "world.partial").exists()


def test_synth_is_deterministic_for_a_seed_and_differs_across_seeds(tmp_path):
    settings = SynthSettings(videos=3, seed=7, frames=6)
    a, b = synth_dataset(tmp_path / "a", settings), synth_dataset(tmp_path / "b", settings)
    c = synth_dataset(tmp_path / "c", SynthSettings(videos=3, seed=8, frames=6))
    assert (a / "results_synth.csv").read_text() == (b / "results_synth.csv").read_text()
    assert (a / "ground_truth.jsonl").read_text() == (b / "ground_truth.jsonl").read_text()
    for name in ("000000", "000002"):
        frames_a, _ = read_video(a / "videos" / "000" / f"{name}.mp4")
        frames_b, _ = read_video(b / "videos" / "000" / f"{name}.mp4")
        assert all(np.array_equal(x, y) for x, y in zip(frames_a, frames_b, strict=True))
    assert (a / "results_synth.csv").read_text() != (c / "results_synth.csv").read_text()
    # video i depends only on (seed, i): a larger dataset starts with the same videos
    d = synth_dataset(tmp_path / "d", SynthSettings(videos=4, seed=7, frames=6))
    assert (d / "ground_truth.jsonl").read_text().startswith((a / "ground_truth.jsonl").read_text())


def test_ground_truth_positions_match_the_pixels(synth_data):
    """Where the ground truth puts an object, the decoded frame shows the object's colour."""
    checked = 0
    for truth in truth_lines(synth_data):
        frames, _ = read_video(synth_data / "videos" / truth["page_dir"] / f"{truth['videoid']}.mp4")
        if len(truth["objects"]) != 1:
            continue  # two objects may overlap
        obj = truth["objects"][0]
        for frame, (x, y), visible in zip(frames, obj["positions"], obj["visible"], strict=True):
            if not visible or not (4 <= x < 60 and 4 <= y < 60):
                continue
            pixel = frame[int(y), int(x)].astype(int)
            assert np.abs(pixel - np.array(COLOURS[obj["colour"]])).max() < 40, (truth["caption"], x, y)
            checked += 1
    assert checked > 10


def test_objects_move_in_the_captioned_direction(synth_data):
    for truth in truth_lines(synth_data):
        if truth["camera"] != "static":
            continue
        for obj in truth["objects"]:
            (x0, y0), (x1, y1) = obj["positions"][0], obj["positions"][-1]
            if "right" in obj["direction"]:
                assert x1 > x0 + 5
            if "left" in obj["direction"]:
                assert x1 < x0 - 5
            if obj["direction"].startswith("up"):
                assert y1 < y0 - 5
            if obj["direction"].startswith("down"):
                assert y1 > y0 + 5


def test_synth_refuses_a_folder_that_holds_files(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = CliRunner().invoke(app, ["data", "synth", str(tmp_path), "--videos", "1"])
    assert result.exit_code == 2
    assert "is not an empty folder" in result.stderr and "fix:" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_webvid_layout_is_read(synth_data):
    catalogue = scan(synth_data)
    assert catalogue.layout == "webvid"
    assert len(catalogue.items) == 8 and not catalogue.skipped
    assert catalogue.items[0].key == "000000"


def make_folder_layout(synth_data: Path, root: Path, captions: str) -> Path:
    """Copy 3 synthetic videos into a plain folder, captioned the given way."""
    root.mkdir()
    catalogue = scan(synth_data)
    for item in catalogue.items[:3]:
        shutil.copy(item.path, root / f"clip{item.key}.mp4")
    items = catalogue.items[:3]
    if captions == "txt":
        for item in items:
            (root / f"clip{item.key}.txt").write_text(item.caption + "\n")
    elif captions == "csv":
        with open(root / "captions.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "caption"])
            writer.writerows([f"clip{i.key}.mp4", i.caption] for i in items)
    else:
        (root / "captions.jsonl").write_text(
            "".join(json.dumps({"file": f"clip{i.key}.mp4", "caption": i.caption}) + "\n" for i in items)
        )
    return root


@pytest.mark.parametrize("captions", ["txt", "csv", "jsonl"])
def test_plain_folder_layouts_are_read(synth_data, tmp_path, captions):
    root = make_folder_layout(synth_data, tmp_path / "clips", captions)
    catalogue = scan(root)
    assert catalogue.layout == "folder"
    assert [i.key for i in catalogue.items] == ["clip000000.mp4", "clip000001.mp4", "clip000002.mp4"]
    assert catalogue.items[0].caption == scan(synth_data).items[0].caption


def test_corrupt_and_captionless_videos_are_skipped_and_counted(synth_data, tmp_path):
    root = make_folder_layout(synth_data, tmp_path / "clips", "txt")
    (root / "clip000001.mp4").write_bytes(b"not a video at all")
    (root / "clip000001.txt").write_text("a broken file")
    shutil.copy(root / "clip000000.mp4", root / "nocaption.mp4")
    with VideoWriter(root / "clip000001b.mp4", fps=8) as writer:  # one frame: too short to train on
        writer.append(np.zeros((64, 64, 3), np.uint8))
    (root / "clip000001b.txt").write_text("a single frame")
    catalogue = scan(root)
    assert catalogue.skipped == {"without caption": 1}
    dataset = ClipDataset(catalogue, FrameSpec(64, 64))
    sample = dataset[(1, 0.5, 0.5)]  # the corrupt video, then the short one: the next is used, skips reported
    assert sample["skipped"] == [("clip000001.mp4", "corrupt"), ("clip000001b.mp4", "too short")]
    assert sample["caption"] == catalogue.items[3].caption
    assert sample["pixels"].shape == (4, 3, 64, 64)
    assert sample["pixels"].min() >= -1 and sample["pixels"].max() <= 1

    result = CliRunner().invoke(app, ["data", "info", str(root), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["skipped"] == {"without caption": 1}


def test_frames_are_resized_cropped_and_strided(synth_data):
    item = scan(synth_data).items[0]
    from artv_cli.engine.data.datasets import decode

    assert decode(item.path, FrameSpec(48, 32)).shape == (12, 32, 48, 3)
    assert decode(item.path, FrameSpec(64, 64, stride=3)).shape == (4, 64, 64, 3)
    assert decode(item.path, FrameSpec(64, 64, fps=4)).shape[0] == 6  # 12 frames at 8 fps -> 6 at 4 fps


def test_training_samples_follow_the_method():
    """Target i >= 1, references i-1 and i-2 (frame 0 twice at i = 1), anchor among the 10 frames before i."""
    rng = np.random.default_rng(0)
    seen_targets, seen_back = set(), set()
    for _ in range(2000):
        frames = int(rng.integers(2, 40))
        target, prev, prev2, anchor = sample_indices(frames, rng.random(), rng.random(), window=10)
        assert 1 <= target < frames
        assert prev == target - 1 and prev2 == max(0, target - 2)
        assert max(0, target - 10) <= anchor < target
        seen_targets.add(target)
        seen_back.add(target - anchor)
    assert sample_indices(24, 0.0, 0.0, 10) == (1, 0, 0, 0)
    assert seen_back == set(range(1, 11))


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "holds no videos in a known layout"),
        (
            lambda root: (root.mkdir(), (root / "results_x.csv").write_text("id,caption\n1,a\n")),
            "lacks the WebVid column(s) name, page_dir, videoid",
        ),
        (
            lambda root: (
                root.mkdir(),
                (root / "results_x.csv").write_text("videoid,name,page_dir\n1,a,0\n"),
            ),
            "holds no usable captioned videos",
        ),
    ],
)
def test_bad_dataset_folders_name_the_fix(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(ArtvError) as error:
        scan(root)
    assert message in error.value.message
    assert "artv data synth" in error.value.hint or "WebVid" in error.value.hint


def test_latent_cache_is_built_once_reused_and_refused_when_made_otherwise(synth_data, tiny_model, tmp_path):
    from artv_cli.engine.training.latents import LatentDataset, build_cache

    catalogue = scan(synth_data)
    spec = FrameSpec(64, 64)
    folder = build_cache(tiny_model, catalogue, spec, tmp_path / "cache", shard_mb=0.01)
    shards = sorted(folder.glob("shard-*.safetensors"))
    assert len(shards) > 1  # small shards: several files
    dataset = LatentDataset(folder)
    assert len(dataset) == 8
    sample = dataset[(2, 0.5, 0.5)]
    assert sample["latents"].shape == (4, 4, 8, 8)
    # the cached latents are what the VAE gives for the same frames
    pixels = ClipDataset(catalogue, spec)[(2, 0.5, 0.5)]["pixels"]
    import torch

    with torch.no_grad():
        direct = tiny_model.encode_images(pixels)
    assert torch.allclose(sample["latents"], direct, atol=2e-3)
    mtime = shards[0].stat().st_mtime_ns
    assert build_cache(tiny_model, catalogue, spec, folder) == folder
    assert shards[0].stat().st_mtime_ns == mtime
    with pytest.raises(ArtvError, match="made differently"):
        build_cache(tiny_model, catalogue, FrameSpec(32, 32), folder)
