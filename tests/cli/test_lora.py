"""LoRA adapters: `artv train --lora`, `--lora PATH[:SCALE]` on every render command, `artv lora merge`,
and every bad adapter refused before a frame is rendered."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.training.trainer import TrainConfig, train

GEN = ["generate", "a red circle moves right", "--model", "tiny-random", "--frames", "3", "--steps", "2"]


def invoke(args, **kwargs):
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


def frames(folder):
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))]).astype(int)


@pytest.fixture(scope="module")
def adapters(synth_data, tmp_path_factory):
    """Two rank-4 adapters of tiny-random, trained 4 steps at a high rate (so that they show)."""
    found = {}
    for name, seed in (("a", 0), ("b", 1)):
        out = tmp_path_factory.mktemp("lora") / name
        settings = dict(data=synth_data, model="tiny-random", steps=4, batch_size=2, lr=5e-2, seed=seed)
        train(TrainConfig(out=out, lora=4, validation_videos=0, ema_decay=0, **settings))
        found[name] = out / "adapter"
    return found


def render(tmp_path, name, *extra):
    out = tmp_path / name
    result = invoke([*GEN, "--seed", 1, "-o", out.with_suffix(".mp4"), "--frames-dir", out, *extra])
    assert result.exit_code == 0, result.output
    return frames(out), json.loads(out.with_suffix(".json").read_text())


def test_the_adapter_folder_is_peft_layout_with_its_base_and_only_adapter_weights(adapters):
    from peft import LoraConfig

    folder = adapters["a"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "artv_adapter.json"
    ]  # fmt: skip
    config = LoraConfig.from_pretrained(str(folder))
    assert config.r == 4 and config.lora_alpha == 4
    meta = json.loads((folder / "artv_adapter.json").read_text())
    assert meta["base"]["name"] == "tiny-random" and len(meta["base"]["fingerprint"]) == 16
    assert meta["steps"] == 4 and meta["parts"] == ["unet"]
    weights = load_file(folder / "adapter_model.safetensors")
    assert weights and all(".lora_A." in k or ".lora_B." in k for k in weights)
    assert meta["parameters"] == sum(v.numel() for v in weights.values())
    checkpoint = load_file(folder.parent / "checkpoints" / "step-00000004" / "model.safetensors")
    assert all(".lora_" in key for key in checkpoint)  # no copy of the frozen base


def test_an_adapter_changes_the_video_only_when_loaded_scale_0_and_stacking_are_exact(adapters, tmp_path):
    plain, plain_record = render(tmp_path, "plain")
    loaded, record = render(tmp_path, "a", "--lora", adapters["a"])
    assert np.abs(loaded - plain).max() > 0
    off, _ = render(tmp_path, "off", "--lora", f"{adapters['a']}:0")
    assert np.array_equal(off, plain)
    stacked, stacked_record = render(tmp_path, "ab", "--lora", adapters["a"], "--lora", f"{adapters['b']}:0")
    assert np.array_equal(stacked, loaded)
    both, _ = render(tmp_path, "both", "--lora", adapters["a"], "--lora", adapters["b"])
    assert np.abs(both - loaded).max() > 0
    assert plain_record["adapters"] == [] and plain_record["settings"]["lora"] == []
    (entry,) = record["adapters"]
    weights = (adapters["a"] / "adapter_model.safetensors").read_bytes()
    import hashlib

    assert entry == {"path": str(adapters["a"]), "sha256": hashlib.sha256(weights).hexdigest(), "scale": 1.0}
    assert [e["scale"] for e in stacked_record["adapters"]] == [1.0, 0.0]
    again, _ = render(tmp_path, "again", "--lora", adapters["a"])  # the same command, the same frames
    assert np.array_equal(again, loaded)


def test_merge_bakes_the_adapters_into_a_folder_that_renders_as_the_loaded_one(adapters, tmp_path):
    merged = tmp_path / "merged"
    result = invoke(["lora", "merge", "tiny-random", f"{adapters['a']}:0.5", adapters["b"], "--out", merged])
    assert result.exit_code == 0, result.output
    config = json.loads((merged / "artv_config.json").read_text())
    assert [a["scale"] for a in config["extra"]["merged_adapters"]] == [0.5, 1.0]
    loaded, _ = render(tmp_path, "loaded", "--lora", f"{adapters['a']}:0.5", "--lora", adapters["b"])
    out = tmp_path / "m"
    result = invoke(
        [*GEN, "--seed", 1, "--model", merged, "-o", out.with_suffix(".mp4"), "--frames-dir", out]
    )
    assert result.exit_code == 0, result.output
    assert np.abs(frames(out) - loaded).max() <= 2  # float rounding of W + BA against W x + B A x
    again = invoke(["lora", "merge", "tiny-random", adapters["a"], "--out", merged])
    assert again.exit_code == 2 and "--force" in again.stderr


def bad(tmp_path, adapter, *model):
    out = tmp_path / "bad.mp4"
    result = invoke([*GEN, *model, "--seed", 1, "-o", out, "--lora", adapter])
    assert result.exit_code == 2, result.output
    assert list(tmp_path.glob("bad*")) == []  # nothing written
    return result.stderr.replace("\n", " ")


def test_every_bad_adapter_is_refused_with_its_name_and_a_fix(adapters, tmp_path):
    folder = adapters["a"]
    text = bad(tmp_path, folder, "--model", "world64-random")  # other shapes
    assert f"--lora {folder} does not fit model world64-random" in text and "is (4, 32)" in text
    assert "trained on (tiny-random)" in text
    other = tmp_path / "other-seed"  # the same shapes, other weights
    assert invoke(["init", "--base", "tiny-random", "--seed", 5, other]).exit_code == 0
    text = bad(tmp_path, folder, "--model", other)
    assert "was trained on tiny-random (fingerprint" in text and "artv train --lora" in text
    text = bad(tmp_path, f"{folder}:2.5")
    assert "scale of" in text and "must be from -2 to 2 (got 2.5)" in text
    text = bad(tmp_path, tmp_path / "nowhere")
    assert "no such adapter folder" in text
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "adapter_model.safetensors").unlink()
    assert "not an artv adapter (no adapter_model.safetensors)" in bad(tmp_path, broken)
    shutil.rmtree(broken)
    shutil.copytree(folder, broken)
    data = (broken / "adapter_model.safetensors").read_bytes()
    (broken / "adapter_model.safetensors").write_bytes(data[: len(data) // 2])  # cut short
    assert "damaged" in bad(tmp_path, broken)
    shutil.rmtree(broken)
    shutil.copytree(folder, broken)
    config = json.loads((broken / "adapter_config.json").read_text())
    config["target_modules"] = r"^(unet\.(.*\.)?no_such_layer)$"
    (broken / "adapter_config.json").write_text(json.dumps(config))
    assert "has none of the layers the adapter adapts" in bad(tmp_path, broken)


def test_storyboards_switch_adapters_per_segment_and_batch_rows_carry_their_own(adapters, tmp_path):
    board = tmp_path / "board.yaml"
    shutil.copytree(adapters["a"], tmp_path / "style")
    board.write_text(
        "model: tiny-random\nsize: 64\nsteps: 2\nlora: style:0.5\noutput:\n  path: story.mp4\nsegments:\n"
        "  - prompt: a red circle moves right\n    frames: 2\n"
        "  - prompt: a red circle moves left\n    frames: 2\n    lora: []\n"
    )
    result = invoke(["story", board, "-o", tmp_path / "story.mp4"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "story.json").read_text())
    segments = record["storyboard"]["segments"]
    assert [s["lora"] for s in segments] == [[f"{tmp_path / 'style'}:0.5"], []]  # relative to the file
    assert [a["scale"] for a in record["adapters"]] == [0.5]
    board.write_text(board.read_text().replace("lora: style:0.5", "lora: nowhere"))
    result = invoke(["story", board, "-o", tmp_path / "story2.mp4"])
    assert result.exit_code == 2 and "lora: " in result.stderr and "no such adapter folder" in result.stderr
    prompts = tmp_path / "prompts.csv"
    prompts.write_text(f"prompt,lora\na red circle moves right,{adapters['a']}\na red circle moves left,\n")
    result = invoke(
        ["batch", prompts, "--model", "tiny-random", "--frames", 2, "--steps", 1, "--out", tmp_path / "b"]
    )
    assert result.exit_code == 0, result.output
    sidecars = sorted((tmp_path / "b").glob("*.json"))
    records = [json.loads(p.read_text()) for p in sidecars if "adapters" in json.loads(p.read_text())]
    assert sorted(len(r["adapters"]) for r in records) == [0, 1]


def test_a_lora_run_resumes_exactly_and_refuses_bad_options(synth_data, tmp_path):
    settings = dict(data=synth_data, model="tiny-random", steps=6, batch_size=2, lr=1e-2, lora=4)
    settings |= dict(checkpoint_every=100, validation_videos=0)
    train(TrainConfig(out=tmp_path / "straight", **settings))

    def stop_at_3(kind, info):
        if kind == "step" and info["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=tmp_path / "stopped", **settings), stop_at_3)
    train(TrainConfig(out=tmp_path / "stopped", resume="latest", **settings))
    a = load_file(tmp_path / "straight" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "stopped" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    common = ["train", "--data", synth_data, "--model", "tiny-random", "--out", tmp_path / "x", "--steps", 1]
    for extra, words in (
        (["--lora", -1], "--lora must be 0 (off) or a rank"),
        (["--lora", 4, "--stage", "base"], "not the base stage"),
        (["--lora", 4, "--lora-parts", "unet,wheels"], "--lora-parts wheels is unknown"),
        (["--lora", 4, "--lora-targets", "no_such_layer"], "--lora-targets"),
    ):
        result = invoke([*common, *extra])
        assert result.exit_code == 2 and words in result.stderr, (extra, result.output)


def test_rank_8_on_the_default_models_shapes_is_at_most_2_mb():
    from artv_cli.engine.model.artv import ARTVModel
    from artv_cli.engine.model.lora import add_lora

    model = ARTVModel.random("world64", seed=0)
    assert add_lora(model, 8, None) * 4 <= 2 * 10**6  # fp32 bytes


def test_an_adapter_trains_and_loads_on_a_folder_made_by_artv_init(synth_data, tmp_path):
    """The Stable Diffusion layout, at tiny size: `artv init` from the SD-shaped tiny base, then an
    adapter on that folder, used on it and refused on the built-in model it came from."""
    folder = tmp_path / "art-v"
    assert invoke(["init", "--base", "tiny-random", folder]).exit_code == 0
    run = tmp_path / "run"
    args = ["train", "--data", synth_data, "--model", folder, "--out", run, "--lora", 4, "--steps", 2]
    result = invoke([*args, "--batch-size", 2, "--lr", 1e-2, "--validation-videos", 0])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "adapter" / "artv_adapter.json").read_text())["base"]["name"] == str(folder)
    out = tmp_path / "v.mp4"
    used = invoke([*GEN, "--model", folder, "--lora", run / "adapter", "-o", out])
    assert used.exit_code == 0, used.output
    refused = invoke([*GEN, "--lora", run / "adapter", "-o", tmp_path / "w.mp4"])  # tiny-random itself
    assert refused.exit_code == 2 and "fingerprint" in refused.stderr


def test_a_story_or_batch_with_an_adapter_that_does_not_fit_stops_before_any_frame(adapters, tmp_path):
    board = tmp_path / "board.yaml"
    board.write_text(
        f"model: world64-random\nsteps: 1\noutput:\n  path: story.mp4\nsegments:\n"
        f"  - prompt: a red circle moves right\n    frames: 2\n"
        f"  - prompt: a red circle moves left\n    frames: 2\n    lora: {adapters['a']}\n"
    )
    result = invoke(["story", board, "-o", tmp_path / "story.mp4"])
    assert result.exit_code == 2 and "does not fit model world64-random" in result.stderr, result.output
    assert not (tmp_path / "story.mp4").exists() and "segment 1/2 frame" not in result.stderr  # no frame made
    prompts = tmp_path / "prompts.csv"
    prompts.write_text(f"prompt,lora\na red circle moves right,\na red circle moves left,{adapters['a']}\n")
    out = tmp_path / "b"
    result = invoke(
        ["batch", prompts, "--model", "world64-random", "--frames", 2, "--steps", 1, "--out", out]
    )
    assert result.exit_code == 2 and "does not fit model world64-random" in result.stderr, result.output
    assert not list(out.glob("*.mp4")) if out.exists() else True


def test_the_prior_term_is_the_distance_to_the_base_and_adapters_off_is_the_base():
    """--prior-weight: zero for a fresh adapter (B = 0), the mean squared gap to the base model's own
    prediction on the rows without a trigger word, nothing on the others; adapters_off runs the base."""
    from artv_cli.engine.model.artv import ARTVModel
    from artv_cli.engine.model.lora import add_lora
    from artv_cli.engine.model.lora_prior import adapters_off, without_trigger
    from artv_cli.engine.model.masked import add_noise
    from artv_cli.engine.training.trainer import TrainableParts

    captions = ["a red Ring moves up", "a red circle moves up", "rings, everywhere", "a ring."]
    assert without_trigger(captions, ["ring"]) == [False, True, True, False]  # whole words, any case
    model = ARTVModel.random("tiny", seed=0)
    add_lora(model, 4, None)
    g = torch.Generator().manual_seed(0)
    b, h = 3, model.unet.config.sample_size
    z0, z_ref, anchor, noise = (torch.randn(b, 4, h, h, generator=g) for _ in range(4))
    refs = torch.cat([z_ref, torch.randn(b, 4, h, h, generator=g)], 1)
    text, t = model.tokenize(["a red circle moves right"] * b), torch.tensor([100, 400, 800])
    t_aug, keep = torch.zeros(b, dtype=torch.long), torch.ones(b, dtype=torch.bool)
    args = (z0, refs, anchor, z_ref, text, t, noise, t_aug, keep)
    plain, kept = TrainableParts(model), TrainableParts(model, prior_weight=2.0)
    every, none = torch.ones(b, dtype=torch.bool), torch.zeros(b, dtype=torch.bool)
    with torch.no_grad():
        assert kept(*args, every).item() == plain(*args).item()  # a fresh adapter is the base itself
        for name, param in model.unet.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5, generator=g)
        loss = plain(*args).item()
        z_t = add_noise(z0, noise, model.alphas_cumprod[t].view(-1, 1, 1, 1))
        on = plain._eps_hat(z_t, refs, anchor, z_ref, text, t, t_aug, keep)
        with adapters_off(model):
            off = plain._eps_hat(z_t, refs, anchor, z_ref, text, t, t_aug, keep)
        assert not torch.allclose(on, off)  # the adapter changes the prediction ...
        again = plain._eps_hat(z_t, refs, anchor, z_ref, text, t, t_aug, keep)
        assert torch.equal(on, again)  # ... and is on again after the block
        gap = (on - off).pow(2).mean((1, 2, 3))
        torch.testing.assert_close(
            kept(*args, every).item(), loss + 2.0 * gap.mean().item(), rtol=1e-5, atol=0
        )
        assert kept(*args, none).item() == loss
        rows = torch.tensor([True, False, True])
        expected = loss + 2.0 * (gap[0] + gap[2]).item() / 3
        torch.testing.assert_close(kept(*args, rows).item(), expected, rtol=1e-5, atol=0)


def test_prior_weight_keeps_an_adapter_closer_to_the_base_and_needs_a_trigger(synth_data, tmp_path):
    """The same adapter run with and without --prior-weight on captions without the trigger word: the kept
    one changes the rendered video less. Without --trigger the option is refused."""
    args = ["train", "--data", synth_data, "--model", "tiny-random", "--lora", 4, "--steps", 8]
    args += ["--batch-size", 2, "--lr", 2e-2, "--validation-videos", 0, "--trigger", "zebra"]
    for name, extra in (("free", []), ("kept", ["--prior-weight", 50])):
        result = invoke([*args, "--out", tmp_path / name, *extra])
        assert result.exit_code == 0, result.output
    base, _ = render(tmp_path, "base")
    free, _ = render(tmp_path, "free-video", "--lora", tmp_path / "free" / "adapter")
    kept, _ = render(tmp_path, "kept-video", "--lora", tmp_path / "kept" / "adapter")
    assert np.abs(kept - base).mean() < 0.75 * np.abs(free - base).mean()  # 0.59 when written
    refused = invoke([*args[:-2], "--prior-weight", 1, "--out", tmp_path / "x"])
    assert refused.exit_code == 2 and "--prior-weight" in refused.stderr and "--trigger" in refused.stderr
    assert not (tmp_path / "x").exists()
