"""The two autoencoder designs a model may carry (engine/model/autoencoder.py), as a user meets them:
`artv train --stage vae --new-vae tiny`, then a render and a reload of the folder it wrote."""

import json

import pytest
import torch
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.data.datasets import FrameSpec, decode, scan, to_pixels
from artv_cli.engine.model import autoencoder
from artv_cli.engine.model.artv import ARTVModel
from artv_cli.errors import ArtvError


def test_a_fresh_tiny_autoencoder_has_the_latent_shape_of_the_one_it_replaces():
    model = ARTVModel.random("world64", seed=0)
    tiny = autoencoder.fresh(model.vae, "tiny")
    assert autoencoder.design_of(model.vae) == "kl" and autoencoder.design_of(tiny) == "tiny"
    assert autoencoder.down_factor(tiny) == autoencoder.down_factor(model.vae) == 4
    assert not any("norm" in name for name, _ in tiny.named_modules())  # the design has no normalisation
    pixels = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        kl_latents, tiny_latents = autoencoder.encode(model.vae, pixels), autoencoder.encode(tiny, pixels)
        assert tiny_latents.shape == kl_latents.shape == (2, 4, 16, 16)
        assert autoencoder.decode(tiny, tiny_latents).shape == pixels.shape
        mean, drawn, kl = autoencoder.posterior(tiny, pixels, torch.Generator().manual_seed(0))
    assert torch.equal(mean, drawn) and float(kl) == 0  # deterministic: nothing drawn, no KL term
    again = autoencoder.fresh(model.vae, "tiny")  # seeded: the same weights twice
    pairs = zip(tiny.state_dict().values(), again.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    with pytest.raises(ArtvError, match="one width for every level"):
        autoencoder.build("tiny", (16, 32), 1, 0, 64)


def test_vae_stage_new_vae_tiny_writes_a_model_that_renders_and_reloads(synth_data, tmp_path):
    run = tmp_path / "tiny-vae"
    args = ["train", "--stage", "vae", "--data", synth_data, "--model", "tiny-random", "--out", run]
    args += ["--steps", 8, "--batch-size", 4, "--lr", "2e-3", "--new-vae", "tiny", "--vae-loss", "foreground"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "VAE (tiny)" in result.output
    folder = run / "model"
    assert json.loads((folder / "vae" / "config.json").read_text())["_class_name"] == "AutoencoderTiny"
    record = json.loads((folder / "artv_config.json").read_text())["extra"]["vae_training"]
    assert record["design"] == "tiny" and record["new_vae"] == "tiny" and record["steps"] == 8
    model = ARTVModel.load(folder)
    assert autoencoder.design_of(model.vae) == "tiny"
    # the scale makes the data's latents about unit variance, as latent diffusion's scaling factor does
    item = scan(synth_data).items[0]
    with torch.no_grad():
        latents = model.encode_images(to_pixels(decode(item.path, FrameSpec(width=64, height=64))[:4]))
    assert 0.4 < float(latents.std()) < 2.5, float(latents.std())
    assert model.vae.config.scaling_factor == pytest.approx(record["scaling_factor"]) != 1.0
    fresh = ARTVModel.random("tiny", seed=0)  # only the autoencoder changed
    pairs = zip(fresh.unet.state_dict().values(), model.unet.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    out = tmp_path / "t.mp4"
    render = ["generate", "a red ball moves up", "--model", str(folder), "--frames", "3", "--steps", "2"]
    result = CliRunner().invoke(app, render + ["--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--new-vae", "tiny"], "--new-vae fit the VAE, not the artv stage"),
        (["--stage", "vae", "--new-vae", "tiny", "--keep-latents", "1"], "--new-vae replaces that VAE"),
        (["--stage", "vae", "--new-vae", "round"], "round"),
    ],
)
def test_new_vae_refuses_what_it_cannot_do_before_writing_anything(synth_data, tmp_path, extra, said):
    args = ["train", "--data", synth_data, "--model", "tiny-random", "--out", str(tmp_path / "bad"), *extra]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 2 and said in result.output, result.output
    assert not (tmp_path / "bad").exists()
