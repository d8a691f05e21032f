"""Model folders (save, load, from a Stable Diffusion folder), presets, and the video writer."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.data.video import VideoWriter, read_video
from artv_cli.engine.hub.registry import resolve_model
from artv_cli.engine.model.artv import ARTVModel
from artv_cli.engine.model.base import BaseModel, random_base
from artv_cli.engine.model.config import CONFIG_NAME, PRESETS
from artv_cli.errors import ArtvError


def state_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, tiny_model):
    return tiny_model.save(tmp_path_factory.mktemp("models") / "tiny")


def test_save_writes_one_folder_per_component(saved_model):
    names = sorted(p.name for p in saved_model.iterdir())
    assert names == sorted(
        [
            CONFIG_NAME,
            "unet",
            "mask_unet",
            "cond",
            "mask_cond",
            "text_encoder",
            "tokenizer",
            "vae",
            "scheduler",
        ]
    )
    assert (saved_model / "unet" / "config.json").is_file()
    assert (saved_model / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    config = json.loads((saved_model / CONFIG_NAME).read_text())
    assert config["t_test"] == 200 and config["t_max"] == 550 and config["preset"] == "tiny"
    assert not list(saved_model.parent.glob("*.partial"))


def test_load_gives_back_the_same_weights_and_frames(saved_model, tiny_model):
    loaded = ARTVModel.load(saved_model).eval()
    for ours, theirs in zip(tiny_model.networks(), loaded.networks(), strict=True):
        assert state_equal(ours, theirs)
    from artv_cli.engine.sampling.loop import SampleSettings, render

    settings = SampleSettings(frames=2, steps=2, seed=4)
    a = np.stack(list(render(tiny_model, "a ball", settings)))
    b = np.stack(list(render(loaded, "a ball", settings)))
    assert np.array_equal(a, b)


def test_cli_renders_from_a_model_folder(saved_model, tmp_path):
    out = tmp_path / "v.mp4"
    args = [
        "generate",
        "a ball",
        "--model",
        str(saved_model),
        "--frames",
        "2",
        "--steps",
        "1",
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(read_video(out)[0]) == 2
    assert json.loads(out.with_suffix(".json").read_text())["model"] == str(saved_model)


def test_incomplete_folder_is_a_clear_error(saved_model, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(saved_model, broken)
    shutil.rmtree(broken / "mask_unet")
    with pytest.raises(ArtvError, match="incomplete.*mask_unet"):
        ARTVModel.load(broken)


def test_save_never_replaces_a_folder_that_is_not_a_model(tiny_model, tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(ArtvError, match="not an ART-V model folder"):
        tiny_model.save(tmp_path / "photos")
    assert (tmp_path / "photos" / "holiday.jpg").exists()


def test_from_base_folder_keeps_the_base_unet(tmp_path):
    """`from_base` on a diffusers Stable Diffusion folder: Phi_dynamic equals the base UNet."""
    base = random_base("tiny", seed=11)
    base.save(tmp_path / "sd")
    model = ARTVModel.from_base(tmp_path / "sd", config=None).eval()
    base_unet = BaseModel.load(tmp_path / "sd").unet.eval()
    base_weights = base_unet.state_dict()
    ours = model.unet.state_dict()
    for key, value in base_weights.items():
        assert torch.equal(ours[key], value), key
    new = sorted({k.split(".")[0] for k in ours if k not in base_weights})
    assert new == [
        "class_embedding",
        "down_blocks",
        "mid_block",
        "up_blocks",
    ]  # noise level + anchor attention
    assert model.config.native_size == 64

    from tests.model.test_networks import make_conditions

    cond = make_conditions(model)
    z_t, t = torch.randn(1, 4, 8, 8), torch.tensor(250)
    with torch.no_grad():
        # Bit-for-bit on the machine that wrote this test; on the 2026-11-25 development machine the loaded
        # folder's UNet differs in the last bits (about 1e-5, also at the commit before the engine moved),
        # so the folder round trip is held to float32 rounding; tests/model/test_networks.py keeps the
        # exact invariant for the in-memory build.
        torch.testing.assert_close(
            model.predict_noise(z_t, t, cond),
            base_unet(z_t, t, encoder_hidden_states=cond.text).sample,
            rtol=0,
            atol=1e-5,
        )


def test_not_a_stable_diffusion_folder(tmp_path):
    with pytest.raises(ArtvError, match="not a Stable Diffusion folder"):
        ARTVModel.from_base(tmp_path)


def test_sd21_preset_has_the_real_shapes():
    """Built on the meta device: the real Stable Diffusion 2.1-base sizes, no memory, no download."""
    with torch.device("meta"):
        base = random_base("sd21")
        model = ARTVModel.from_base_model(base, PRESETS["sd21"].artv_config())

    def count(module):
        return sum(p.numel() for p in module.parameters())

    assert count(base.unet) == 865_910_724  # SD 2.1-base UNet
    assert count(base.text_encoder) == 340_387_840  # OpenCLIP ViT-H/14 text tower as SD 2.1 uses it
    assert count(base.vae) == 83_653_863
    assert model.unet.config.block_out_channels == (320, 640, 1280, 1280)
    assert model.unet.config.cross_attention_dim == 1024
    assert count(model.mask_unet) < count(model.unet) / 3  # Phi_mask is smaller (config field)
    ref = resolve_model("sd21-random")
    assert ref.native_size == 512 and ref.size_multiple == 64


def test_resolve_model_errors(tmp_path):
    with pytest.raises(ArtvError, match="unknown model 'nope'"):
        resolve_model("nope")
    with pytest.raises(ArtvError, match="not an ART-V model folder"):
        resolve_model(str(tmp_path))


def test_video_writer_removes_partial_files_on_error(tmp_path):
    out = tmp_path / "v.mp4"
    with pytest.raises(RuntimeError), VideoWriter(out, fps=8, frames_dir=tmp_path / "frames") as writer:
        writer.append(np.zeros((64, 64, 3), np.uint8))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_video_writer_streams_frames(tmp_path):
    out = tmp_path / "v.mp4"
    with VideoWriter(out, fps=10, quality=10) as writer:
        for i in range(7):
            writer.append(np.full((32, 48, 3), i * 30, np.uint8))
    frames, meta = read_video(out)
    assert len(frames) == 7 and meta["size"] == (48, 32) and meta["fps"] == pytest.approx(10)
    assert abs(int(frames[3].mean()) - 90) <= 3


@pytest.mark.slow
def test_sd21_random_renders_on_cpu(tmp_path):
    """The real shapes with random weights run end to end (minutes on 2 CPU cores; opt-in)."""
    out = tmp_path / "v.mp4"
    args = [
        "generate",
        "x",
        "--model",
        "sd21-random",
        "--frames",
        "2",
        "--steps",
        "1",
        "--size",
        "64",
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(read_video(out)[0]) == 2
