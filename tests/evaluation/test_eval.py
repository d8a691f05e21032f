"""`artv eval`: metric math in closed form, extractors through the real loading code, world scorer, CLI."""

import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.data.video import VideoWriter, read_video
from artv_cli.engine.evaluation.drift import PSNR_CAP, track
from artv_cli.engine.evaluation.metrics import (
    FeatureMoments,
    clipsim,
    frechet_distance,
    inception_score,
    to_probabilities,
)
from artv_cli.engine.evaluation.worldscore import WorldScorer, classify_shape, parse_prompt, summarise


def invoke(args, **kwargs):
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


# ----- closed forms -------------------------------------------------------------------------------
def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 64)) @ np.random.default_rng(1).normal(size=(64, 64))
    moments = FeatureMoments()
    for chunk in np.array_split(x, 7):  # batched, as the extractors feed it
        moments.add(chunk)
    mu, cov = moments.mean_cov()
    np.testing.assert_allclose(mu, x.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(cov, np.cov(x, rowvar=False, bias=True), atol=1e-8)
    assert abs(frechet_distance(mu, cov, mu, cov)) < 1e-6


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    s1, s2 = rng.uniform(0.1, 3, 16), rng.uniform(0.1, 3, 16)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)
    # symmetric in its two sets, and stable for a singular covariance (fewer samples than dimensions)
    x, y = rng.normal(size=(10, 32)), rng.normal(size=(12, 32)) + 0.5
    a, b = FeatureMoments(), FeatureMoments()
    a.add(x), b.add(y)
    forward, backward = (
        frechet_distance(*a.mean_cov(), *b.mean_cov()),
        frechet_distance(*b.mean_cov(), *a.mean_cov()),
    )
    assert np.isfinite(forward) and forward == pytest.approx(backward, rel=1e-6)


def test_inception_score_of_balanced_one_hot_is_k_and_of_uniform_is_one():
    k = 10
    one_hot = np.eye(k)[np.arange(200) % k]
    mean, std = inception_score(one_hot, splits=10)
    assert mean == pytest.approx(k, rel=1e-9) and std == pytest.approx(0, abs=1e-9)
    assert inception_score(np.full((100, k), 1 / k), splits=5)[0] == pytest.approx(1.0, rel=1e-12)
    # logits become probabilities; probabilities stay as they are
    logits = np.random.default_rng(3).normal(size=(4, 5))
    np.testing.assert_allclose(to_probabilities(logits).sum(axis=1), 1)
    np.testing.assert_allclose(to_probabilities(one_hot[:4]), one_hot[:4])


def test_clipsim_is_the_mean_raw_cosine():
    text = np.array([1.0, 0.0, 0.0])
    frames = np.array([[2.0, 0.0, 0.0], [0.0, 5.0, 0.0], [1.0, 1.0, 0.0]])
    assert clipsim(frames, text) == pytest.approx((1 + 0 + 2**-0.5) / 3)


def moving_square(frames=8, size=32, step=2, colour=(220, 40, 40)):
    video = []
    for t in range(frames):
        frame = np.full((size, size, 3), 90, np.uint8)
        frame[10:18, 2 + step * t : 10 + step * t] = colour
        video.append(frame)
    return video


def test_a_constant_video_has_flicker_one_and_no_drift_and_is_flagged_frozen():
    frame = np.random.default_rng(4).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    summary = track([frame] * 6).summary()
    assert summary["flicker"] == 1.0
    assert summary["colour_shift"]["final"] == 0 and summary["colour_shift"]["slope"] == 0
    assert summary["hist_distance"]["final"] == 0
    assert summary["ssim_first"]["final"] == pytest.approx(1) and summary["psnr_first"]["final"] == PSNR_CAP
    assert summary["sharpness"]["final"] == pytest.approx(1)
    assert summary["frozen"] is True and summary["dynamic_degree"] == 0


def test_drift_curves_see_motion_and_fading():
    moving = track(moving_square()).summary()
    assert not moving["frozen"] and moving["flicker"] < 1
    assert moving["ssim_first"]["slope"] < 0
    fading = [np.full((32, 32, 3), 200 - 10 * t, np.uint8) for t in range(8)]
    faded = track(fading).summary()
    assert faded["colour_shift"]["final"] == pytest.approx(70 * 3**0.5)
    assert faded["colour_shift"]["slope"] == pytest.approx(10 * 3**0.5)
    assert faded["mae_prev"]["final"] == pytest.approx(10)
    assert faded["flicker"] == pytest.approx((255 - 10) / 255)


# ----- the synthetic-world scorer -----------------------------------------------------------------
def test_prompts_of_the_world_grammar_are_parsed():
    parsed = parse_prompt(
        "a red circle moves up and to the left quickly and an orange square moves down slowly, "
        "on a plain grey background, the camera pans left"
    )
    assert [(o.colour, o.shape, o.direction, o.speed) for o in parsed.objects] == [
        ("red", "circle", "up and to the left", "quickly"),
        ("orange", "square", "down", "slowly"),
    ]
    assert (parsed.camera, parsed.camera_direction) == ("pan", "left")
    assert parse_prompt("a cat plays the piano") is None


def test_shapes_are_told_apart_from_their_silhouettes():
    yy, xx = np.mgrid[0:40, 0:40] - 20.0
    assert classify_shape(xx**2 + yy**2 <= 64) == "circle"
    assert classify_shape((abs(xx) <= 7) & (abs(yy) <= 7)) == "square"
    assert classify_shape(abs(xx) + abs(yy) <= 9) == "diamond"
    assert classify_shape((yy <= 6) & (abs(xx) <= 0.9 * (yy + 9) / 1.6)) == "triangle"


def test_world_scorer_accepts_true_captions_and_rejects_shuffled_ones(tmp_path):
    from artv_cli.engine.data.synth import SynthSettings, synth_dataset

    data = synth_dataset(tmp_path / "w", SynthSettings(videos=24, seed=21, frames=12))
    truths = [json.loads(line) for line in (data / "ground_truth.jsonl").read_text().splitlines()]
    captions = [t["caption"] for t in truths]
    shuffled = captions[1:] + captions[:1]
    random.Random(0).shuffle(shuffled)
    scores = {}
    for name, prompts in (("true", captions), ("shuffled", shuffled)):
        results = []
        for truth, prompt in zip(truths, prompts, strict=True):
            scorer = WorldScorer(parse_prompt(prompt))
            for frame in read_video(data / "videos" / truth["page_dir"] / f"{truth['videoid']}.mp4")[0]:
                scorer.add(frame)
            results.append(scorer.result())
        scores[name] = summarise(results)
    assert scores["true"]["accuracy"] >= 0.95 and scores["true"]["colour_accuracy"] == 1
    assert scores["shuffled"]["accuracy"] <= 0.4


# ----- extractors: stand-in TorchScript modules with the real call signatures ---------------------
class StandInI3D(torch.nn.Module):
    def forward(
        self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False
    ):
        assert (
            x.dim() == 5 and x.shape[1] == 3 and x.shape[2] == 16 and x.shape[3] == 224 and x.shape[4] == 224
        )
        assert not rescale and not resize and return_features
        assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
        pooled = x.mean(dim=(2, 3, 4))  # (N, 3)
        return torch.cat([pooled, pooled**2, pooled[:, :1] * pooled[:, 1:2]], dim=1).repeat(1, 57)[:, :400]


class StandInInception(torch.nn.Module):
    def forward(self, x: torch.Tensor, return_features: bool = False, no_output_bias: bool = False):
        assert x.dtype == torch.uint8 and x.dim() == 4 and x.shape[1] == 3
        f = x.float().mean(dim=(2, 3)) / 255  # (N, 3)
        if return_features:
            return torch.cat([f, f**2], dim=1).repeat(1, 342)[:, :2048]
        assert no_output_bias
        return torch.softmax(torch.cat([f * 10, -f * 10], dim=1).repeat(1, 168)[:, :1008], dim=1)


class StandInC3D(torch.nn.Module):
    def forward(self, x: torch.Tensor):
        assert x.dtype == torch.uint8 and x.shape[1] == 3 and x.shape[2] == 16 and x.shape[3] == 128
        f = x.float().mean(dim=(2, 3, 4)) / 255
        return torch.cat([f * 20, -f * 20], dim=1).repeat(1, 17)[:, :101]


def clip_folder(path: Path) -> Path:
    """A tiny CLIPModel with a character tokenizer and an image processor, saved as transformers would."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from artv_cli.engine.model.tokenizers import char_tokenizer

    tokenizer = char_tokenizer()
    torch.manual_seed(0)
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    text = dict(
        vocab_size=len(tokenizer), max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1
    )
    vision = dict(image_size=32, patch_size=8)
    model = CLIPModel(CLIPConfig(text_config=small | text, vision_config=small | vision, projection_dim=16))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        path
    )
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("eval-weights")
    stand_ins = {"i3d_torchscript.pt": StandInI3D(), "inception-2015-12-05.pt": StandInInception()}
    for name, module in (stand_ins | {"c3d_ucf101.pt": StandInC3D()}).items():
        torch.jit.save(torch.jit.script(module), folder / name)
    clip_folder(folder / "clip-vit-base-patch32")
    return folder


def write_videos(
    folder: Path, count: int, frames: int = 16, seed: int = 0, with_sidecars: bool = True
) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        with VideoWriter(folder / f"v{i:02d}.mp4", fps=8) as writer:
            for frame in moving_square(frames=frames, colour=colour, step=1 + i % 3):
                writer.append(frame)
        if with_sidecars:
            (folder / f"v{i:02d}.json").write_text(
                json.dumps({"prompt": f"a square of colour {colour} moves right"})
            )
    return folder


def test_every_metric_runs_through_the_real_loading_and_batching_code(weights, tmp_path):
    generated = write_videos(tmp_path / "gen", 5, seed=1)
    real = write_videos(tmp_path / "real", 6, seed=2, with_sidecars=False)
    out = tmp_path / "results" / "scores.json"
    args = [
        "eval",
        generated,
        "--ref",
        real,
        "--weights-dir",
        weights,
        "--batch-size",
        2,
        "--out",
        out,
        "--json",
    ]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    metrics = printed["metrics"]
    assert set(metrics) == {"fvd", "fid", "is_video", "is_image", "clipsim", "drift"}
    assert metrics["fvd"]["samples_generated"] == 5 and metrics["fvd"]["samples_ref"] == 6
    assert metrics["fid"]["samples_generated"] == 5 * 16 and metrics["fid"]["samples_ref"] == 6 * 16
    assert metrics["is_video"]["samples"] == 5 and metrics["is_video"]["splits"] == 10
    assert -1 <= metrics["clipsim"]["value"] <= 1 and metrics["clipsim"]["videos"] == 5
    assert printed["skipped"] == {"world": "no prompt is in the synthetic world's grammar (artv data synth)"}
    for name in ("i3d", "inception", "c3d", "clip"):
        assert len(printed["weights"][name]["sha256"]) == 64
    assert printed["protocol"]["name"] == "default" and printed["counts"]["clips_generated"] == 5
    saved = json.loads(out.read_text())
    assert saved["metrics"]["fvd"] == metrics["fvd"] and len(saved["curves"]["ssim_first"]) == 16
    assert (tmp_path / "results" / "scores-drift.png").stat().st_size > 1000

    # the same set on both sides: FVD and FID are zero (to float rounding of the features)
    same = invoke(
        ["eval", generated, "--ref", generated, "--weights-dir", weights, "--fvd", "--fid", "--json"]
    )
    assert same.exit_code == 0, same.output
    same_metrics = json.loads(same.stdout)["metrics"]
    assert same_metrics["fvd"]["value"] < 1e-4 and same_metrics["fid"]["value"] < 1e-4


def test_missing_weights_are_reported_as_skipped_with_the_file_and_the_download(tmp_path):
    generated = write_videos(tmp_path / "gen", 2)
    empty = tmp_path / "no-weights"
    empty.mkdir()
    result = invoke(["eval", generated, "--weights-dir", empty])
    assert result.exit_code == 0, result.output
    assert "skipped clipsim: no clip-vit-base-patch32 in" in result.stderr
    assert "`artv download clip`" in result.stderr and "`artv download c3d`" in result.stderr
    assert "flicker" in result.stdout  # drift needs no weights and ran
    strict = invoke(["eval", generated, "--weights-dir", empty, "--clipsim", "--strict"])
    assert strict.exit_code == 2 and "no clip-vit-base-patch32" in strict.stderr and "fix:" in strict.stderr
    no_ref = invoke(["eval", generated, "--weights-dir", empty, "--fvd"])
    assert no_ref.exit_code == 2 and "--ref" in no_ref.stderr


def test_a_broken_video_is_reported_and_the_rest_are_scored(tmp_path):
    generated = write_videos(tmp_path / "gen", 3, with_sidecars=False)
    (generated / "v01.mp4").write_bytes(b"\x00" * 100)
    frames = generated / "as-frames"  # a folder of PNG frames is a video too
    frames.mkdir()
    from PIL import Image

    for t, frame in enumerate(moving_square(frames=6)):
        Image.fromarray(frame).save(frames / f"{t:04d}.png")
    result = invoke(["eval", generated, "--drift", "--json"], env={"ARTV_PROGRESS_EVERY": "3600"})
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert [Path(b["video"]).name for b in printed["broken"]] == ["v01.mp4"]
    # stderr is not a terminal here (as under nohup): plain lines at the start and the end, no live bar
    assert re.findall(r"^generated videos (\d+/\d+) ", result.stderr, re.M) == ["1/4", "4/4"]
    assert printed["metrics"]["drift"]["videos"] == 3
    assert "broken video skipped" in result.stderr


def test_world_scores_from_the_cli_on_a_synthetic_dataset(synth_data, tmp_path):
    result = invoke(["eval", synth_data, "--world", "--drift", "--json"])
    assert result.exit_code == 0, result.output
    world = json.loads(result.stdout)["metrics"]["world"]
    assert world["videos"] == 8 and world["accuracy"] >= 0.9
    table = invoke(["eval", synth_data, "--world"])
    assert "world accuracy" in table.stdout


def test_protocols_subsample_with_their_seed_and_record_the_counts(tmp_path, monkeypatch):
    from artv_cli.engine.evaluation import evaluate as ev

    monkeypatch.setitem(ev.PROTOCOLS, "tiny-test", ev.Protocol("tiny-test", "3 videos", videos=3, seed=5))
    generated = write_videos(tmp_path / "gen", 5, frames=4, with_sidecars=False)
    config = ev.EvalConfig(generated=generated, metrics=["drift"], protocol="tiny-test")
    first, second = ev.evaluate(config).results, ev.evaluate(config).results
    assert first["counts"]["generated_videos"] == 3
    assert [v["video"] for v in first["metrics"]["drift"]["per_video"]] == [
        v["video"] for v in second["metrics"]["drift"]["per_video"]
    ]
    with pytest.raises(Exception, match="unknown protocol"):
        ev.evaluate(ev.EvalConfig(generated=generated, protocol="nope"))


def test_eval_refuses_a_folder_without_videos(tmp_path):
    result = invoke(["eval", tmp_path])
    assert result.exit_code == 2 and "holds no videos" in result.stderr
    shutil.rmtree(tmp_path)
    gone = invoke(["eval", tmp_path])
    assert gone.exit_code == 2 and "is not a folder of videos" in gone.stderr
