"""Method settings and architecture presets of an ART-V model (METHOD.md)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from artv_cli.errors import ArtvError

CONFIG_NAME = "artv_config.json"


@dataclass
class ARTVConfig:
    """The method's settings, saved next to the weights as `artv_config.json`."""

    t_max: int = 550
    """Largest noise-augmentation step drawn in training (Sec. 3.3)."""
    t_test: int = 200
    """Noise-augmentation step of references and anchor at inference (Sec. 3.3, Fig. 8b)."""
    guidance_text: float = 6.5
    """Classifier-free guidance weight of the text branch (Sec. 4)."""
    guidance_ref: float = 0.25
    """Guidance weight of the two-reference branch (Sec. 4)."""
    guidance_anchor: float = 0.25
    """Guidance weight of the anchor branch (Sec. 4)."""
    guidance_stop: float = 1.0
    """Recommended share of each frame's steps, from the noisiest, that apply the guidance (1: all)."""
    drop_text: float = 0.1
    """Training dropout of the text condition (Sec. 4)."""
    drop_ref: float = 0.1
    """Training dropout of the references (Sec. 4)."""
    drop_anchor: float = 0.1
    """Training dropout of the anchor (Sec. 4)."""
    anchor_window: int = 10
    """Training draws the anchor from this many frames before the target (Sec. 3.4)."""
    anchor_grid: int = 4
    """The anchor latent becomes anchor_grid x anchor_grid tokens for cross attention."""
    anchor_hidden: int = 64
    """Channels of the anchor patch encoder's convolutions."""
    mask_channels: int = 4
    """Output channels of Phi_mask: one per latent channel (4) or one broadcast channel (1)."""
    mask_block_out_channels: tuple[int, ...] = (32, 64)
    """Widths of Phi_mask's UNet levels (it may be smaller than Phi_dynamic: it only says where to copy)."""
    mask_attention_heads: tuple[int, ...] = (2, 4)
    """Attention heads per level of Phi_mask."""
    mask_norm_groups: int = 32
    """GroupNorm groups of Phi_mask."""
    adapter_res_blocks: int = 2
    """Residual blocks per level in each T2I-Adapter."""
    prediction_type: str = "epsilon"
    """What the base UNet predicts; `v_prediction` is converted to epsilon before masking."""
    max_text_tokens: int = 77
    """Prompt length in tokens."""
    native_size: int = 512
    """Width and height in pixels the model is trained for; the default `--size`."""
    use_mask: bool = True
    """Masked diffusion (Sec. 3.2); False is the ablation without Phi_mask (m := 0 everywhere)."""
    use_anchor: bool = True
    """Anchored conditioning (Sec. 3.4); False is the ablation without the anchor (always blank)."""
    concat_refs: bool = False
    """Phi_dynamic also reads the two (augmented) references concatenated to its noisy input on channels,
    beside the T2I-Adapter, as image-to-video models feed their conditioning frame (not in the paper;
    `artv train --concat-refs` adds it, starting at zero)."""
    steps: int | None = None
    """Recommended denoising steps for this model (measured; used when the user gives none)."""
    scheduler: str | None = None
    """Recommended sampler for this model, ddim or dpm++ (used when the user gives none)."""
    colour_lock: float = 0.0
    """Recommended colour lock, 0-1 (the sampler's; 0 = off; used when the user gives none)."""
    subject_lock: float = 0.0
    """Recommended subject lock, 0-1 (the sampler's; 0 = off; used when the user gives none)."""
    background_lock: float = 0.0
    """Recommended background lock, 0-1 (the sampler's; 0 = off; for models of a still camera)."""
    shape_lock: float = 0.0
    first_frame_steps: int | None = None
    """Recommended steps of a text-only video's frame 0, made from blank references (None: the steps of
    every frame); used when the steps are not given."""
    """Recommended shape lock, 0-1 (the sampler's; 0 = off; for models of a still camera)."""
    fast: dict = field(default_factory=dict)
    """The model's measured speed preset, what `--fast` uses where the user gives no value: any of
    the render settings marked `fast` in engine/sampling/settings.py, checked when a render reads it
    (empty: DPM-Solver++ at 12 steps, the model's guidance)."""
    preset: str = "custom"
    """The preset the architecture came from, for the record."""
    extra: dict = field(default_factory=dict)
    """Free-form notes (training run, data) carried through save and load."""

    @classmethod
    def for_base(cls, unet_config: dict, **changes) -> ARTVConfig:
        """Defaults for a base UNet of any size: Phi_mask at half its width with the same head counts."""
        widths = tuple(int(c) // 2 for c in unet_config["block_out_channels"])
        heads = unet_config["attention_head_dim"]
        heads = tuple(heads) if isinstance(heads, (list, tuple)) else (int(heads),) * len(widths)
        groups = math.gcd(32, *widths)
        settings = dict(
            mask_block_out_channels=widths,
            mask_attention_heads=heads,
            mask_norm_groups=groups,
            anchor_hidden=int(unet_config["block_out_channels"][0]),
            preset="from-base",
        )
        settings.update(changes)
        return cls(**settings)

    def save(self, folder: Path) -> None:
        data = dataclasses.asdict(self)
        data["_class_name"] = "ARTV"
        (Path(folder) / CONFIG_NAME).write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> ARTVConfig:
        data = json.loads((Path(folder) / CONFIG_NAME).read_text())
        data.pop("_class_name", None)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ArtvError(
                f"{Path(folder) / CONFIG_NAME}: unknown key(s) {', '.join(unknown)}",
                "this model folder was written by a newer artv: upgrade with `pip install -U artv`",
            )
        for key in ("mask_block_out_channels", "mask_attention_heads"):
            data[key] = tuple(data[key])
        return cls(**data)


@dataclass(frozen=True)
class Preset:
    """Shapes of every network of an ART-V model; `tiny` and `sd21` share the classes."""

    name: str
    native_size: int
    unet_block_out_channels: tuple[int, ...]
    unet_attention_heads: tuple[int, ...]
    unet_layers_per_block: int
    unet_norm_groups: int
    cross_attention_dim: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_intermediate: int
    text_vocab: int
    vae_block_out_channels: tuple[int, ...]
    vae_layers_per_block: int
    vae_norm_groups: int
    mask_block_out_channels: tuple[int, ...]
    mask_attention_heads: tuple[int, ...]
    mask_norm_groups: int
    anchor_hidden: int
    adapter_res_blocks: int
    tokenizer: str = "char"
    """`char`: one token per character; `world`: the synthetic world's words are single tokens."""
    text_tokens: int = 77
    """Prompt length in tokens."""

    def artv_config(self) -> ARTVConfig:
        return ARTVConfig(
            max_text_tokens=self.text_tokens,
            mask_block_out_channels=self.mask_block_out_channels,
            mask_attention_heads=self.mask_attention_heads,
            mask_norm_groups=self.mask_norm_groups,
            anchor_hidden=self.anchor_hidden,
            adapter_res_blocks=self.adapter_res_blocks,
            native_size=self.native_size,
            preset=self.name,
        )


PRESETS: dict[str, Preset] = {
    # Stable Diffusion 2.1-base shapes (UNet 320/640/1280/1280, OpenCLIP-H text encoder, 512 px);
    # Phi_mask at half width. Random weights of these shapes cost what real ones cost (benchmarks).
    "sd21": Preset(
        name="sd21",
        native_size=512,
        unet_block_out_channels=(320, 640, 1280, 1280),
        unet_attention_heads=(5, 10, 20, 20),
        unet_layers_per_block=2,
        unet_norm_groups=32,
        cross_attention_dim=1024,
        text_hidden=1024,
        text_layers=23,
        text_heads=16,
        text_intermediate=4096,
        text_vocab=49408,
        vae_block_out_channels=(128, 256, 512, 512),
        vae_layers_per_block=2,
        vae_norm_groups=32,
        mask_block_out_channels=(160, 320, 640, 640),
        mask_attention_heads=(5, 10, 20, 20),
        mask_norm_groups=32,
        anchor_hidden=320,
        adapter_res_blocks=2,
    ),
    # The same classes at toy size: a 16-frame 64x64 video renders on 2 CPU cores in seconds.
    "tiny": Preset(
        name="tiny",
        native_size=64,
        unet_block_out_channels=(32, 64),
        unet_attention_heads=(2, 4),
        unet_layers_per_block=1,
        unet_norm_groups=32,
        cross_attention_dim=32,
        text_hidden=32,
        text_layers=2,
        text_heads=2,
        text_intermediate=64,
        text_vocab=514,
        vae_block_out_channels=(16, 32, 32, 32),
        vae_layers_per_block=1,
        vae_norm_groups=8,
        mask_block_out_channels=(16, 32),
        mask_attention_heads=(2, 2),
        mask_norm_groups=8,
        anchor_hidden=32,
        adapter_res_blocks=1,
    ),
    # The embedded default model (docs/default-model.md): 64 px frames of the synthetic world, a 4x VAE
    # (16x16 latents: an object moving under a pixel per frame still moves in latent space), 3 UNet levels.
    "world64": Preset(
        name="world64",
        native_size=64,
        unet_block_out_channels=(64, 128, 128),
        unet_attention_heads=(2, 4, 4),
        unet_layers_per_block=1,
        unet_norm_groups=32,
        cross_attention_dim=64,
        text_hidden=64,
        text_layers=2,
        text_heads=2,
        text_intermediate=128,
        text_vocab=514,
        vae_block_out_channels=(16, 32, 64),
        vae_layers_per_block=1,
        vae_norm_groups=8,
        mask_block_out_channels=(32, 64, 64),
        mask_attention_heads=(2, 2, 2),
        mask_norm_groups=16,
        anchor_hidden=64,
        adapter_res_blocks=1,
        tokenizer="world",
        text_tokens=32,
    ),
}
