"""Fit the autoencoder (VAE) of a model built from scratch, before ART-V is trained on its latents.

ART-V inherits its VAE from the base image model (METHOD.md) and keeps it frozen. A model with no
pretrained base, such as the embedded default (docs/default-model.md), needs one first: this stage fits
the model's autoencoder on the dataset's frames (reconstruction, plus a small KL term for diffusers'
`AutoencoderKL`, as latent diffusion does) and sets its `scaling_factor` so that latents have unit
variance. With `--new-vae` it first replaces the autoencoder by a fresh one of the given design
(engine/model/autoencoder.py); with `--decoder-noise` it fits the decoder alone, on the frozen encoder's
latents plus noise, so the latents the other networks learned stay valid. Everything else in the model is
left as it was.
"""

from __future__ import annotations

import copy
import shlex
from collections import Counter, deque
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F

from artv_cli.engine.data.datasets import FrameSpec, VideoError, decode, scan, to_pixels
from artv_cli.engine.model import autoencoder
from artv_cli.errors import ArtvError

MAX_VIDEOS = 512
"""The VAE stage decodes at most this many videos (into memory): enough for a world of simple shapes."""
KL_WEIGHT = 1e-6
"""Weight of the KL term: small, so the latent keeps detail (the value latent diffusion uses)."""


def train_autoencoder(config, on_event=None):
    """Fit the model's VAE on single frames of the dataset (batch_size frames a step); export RUN/model."""
    from artv_cli.engine.training.common import (
        draws,
        load_base,
        make_schedule,
        versions,
        write_json,
    )
    from artv_cli.engine.training.short_stage import ShortStage

    # 1. Check what needs no model: the run folder, the options this stage does not have, the dataset.
    stage = ShortStage(config, on_event, "autoencoder")
    catalogue = scan(config.data)
    accelerator = stage.accelerator()
    stage.emit("data", text=catalogue.describe())

    # 2. The model: only its VAE learns (a fresh one of the asked design, with latents of the same shape).
    model = load_base(config.model, config.seed)
    if config.new_vae:
        model.vae = autoencoder.fresh(model.vae, config.new_vae, seed=config.seed)
    model = model.to(accelerator.device)
    width = config.width or min(model.config.native_size, 320)
    height = config.height or width
    if width % model.size_multiple or height % model.size_multiple:
        raise ArtvError(
            f"training size {width}x{height}: this model takes multiples of {model.size_multiple} pixels",
            f"use --size {model.config.native_size}",
        )
    vae = model.vae.train().requires_grad_(True)
    if config.decoder_noise:  # the latents stay the encoder's: only the decoder learns to read them
        for module in autoencoder.encoder_side(vae):
            module.eval().requires_grad_(False)
    scaling_factor = float(vae.config.scaling_factor)
    start = copy.deepcopy(vae).eval().requires_grad_(False) if config.keep_latents else None
    learning = [p for p in vae.parameters() if p.requires_grad]
    trained = sum(p.numel() for p in learning) / 1e6
    design = autoencoder.design_of(vae)
    part = "decoder" if config.decoder_noise else "VAE"
    stage.emit("model", text=f"{config.model}: {part} ({design}) {trained:.2f} M trained")

    # 3. Data: frames of up to MAX_VIDEOS videos, decoded once into memory (decoding each step would cost
    #    more than the VAE's own step); which frames make a batch is drawn per step, so a run repeats.
    spec = FrameSpec(width=width, height=height, stride=config.stride, fps=config.fps)
    frames, skipped = [], Counter(catalogue.skipped)
    items = catalogue.items[:MAX_VIDEOS]
    for number, item in enumerate(items):
        try:
            frames.append(decode(item.path, spec))
        except VideoError as error:
            skipped[error.reason] += 1
        stage.emit("cache", done=number + 1, total=len(items))
    if not frames:
        raise ArtvError(
            f"no video of {config.data} could be decoded",
            f"check it with `artv data info {shlex.quote(str(config.data))}`",
        )
    pool = torch.from_numpy(np.concatenate(frames))  # (N, H, W, 3) uint8
    optimizer = torch.optim.AdamW(learning, lr=config.lr, weight_decay=config.weight_decay)
    schedule = make_schedule(config, optimizer)
    vae, optimizer = accelerator.prepare(vae, optimizer)
    stage.begin()
    write_json(config.out / "train_config.json", asdict(config) | {"width": width, "height": height,
                                                                      "versions": versions()})  # fmt: skip

    # 4. Steps: reconstruct every frame of the batch from a sampled latent (the VAE's own posterior; with
    #    --decoder-noise the frozen encoder's mean plus noise of a level drawn per frame).
    means: deque = deque(maxlen=8)  # the latents of the last 8 steps set the scale
    for step in range(config.steps):
        rng = draws(config, step, 0, 0)
        picked = torch.from_numpy(rng.integers(0, len(pool), size=config.batch_size))
        pixels = to_pixels(pool[picked].numpy()).to(accelerator.device)  # (B, 3, H, W) in [-1, 1]
        own = torch.ones(len(pixels), dtype=torch.bool, device=pixels.device)
        if config.vae_colours:  # no draw without it: runs without the option repeat exactly as before
            own = torch.from_numpy(rng.random(len(pixels)) >= 0.5).to(pixels.device)
            pixels = torch.where(own[:, None, None, None], pixels, recolour(pixels, rng, config.vae_colours))
        gen = torch.Generator(accelerator.device).manual_seed(int(rng.integers(2**62)))
        with accelerator.autocast():
            if config.decoder_noise:
                with torch.no_grad():
                    mean = autoencoder.encode(accelerator.unwrap_model(vae), pixels)
                level = torch.rand(len(mean), 1, 1, 1, generator=gen, device=mean.device)
                noise = torch.randn(mean.shape, generator=gen, device=mean.device, dtype=mean.dtype)
                drawn, kl = mean + config.decoder_noise / scaling_factor * level * noise, mean.new_zeros(())
            else:
                mean, drawn, kl = autoencoder.posterior(accelerator.unwrap_model(vae), pixels, gen)
            recon = autoencoder.decode(accelerator.unwrap_model(vae), drawn)
            loss = reconstruction_loss(recon.float(), pixels, config.vae_loss) + KL_WEIGHT * kl
            if start is not None and own.any():  # the data's own frames keep the latents they had
                with torch.no_grad():
                    kept = autoencoder.encode(start, pixels[own])
                loss = loss + config.keep_latents * F.mse_loss(mean[own].float(), kept.float())
        if not torch.isfinite(loss):
            raise ArtvError(
                f"the VAE loss became {loss.item()} at step {step + 1}", "run again with a lower --lr"
            )
        accelerator.backward(loss)
        if config.max_grad_norm > 0:
            accelerator.clip_grad_norm_(vae.parameters(), config.max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        means.append(mean.detach().float())
        if stage.step(float(loss.detach())):
            break

    # 5. Unit-variance latents (latent diffusion's scaling factor), then the export with the new VAE.
    vae = accelerator.unwrap_model(vae).eval().requires_grad_(False)
    same_latents = start is not None or config.decoder_noise
    scale = scaling_factor if same_latents else float(1.0 / torch.cat(list(means)).std())
    vae.register_to_config(scaling_factor=round(scale, 6))
    model.vae = vae
    model.config.extra["vae_training"] = {
        "run": str(config.out),
        "data": str(config.data),
        "steps": stage.done,
        "lr": config.lr,
        "lr_schedule": config.lr_schedule,
        "loss": config.vae_loss,
        "vae_colours": config.vae_colours,
        "design": design,
        "new_vae": config.new_vae,
        "keep_latents": config.keep_latents,
        "decoder_noise": config.decoder_noise,
        "reconstruction_loss": round(stage.last_loss, 6),
        "scaling_factor": round(scale, 6),
    }
    checksum = float(sum(p.double().sum().item() for p in vae.parameters()))
    return stage.finish(model, checksum, dict(skipped))


def recolour(pixels: torch.Tensor, rng: np.random.Generator, strength: float = 1.0) -> torch.Tensor:
    """Frames (B, 3, H, W) in [-1, 1] with other colours: per frame and channel a gain of 1 +- strength/2,
    an offset of up to 0.8 x strength either way and, above strength 0.5, sometimes the channel inverted
    (one time in three at 1); clipped to [-1, 1]. Strength 1 covers the whole RGB cube over many draws
    (white backgrounds, any object colour); 0.3 moves a colour by at most 0.39 (about 50 levels), filling
    the gaps between a world's jittered colours. Shapes and edges stay."""
    shape = (len(pixels), 3, 1, 1)
    sign = np.where(rng.random(shape) < max(0.0, strength - 0.5) * 2 / 3, -1.0, 1.0)
    gain = sign * rng.uniform(1 - strength / 2, 1 + strength / 2, shape)
    offset = rng.uniform(-0.8 * strength, 0.8 * strength, shape)
    as_tensor = lambda a: torch.from_numpy(a).to(pixels.device, pixels.dtype)  # noqa: E731
    return (pixels * as_tensor(gain) + as_tensor(offset)).clamp(-1, 1)


def reconstruction_loss(recon: torch.Tensor, pixels: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """mse: every pixel alike. foreground: pixels away from the frame's border colour (and 2 pixels
    around them) weigh 10x, with L1 + L2 per pixel, so a small object's corners count as much as the
    background it sits on (measured on the world: docs/default-model.md)."""
    if kind == "mse":
        return F.mse_loss(recon, pixels)
    if kind != "foreground":
        raise ArtvError(f"unknown --vae-loss {kind!r}", "use mse or foreground")
    border = torch.cat([pixels[:, :, 0], pixels[:, :, -1], pixels[:, :, :, 0], pixels[:, :, :, -1]], dim=2)
    background = border.median(dim=2).values[:, :, None, None]
    foreground = ((pixels - background).abs().amax(dim=1, keepdim=True) > 0.1).float()
    weight = 1 + 9 * F.max_pool2d(foreground, 5, stride=1, padding=2)
    error = recon - pixels
    return (weight * (error.abs() + error**2)).mean() / weight.mean()
