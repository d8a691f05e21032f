"""The networks of ART-V (Fig. 3): two conditioned UNets, their reference adapters and anchor encoders."""

from __future__ import annotations

import torch
from diffusers import T2IAdapter, UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0
from diffusers.models.embeddings import MultiIPAdapterImageProjection
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

LATENT_CHANNELS = 4


class ConditionEncoder(ModelMixin, ConfigMixin):
    """Reference and anchor encoders of one sub-network (Phi_dynamic or Phi_mask).

    The two reference latents go through a latent-input `T2IAdapter` (Sec. 3.1, T2I-Adapter style); its
    per-level features leave through zero-initialised 1x1 convolutions, since `T2IAdapter` has no zero
    output layer and METHOD.md asks that every new part start at zero. The anchor latent becomes a short
    token sequence for decoupled cross attention (Sec. 3.4); no library ships a latent patch encoder whose
    token count is independent of resolution, hence the small hand-written one.
    """

    @register_to_config
    def __init__(
        self,
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        adapter_res_blocks: int = 2,
        token_dim: int = 1024,
        anchor_hidden: int = 320,
        anchor_grid: int = 4,
    ):
        super().__init__()
        channels = list(block_out_channels)
        self.adapter = T2IAdapter(
            in_channels=2 * LATENT_CHANNELS,  # z^{i-1} and z^{i-2} concatenated on channels
            channels=channels,
            num_res_blocks=adapter_res_blocks,
            downscale_factor=1,  # latent input: the adapter's first level is the latent resolution
            adapter_type="full_adapter",
        )
        self.adapter_out = nn.ModuleList(nn.Conv2d(c, c, kernel_size=1) for c in channels)
        self.anchor_stem = nn.Sequential(
            nn.Conv2d(LATENT_CHANNELS, anchor_hidden, kernel_size=3, padding=1),
            nn.SiLU(),
            nn.Conv2d(anchor_hidden, anchor_hidden, kernel_size=3, padding=1),
            nn.SiLU(),
        )
        self.anchor_pool = nn.AdaptiveAvgPool2d(anchor_grid)
        self.anchor_proj = nn.Linear(anchor_hidden, token_dim)
        self.anchor_pos = nn.Parameter(torch.randn(1, anchor_grid * anchor_grid, token_dim) * 0.02)
        self.anchor_norm = nn.LayerNorm(token_dim)
        for conv in self.adapter_out:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def reference_features(self, refs: torch.Tensor) -> list[torch.Tensor]:
        """Adapter features, one per UNet level, from refs (B, 8, h, w)."""
        return [out(f) for out, f in zip(self.adapter_out, self.adapter(refs), strict=True)]

    def anchor_tokens(self, anchor: torch.Tensor) -> torch.Tensor:
        """Anchor tokens (B, grid*grid, token_dim) from the anchor latent (B, 4, h, w)."""
        x = self.anchor_pool(self.anchor_stem(anchor))  # (B, hidden, grid, grid)
        x = self.anchor_proj(x.flatten(2).transpose(1, 2))  # (B, grid*grid, token_dim)
        return self.anchor_norm(x + self.anchor_pos)


def art_v_unet_config(base_config: dict, **changes) -> dict:
    """A base UNet config with the noise-level embedding added (Sec. 3.3: embedded like a timestep)."""
    config = {k: v for k, v in dict(base_config).items() if not k.startswith("_")}
    if config.get("encoder_hid_dim_type") == "ip_image_proj":  # written by install_anchor_attention
        config["encoder_hid_dim_type"] = None
        config["encoder_hid_dim"] = None
    config["class_embed_type"] = "timestep"
    config.update(changes)
    return config


def widen_input(unet: UNet2DConditionModel, extra: int) -> None:
    """Give the UNet's first convolution `extra` more input channels whose weights start at zero, so the
    widened UNet computes exactly what it did until training uses them (InstructPix2Pix's way)."""
    old = unet.conv_in
    conv = nn.Conv2d(old.in_channels + extra, old.out_channels, old.kernel_size, padding=old.padding).to(
        old.weight.device, old.weight.dtype
    )
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, : old.in_channels] = old.weight
        conv.bias.copy_(old.bias)
    unet.conv_in = conv
    # register_to_config rebuilds the config from its items; install_anchor_attention's value is an attribute
    hid_type = unet.config.encoder_hid_dim_type
    unet.register_to_config(in_channels=old.in_channels + extra, encoder_hid_dim_type=hid_type)


def zero_noise_level_embedding(unet: UNet2DConditionModel) -> None:
    """Start the noise-level embedding at zero, so it adds nothing to the time embedding."""
    nn.init.zeros_(unet.class_embedding.linear_2.weight)
    nn.init.zeros_(unet.class_embedding.linear_2.bias)


def install_anchor_attention(unet: UNet2DConditionModel, token_dim: int) -> None:
    """Decoupled cross attention to anchor tokens on every `attn2` layer (diffusers' IP-Adapter processors).

    The anchor tokens are computed once per video outside the UNet, so the projection is the identity;
    `to_v_ip` starts at zero so a fresh model computes what the base UNet computes.
    """
    processors = {}
    for name in unet.attn_processors:
        attn = unet.get_submodule(name.removesuffix(".processor"))
        if name.endswith("attn2.processor"):
            proc = IPAdapterAttnProcessor2_0(
                hidden_size=attn.to_k.out_features, cross_attention_dim=token_dim, num_tokens=(1,)
            )
            nn.init.zeros_(proc.to_v_ip[0].weight)
            processors[name] = proc
        else:
            processors[name] = attn.processor
    unet.set_attn_processor(processors)
    unet.encoder_hid_proj = MultiIPAdapterImageProjection([nn.Identity()])
    unet.config.encoder_hid_dim_type = "ip_image_proj"


def unet_forward(
    unet: UNet2DConditionModel,
    z_t: torch.Tensor,
    t: torch.Tensor,
    text: torch.Tensor,
    features: list[torch.Tensor],
    tokens: torch.Tensor,
    noise_level: torch.Tensor,
) -> torch.Tensor:
    """One conditioned UNet evaluation: text, reference features, anchor tokens, noise level (Eq. 1)."""
    return unet(
        z_t,
        t,
        encoder_hidden_states=text,
        class_labels=noise_level,
        added_cond_kwargs={"image_embeds": [tokens]},
        # the UNet pops from this list, so it gets its own copy
        down_intrablock_additional_residuals=list(features),
    ).sample
