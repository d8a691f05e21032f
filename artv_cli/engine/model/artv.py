"""An ART-V model: its networks, how it is built, saved and loaded, and one noise prediction (Eqs. 1, 7)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate import init_empty_weights
from diffusers import DDIMScheduler, UNet2DConditionModel
from safetensors.torch import load_file
from transformers import CLIPTextModel, CLIPTokenizer

from artv_cli.engine.model import autoencoder
from artv_cli.engine.model.base import BaseModel, random_base
from artv_cli.engine.model.config import CONFIG_NAME, PRESETS, ARTVConfig
from artv_cli.engine.model.masked import masked_epsilon, static_noise, v_to_epsilon
from artv_cli.engine.model.networks import (
    LATENT_CHANNELS,
    ConditionEncoder,
    art_v_unet_config,
    install_anchor_attention,
    unet_forward,
    widen_input,
    zero_noise_level_embedding,
)
from artv_cli.errors import ArtvError

COMPONENTS = ("unet", "mask_unet", "cond", "mask_cond", "text_encoder", "tokenizer", "vae", "scheduler")


@dataclass
class Conditions:
    """Everything a noise prediction is conditioned on, for a batch of B rows (guidance branches)."""

    text: torch.Tensor  # (B, L, D) text embeddings
    features: list[torch.Tensor]  # Phi_dynamic's adapter features, one (B, C_l, h_l, w_l) per level
    mask_features: list[torch.Tensor]  # Phi_mask's adapter features
    tokens: torch.Tensor  # (B, K, D) Phi_dynamic's anchor tokens
    mask_tokens: torch.Tensor  # (B, K, D) Phi_mask's anchor tokens
    noise_level: torch.Tensor  # (B,) augmentation step of references and anchor (Sec. 3.3)
    z_ref: torch.Tensor  # (B, 4, h, w) clean z^{i-1}, source of the static noise
    static: torch.Tensor  # (B,) bool on the CPU: static path on (references present); off means m := 0
    refs: torch.Tensor | None = None  # (B, 8, h, w) the adapters' input, also Phi_dynamic's with concat_refs


def to_frames(pixels: torch.Tensor) -> np.ndarray:
    """uint8 frames (B, H, W, 3) from images (B, 3, H, W) in [-1, 1]."""
    pixels = ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


class ARTVModel:
    """Phi_dynamic and Phi_mask with their condition encoders, the text encoder and the VAE (Fig. 3)."""

    def __init__(
        self,
        config: ARTVConfig,
        unet: UNet2DConditionModel,
        mask_unet: UNet2DConditionModel,
        cond: ConditionEncoder,
        mask_cond: ConditionEncoder,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        vae: autoencoder.Autoencoder,
        scheduler: DDIMScheduler,
        name: str = "",
    ):
        self.config = config
        self.unet = unet
        self.mask_unet = mask_unet
        self.cond = cond
        self.mask_cond = mask_cond
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.vae = vae
        self.scheduler = scheduler
        self.name = name
        self.source = name
        """Where the weights came from (a model folder, or a preset and seed): LoRA adapters' fingerprint."""

    # ----- building -------------------------------------------------------------------------------
    @classmethod
    def from_base_model(cls, base: BaseModel, config: ARTVConfig, seed: int = 0, name: str = "") -> ARTVModel:
        """An untrained ART-V: Phi_dynamic equals the base UNet, Phi_mask and new parts fresh (METHOD.md)."""
        base_config = dict(base.unet.config)
        token_dim = base_config["cross_attention_dim"]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            unet = UNet2DConditionModel.from_config(art_v_unet_config(base_config))
            missing, unexpected = unet.load_state_dict(base.unet.state_dict(), strict=False)
            if unexpected or any(not k.startswith("class_embedding.") for k in missing):
                raise ArtvError(
                    f"the base UNet does not fit ART-V (missing {missing}, unexpected {unexpected})"
                )
            zero_noise_level_embedding(unet)
            install_anchor_attention(unet, token_dim)
            if config.concat_refs:
                widen_input(unet, 2 * LATENT_CHANNELS)
            mask_unet = UNet2DConditionModel.from_config(
                art_v_unet_config(
                    base_config,
                    block_out_channels=tuple(config.mask_block_out_channels),
                    attention_head_dim=tuple(config.mask_attention_heads),
                    norm_num_groups=config.mask_norm_groups,
                    out_channels=config.mask_channels,
                )
            )
            zero_noise_level_embedding(mask_unet)
            install_anchor_attention(mask_unet, token_dim)
            cond, mask_cond = (
                ConditionEncoder(
                    block_out_channels=tuple(channels),
                    adapter_res_blocks=config.adapter_res_blocks,
                    token_dim=token_dim,
                    anchor_hidden=config.anchor_hidden,
                    anchor_grid=config.anchor_grid,
                )
                for channels in (base_config["block_out_channels"], config.mask_block_out_channels)
            )
        config.prediction_type = base.scheduler.config.prediction_type
        return cls(
            config=config,
            unet=unet,
            mask_unet=mask_unet,
            cond=cond,
            mask_cond=mask_cond,
            text_encoder=base.text_encoder,
            tokenizer=base.tokenizer,
            vae=base.vae,
            scheduler=base.scheduler,
            name=name,
        )

    @classmethod
    def random(cls, preset: str = "tiny", seed: int = 0) -> ARTVModel:
        """A seeded random ART-V of a preset's shapes (`tiny` for tests, `sd21` for benchmarks)."""
        base = random_base(preset, seed=seed)
        model = cls.from_base_model(
            base, PRESETS[preset].artv_config(), seed=seed + 1, name=f"{preset}-random"
        )
        model.source = f"{preset}-random seed {seed}"
        return model

    @classmethod
    def from_base(cls, folder: str | Path, config: ARTVConfig | None = None, seed: int = 0) -> ARTVModel:
        """An untrained ART-V from a diffusers Stable Diffusion folder."""
        base = BaseModel.load(folder)
        config = config or ARTVConfig.for_base(dict(base.unet.config))
        # the UNet's latent size times the VAE's factor (SD 2.1-base: 64 x 8 = 512; the VAE config says 768)
        config.native_size = base.unet.config.sample_size * autoencoder.down_factor(base.vae)
        model = cls.from_base_model(base, config, seed=seed, name=str(folder))
        model.source = f"{Path(folder).resolve()} seed {seed}"
        return model

    def add_reference_input(self) -> None:
        """Turn on `concat_refs` for a model trained without it: Phi_dynamic's first convolution gets the
        references' 8 channels, at zero, so the model renders as before until it is trained."""
        if not self.config.concat_refs:
            widen_input(self.unet, 2 * LATENT_CHANNELS)
            self.config.concat_refs = True

    # ----- folders --------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the model folder atomically: one sub-folder per component plus `artv_config.json`."""
        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()) and not (folder / CONFIG_NAME).is_file():
            raise ArtvError(
                f"{folder} exists and is not an ART-V model folder",
                "save to a new folder; nothing was replaced",
            )
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for name in COMPONENTS:
            getattr(self, name).save_pretrained(partial / name)
        self.config.save(partial)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(partial, folder)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> ARTVModel:
        """Read a model folder written by `save`."""
        folder = Path(folder)
        if not (folder / CONFIG_NAME).is_file():
            raise ArtvError(
                f"{folder} is not an ART-V model folder (no {CONFIG_NAME})",
                "give a folder written by `artv train`, or a model name such as tiny-random",
            )
        missing = [name for name in COMPONENTS if not (folder / name).is_dir()]
        if missing:
            raise ArtvError(
                f"model folder {folder} is incomplete (no {', '.join(m + '/' for m in missing)})",
                "re-export it, or download it again",
            )
        config = ARTVConfig.load(folder)
        unets = []
        for name in ("unet", "mask_unet"):
            unet_config = art_v_unet_config(UNet2DConditionModel.load_config(folder / name))
            with (
                init_empty_weights()
            ):  # no random init of weights that are read next (as from_pretrained does)
                unet = UNet2DConditionModel.from_config(unet_config)
                install_anchor_attention(unet, unet_config["cross_attention_dim"])
            weights = load_file(folder / name / "diffusion_pytorch_model.safetensors")
            unet.load_state_dict(weights, strict=True, assign=True)
            unets.append(unet)
        model = cls(
            config=config,
            unet=unets[0],
            mask_unet=unets[1],
            cond=ConditionEncoder.from_pretrained(folder / "cond"),
            mask_cond=ConditionEncoder.from_pretrained(folder / "mask_cond"),
            text_encoder=CLIPTextModel.from_pretrained(folder / "text_encoder"),
            tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer"),
            vae=autoencoder.load(folder / "vae"),
            scheduler=DDIMScheduler.from_pretrained(folder / "scheduler"),
            name=str(folder),
        )
        model.source = str(folder.resolve())
        return model

    # ----- devices --------------------------------------------------------------------------------
    def networks(self) -> list[torch.nn.Module]:
        return [self.unet, self.mask_unet, self.cond, self.mask_cond, self.text_encoder, self.vae]

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> ARTVModel:
        for net in self.networks():
            net.to(device=device, dtype=dtype)
        # Asked for at every step: diffusers finds them by walking the parameters (about 1 ms each time).
        self._placement = (self.unet.device, self.unet.dtype)
        return self

    def eval(self) -> ARTVModel:
        for net in self.networks():
            net.eval()
        return self

    @property
    def device(self) -> torch.device:
        placement = getattr(self, "_placement", None)
        return self.unet.device if placement is None else placement[0]

    @property
    def dtype(self) -> torch.dtype:
        placement = getattr(self, "_placement", None)
        return self.unet.dtype if placement is None else placement[1]

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """abar_t of the training schedule (1000,), fp32 on the model's device, moved there once."""
        cached = getattr(self, "_alphas_cumprod", None)
        if cached is None or cached.device != self.device:
            cached = self._alphas_cumprod = self.scheduler.alphas_cumprod.to(self.device, torch.float32)
        return cached

    @property
    def vae_scale_factor(self) -> int:
        return autoencoder.down_factor(self.vae)

    @property
    def size_multiple(self) -> int:
        """Pixel sizes must be multiples of this: the VAE's factor times the UNet's downsampling."""
        return self.vae_scale_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)

    def parameter_count(self) -> int:
        return sum(p.numel() for net in self.networks() for p in net.parameters())

    # ----- encoders -------------------------------------------------------------------------------
    def tokenize(self, prompts: list[str]) -> torch.Tensor:
        """Token ids (B, L) of the prompts, padded to the model's prompt length (on the CPU)."""
        length = min(self.config.max_text_tokens, self.text_encoder.config.max_position_embeddings)
        return self.tokenizer(
            prompts, padding="max_length", max_length=length, truncation=True, return_tensors="pt"
        ).input_ids

    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        """Text embeddings (B, L, D) of the prompts."""
        return self.text_encoder(self.tokenize(prompts).to(self.device))[0]

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """Latents (B, 4, H/8, W/8) of images (B, 3, H, W) in [-1, 1]: the posterior mean, no noise drawn."""
        latents = autoencoder.encode(self.vae, pixels.to(self.device, self.vae.dtype))
        return latents * self.vae.config.scaling_factor

    def decode_latents(self, latents: torch.Tensor) -> np.ndarray:
        """uint8 frames (B, H, W, 3) from latents (B, 4, h, w)."""
        pixels = autoencoder.decode(self.vae, latents.to(self.vae.dtype) / self.vae.config.scaling_factor)
        return to_frames(pixels)

    # ----- one noise prediction -------------------------------------------------------------------
    def predict_noise(
        self,
        z_t: torch.Tensor,
        t: torch.Tensor,
        cond: Conditions,
        every_row: bool = False,
        mask_cache: dict | None = None,
        reuse_mask: bool = False,
    ) -> torch.Tensor:
        """eps_hat (B, 4, h, w) in fp32: m * eps_static + (1 - m) * eps_dynamic (Eq. 7).

        m := 0 on rows whose static path is off (no references). Phi_mask runs only on the other rows,
        or, with `every_row` (training), on all rows with m zeroed where the path is off: then every
        parameter takes part in every step, as distributed data parallel wants. With `mask_cache`, the
        mask is stored there, and `reuse_mask` takes it from there instead of running Phi_mask (a speed knob).
        """
        dtype = self.dtype
        alpha_bar = self.alphas_cumprod[t]
        if alpha_bar.ndim:  # one step per row (training)
            alpha_bar = alpha_bar.view(-1, 1, 1, 1)
        z_in = z_t
        if self.config.concat_refs:
            if cond.refs is None:
                raise ArtvError("this model reads its references at its input: Conditions.refs is missing")
            z_in = torch.cat([z_t, cond.refs.to(z_t.dtype)], dim=1)
        eps_dynamic = unet_forward(
            self.unet,
            z_in.to(dtype),
            t,
            cond.text.to(dtype),
            [f.to(dtype) for f in cond.features],
            cond.tokens.to(dtype),
            cond.noise_level,
        ).float()
        if self.config.prediction_type == "v_prediction":
            eps_dynamic = v_to_epsilon(eps_dynamic, z_t, alpha_bar)
        if not self.config.use_mask:  # ablation without masked diffusion: Phi_dynamic alone
            return eps_dynamic
        if every_row:
            on = cond.static.to(self.device, torch.float32).view(-1, 1, 1, 1)
            mask = self._mask(z_t, t, cond) * on
            return masked_epsilon(mask, static_noise(z_t, cond.z_ref, alpha_bar), eps_dynamic)
        static = cond.static.cpu()  # kept on the CPU by the sampler, so this costs no device sync
        if not bool(static.any()):
            return eps_dynamic
        rows = static.nonzero().flatten().to(self.device)
        t_rows, ab_rows = (t[rows], alpha_bar[rows]) if t.ndim else (t, alpha_bar)
        if reuse_mask and mask_cache is not None and "mask" in mask_cache:
            mask = mask_cache["mask"]
        else:
            mask = self._mask(z_t, t_rows, cond, rows)
            if mask_cache is not None:
                mask_cache["mask"] = mask
        eps = eps_dynamic.clone()
        eps[rows] = masked_epsilon(
            mask, static_noise(z_t[rows], cond.z_ref[rows], ab_rows), eps_dynamic[rows]
        )
        return eps

    def _mask(
        self, z_t: torch.Tensor, t: torch.Tensor, cond: Conditions, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """m = sigmoid(Phi_mask(...)) (Eq. 7) in fp32, for the given rows (all rows when None)."""
        dtype = self.dtype

        def pick(x: torch.Tensor) -> torch.Tensor:
            return x if rows is None else x[rows]

        logits = unet_forward(
            self.mask_unet,
            pick(z_t).to(dtype),
            t,
            pick(cond.text).to(dtype),
            [pick(f).to(dtype) for f in cond.mask_features],
            pick(cond.mask_tokens).to(dtype),
            pick(cond.noise_level),
        )
        return torch.sigmoid(logits.float())
