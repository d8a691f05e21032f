"""The two autoencoder designs a model may carry: diffusers' `AutoencoderKL` and `AutoencoderTiny`.

Stable Diffusion's `AutoencoderKL` (group normalisation in every block, a Gaussian posterior) is what
a downloaded base brings. `AutoencoderTiny` (the TAESD design: plain convolutions, no normalisation,
a deterministic latent) is the other choice for a model built from scratch: group normalisation
removes a flat frame's own colour, and measured on the synthetic world at equal size and steps the
design without it keeps a drawn colour where the other snaps it to the colours it was trained on
(docs/research/third-generation.md). Everything else in the engine asks this module, never the class.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, AutoencoderTiny

from artv_cli.errors import ArtvError

DESIGNS = ("kl", "tiny")
"""kl: diffusers AutoencoderKL (Stable Diffusion's); tiny: diffusers AutoencoderTiny (no normalisation)."""
CLASSES = {"AutoencoderKL": "kl", "AutoencoderTiny": "tiny"}

Autoencoder = AutoencoderKL | AutoencoderTiny


def design_of(vae: Autoencoder) -> str:
    return "tiny" if isinstance(vae, AutoencoderTiny) else "kl"


TINY_WIDTH = 48
"""Channels of every level of a fresh `tiny` autoencoder made in place of a `kl` one (the width measured
on the synthetic world: docs/research/third-generation.md)."""


def build(design: str, block_out_channels: tuple[int, ...], layers_per_block: int, norm_groups: int,
          sample_size: int) -> Autoencoder:  # fmt: skip
    """A randomly initialised autoencoder with 4 latent channels and 2 ** (levels - 1) down-sampling.

    `tiny` takes one width for every level (the design adds levels by striding, not by widening), one
    block at the full size and `layers_per_block + 1` blocks at each smaller one; it has no norm groups.
    """
    if design == "kl":
        return AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * len(block_out_channels),
            up_block_types=("UpDecoderBlock2D",) * len(block_out_channels),
            block_out_channels=block_out_channels,
            layers_per_block=layers_per_block,
            latent_channels=4,
            norm_num_groups=norm_groups,
            sample_size=sample_size,
            scaling_factor=0.18215,
        )
    if design == "tiny":
        if len(set(block_out_channels)) != 1:
            raise ArtvError(
                f"a tiny autoencoder takes one width for every level (got {tuple(block_out_channels)})",
                f"give ({TINY_WIDTH},) * levels",
            )
        levels, deep = len(block_out_channels), layers_per_block + 1
        return AutoencoderTiny(
            encoder_block_out_channels=tuple(block_out_channels),
            decoder_block_out_channels=tuple(block_out_channels),
            num_encoder_blocks=(1,) + (deep,) * (levels - 1),
            num_decoder_blocks=(deep,) * (levels - 1) + (1,),
            latent_channels=4,
            scaling_factor=1.0,
        )
    raise ArtvError(f"unknown autoencoder design {design!r}", f"use one of {', '.join(DESIGNS)}")


def fresh(vae: Autoencoder, design: str, seed: int = 0) -> Autoencoder:
    """A new randomly initialised autoencoder of `design` whose latents have `vae`'s shape."""
    config, levels = vae.config, len(vae.config.block_out_channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if design == design_of(vae):
            return type(vae).from_config(config)
        if design == "tiny":
            return build("tiny", (TINY_WIDTH,) * levels, 1, 0, 0)
        widths = tuple(min(16 * 2**i, 512) for i in range(levels))
        return build("kl", widths, 1, 8, int(getattr(config, "sample_size", 64) or 64))


def load(folder: str | Path) -> Autoencoder:
    """The autoencoder of a diffusers `vae/` folder, whichever of the two classes its config names."""
    folder = Path(folder)
    try:
        name = json.loads((folder / "config.json").read_text()).get("_class_name", "AutoencoderKL")
    except (OSError, ValueError) as error:
        raise ArtvError(
            f"{folder}: no readable config.json ({error})", "give a model folder with a vae/"
        ) from error
    if name not in CLASSES:
        raise ArtvError(
            f"{folder}: autoencoder class {name} is not supported",
            "use a model whose vae/ is an AutoencoderKL or an AutoencoderTiny",
        )
    return (AutoencoderTiny if CLASSES[name] == "tiny" else AutoencoderKL).from_pretrained(folder)


def down_factor(vae: Autoencoder) -> int:
    """Pixels per latent along each side (both classes record their levels as block_out_channels)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def encoder_side(vae: Autoencoder) -> list[torch.nn.Module]:
    """The modules that make the latents (`tiny`: the encoder; `kl`: the encoder and its quant conv)."""
    if isinstance(vae, AutoencoderTiny):
        return [vae.encoder]
    return [m for m in (vae.encoder, getattr(vae, "quant_conv", None)) if m is not None]


def encode(vae: Autoencoder, pixels: torch.Tensor) -> torch.Tensor:
    """Unscaled latents of images (B, 3, H, W) in [-1, 1]: the posterior mean, no noise drawn."""
    if isinstance(vae, AutoencoderTiny):
        return vae.encode(pixels).latents
    return vae.encode(pixels).latent_dist.mean


def posterior(vae: Autoencoder, pixels: torch.Tensor, generator: torch.Generator):
    """For training: (mean, a draw, KL term) of the latents; for `tiny` the draw is the mean, KL 0."""
    if isinstance(vae, AutoencoderTiny):
        latents = vae.encode(pixels).latents
        return latents, latents, latents.new_zeros(())
    dist = vae.encode(pixels).latent_dist
    return dist.mean, dist.sample(generator), dist.kl().mean()


def decode(vae: Autoencoder, latents: torch.Tensor) -> torch.Tensor:
    """Images (B, 3, H, W), about [-1, 1], from unscaled latents."""
    return vae.decode(latents).sample
