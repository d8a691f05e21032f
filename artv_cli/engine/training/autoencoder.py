"""Fit the autoencoder (VAE) of a model built from scratch, before ART-V is trained on its latents.

ART-V inherits its VAE from the base image model (METHOD.md) and keeps it frozen. A model with no
pretrained base, such as the embedded default (docs/default-model.md), needs one first: this stage fits
the model's diffusers `AutoencoderKL` on the dataset's frames (reconstruction plus a small KL term, as
latent diffusion does) and sets its `scaling_factor` so that latents have unit variance. Everything
else in the model is left as it was.
"""

from __future__ import annotations

import json
import shlex
import time
from collections import Counter, deque
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F

from artv_cli.engine.data.datasets import FrameSpec, VideoError, decode, scan, to_pixels
from artv_cli.errors import ArtvError

MAX_VIDEOS = 512
"""The VAE stage decodes at most this many videos (into memory): enough for a world of simple shapes."""
KL_WEIGHT = 1e-6
"""Weight of the KL term: small, so the latent keeps detail (the value latent diffusion uses)."""


def train_autoencoder(config, on_event=None):
    """Fit the model's VAE on single frames of the dataset (batch_size frames a step); export RUN/model."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import set_seed

    from artv_cli.engine.hub.registry import quiet_libraries
    from artv_cli.engine.training.common import (
        TrainResult,
        check_run_folder,
        draws,
        load_base,
        make_schedule,
        versions,
        write_json,
    )

    def emit(kind: str, **info) -> None:
        if on_event is not None:
            on_event(kind, info)

    quiet_libraries()

    # 1. Check what needs no model: the run folder, the options this stage does not have, the dataset.
    if config.resume:
        raise ArtvError(
            "--stage vae cannot resume (it is short: a few minutes)", "run it again without --resume"
        )
    check_run_folder(config)
    if (config.out / "model").exists():
        raise ArtvError(f"{config.out} holds an exported model already", "give a new --out")
    catalogue = scan(config.data)
    AcceleratorState._reset_state(reset_partial_state=True)
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=config.cpu)
    if accelerator.num_processes > 1:  # each process would fit and export its own VAE
        raise ArtvError(
            "--stage vae runs in one process", "run it with `artv train`, not under `accelerate launch`"
        )
    set_seed(config.seed)
    emit("data", text=catalogue.describe())

    # 2. The model: only its VAE learns.
    model = load_base(config.model, config.seed).to(accelerator.device)
    width = config.width or min(model.config.native_size, 320)
    height = config.height or width
    if width % model.size_multiple or height % model.size_multiple:
        raise ArtvError(
            f"training size {width}x{height}: this model takes multiples of {model.size_multiple} pixels",
            f"use --size {model.config.native_size}",
        )
    vae = model.vae.train().requires_grad_(True)
    emit("model", text=f"{config.model}: VAE {sum(p.numel() for p in vae.parameters()) / 1e6:.2f} M trained")

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
        emit("cache", done=number + 1, total=len(items))
    if not frames:
        raise ArtvError(
            f"no video of {config.data} could be decoded",
            f"check it with `artv data info {shlex.quote(str(config.data))}`",
        )
    pool = torch.from_numpy(np.concatenate(frames))  # (N, H, W, 3) uint8
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = make_schedule(config, optimizer)
    vae, optimizer = accelerator.prepare(vae, optimizer)
    config.out.mkdir(parents=True, exist_ok=True)
    write_json(config.out / "train_config.json", asdict(config) | {"width": width, "height": height,
                                                                      "versions": versions()})  # fmt: skip

    # 4. Steps: reconstruct every frame of the batch from a sampled latent (the VAE's own posterior).
    emit("start", step=0, total=config.steps)
    started, first_loss, last_loss, window = time.perf_counter(), None, None, []
    means: deque = deque(maxlen=8)  # the latents of the last 8 steps set the scale
    done = 0
    for step in range(config.steps):
        rng = draws(config, step, 0, 0)
        picked = torch.from_numpy(rng.integers(0, len(pool), size=config.batch_size))
        pixels = to_pixels(pool[picked].numpy()).to(accelerator.device)  # (B, 3, H, W) in [-1, 1]
        gen = torch.Generator(accelerator.device).manual_seed(int(rng.integers(2**62)))
        with accelerator.autocast():
            posterior = accelerator.unwrap_model(vae).encode(pixels).latent_dist
            recon = accelerator.unwrap_model(vae).decode(posterior.sample(gen)).sample
            loss = (
                reconstruction_loss(recon.float(), pixels, config.vae_loss)
                + KL_WEIGHT * posterior.kl().mean()
            )
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
        value = float(loss.detach())
        first_loss = value if first_loss is None else first_loss
        last_loss = value
        window.append(value)
        means.append(posterior.mean.detach().float())
        done = step + 1
        rate = (step + 1) / (time.perf_counter() - started)
        emit("step", step=step + 1, total=config.steps, loss=value, steps_per_s=rate,
             samples_per_s=rate * config.batch_size)  # fmt: skip
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
            with open(config.out / "metrics.jsonl", "a") as handle:
                handle.write(json.dumps({"step": step + 1, "loss": float(np.mean(window))}) + "\n")
            window = []
        if (
            config.time_limit
            and done < config.steps
            and time.perf_counter() - started >= config.time_limit * 60
        ):
            emit("notice", text=f"--time-limit {config.time_limit:g} min reached at step {done} of "
                 f"{config.steps}: exporting the autoencoder")  # fmt: skip
            break

    # 5. Unit-variance latents (latent diffusion's scaling factor), then the export with the new VAE.
    vae = accelerator.unwrap_model(vae).eval().requires_grad_(False)
    scale = float(1.0 / torch.cat(list(means)).std())
    vae.register_to_config(scaling_factor=round(scale, 6))
    model.vae = vae
    model.config.extra["vae_training"] = {
        "run": str(config.out),
        "data": str(config.data),
        "steps": done,
        "lr": config.lr,
        "lr_schedule": config.lr_schedule,
        "loss": config.vae_loss,
        "reconstruction_loss": round(last_loss, 6),
        "scaling_factor": round(scale, 6),
    }
    model.name = str(config.out / "model")
    exported = model.save(config.out / "model")
    emit("exported", path=str(exported))
    result = TrainResult(
        run=config.out,
        model=exported,
        steps=done,
        samples=done * config.batch_size,
        first_loss=first_loss,
        last_loss=last_loss,
        seconds=round(time.perf_counter() - started, 3),
        skipped=dict(skipped),
        process_checksums=[float(sum(p.double().sum().item() for p in vae.parameters()))],
    )
    write_json(config.out / "summary.json", asdict(result))
    return result


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
