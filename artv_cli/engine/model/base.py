"""The base image model ART-V starts from (Stable Diffusion shapes): load, save, or build at random."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from artv_cli.engine.model import autoencoder
from artv_cli.engine.model.config import PRESETS, Preset
from artv_cli.engine.model.tokenizers import char_tokenizer, world_tokenizer
from artv_cli.errors import ArtvError

BASE_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


@dataclass
class BaseModel:
    """A Stable-Diffusion-shaped image model: the starting point of ART-V (Phi_dynamic's init)."""

    unet: UNet2DConditionModel
    vae: autoencoder.Autoencoder
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler: DDIMScheduler

    def save(self, folder: str | Path) -> None:
        """Write the diffusers pipeline layout (one sub-folder per component)."""
        folder = Path(folder)
        for name in BASE_COMPONENTS:
            getattr(self, name).save_pretrained(folder / name)

    @classmethod
    def load(cls, folder: str | Path) -> BaseModel:
        """Read a diffusers Stable Diffusion folder (unet/, vae/, text_encoder/, tokenizer/, scheduler/)."""
        folder = Path(folder)
        missing = [name for name in BASE_COMPONENTS if not (folder / name).is_dir()]
        if missing:
            raise ArtvError(
                f"{folder} is not a Stable Diffusion folder (no {', '.join(m + '/' for m in missing)})",
                "give the folder of a diffusers Stable Diffusion pipeline",
            )
        return cls(
            unet=UNet2DConditionModel.from_pretrained(folder / "unet"),
            vae=autoencoder.load(folder / "vae"),
            text_encoder=CLIPTextModel.from_pretrained(folder / "text_encoder"),
            tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer"),
            scheduler=DDIMScheduler.from_pretrained(folder / "scheduler"),
        )


def random_base(preset: Preset | str, seed: int = 0) -> BaseModel:
    """A base image model of a preset's shapes with seeded random weights (no download)."""
    preset = PRESETS[preset] if isinstance(preset, str) else preset
    levels = len(preset.unet_block_out_channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=preset.native_size // 8,
            in_channels=4,
            out_channels=4,
            down_block_types=("CrossAttnDownBlock2D",) * (levels - 1) + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (levels - 1),
            block_out_channels=preset.unet_block_out_channels,
            layers_per_block=preset.unet_layers_per_block,
            attention_head_dim=preset.unet_attention_heads,
            cross_attention_dim=preset.cross_attention_dim,
            norm_num_groups=preset.unet_norm_groups,
            use_linear_projection=True,
        )
        vae = autoencoder.build(
            "kl",
            preset.vae_block_out_channels,
            preset.vae_layers_per_block,
            preset.vae_norm_groups,
            preset.native_size,
        )
        tokenizer = world_tokenizer() if preset.tokenizer == "world" else char_tokenizer()
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=max(preset.text_vocab, len(tokenizer)),
                hidden_size=preset.text_hidden,
                intermediate_size=preset.text_intermediate,
                num_hidden_layers=preset.text_layers,
                num_attention_heads=preset.text_heads,
                max_position_embeddings=77,
                hidden_act="gelu",
                projection_dim=preset.cross_attention_dim,
                bos_token_id=0,
                eos_token_id=1,
                pad_token_id=1,
            )
        )
    # Stable Diffusion 2.1-base's schedule: 1000 steps, scaled-linear betas, epsilon prediction.
    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
    )
    return BaseModel(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler)
