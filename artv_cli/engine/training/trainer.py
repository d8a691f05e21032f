"""The ART-V trainer (METHOD.md, "Training recipe") on accelerate: one CPU to many GPUs, unchanged.

Every random draw of a step (which videos and frames, noise, steps, dropouts) comes from a generator
seeded by (seed, step, micro-batch, process), so a run resumed from a checkpoint continues exactly as
an uninterrupted one would, with no data-loader state to restore.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from artv_cli.engine.data.datasets import ClipDataset, FrameSpec, collate, decode, scan, to_pixels
from artv_cli.engine.hub.registry import quiet_libraries
from artv_cli.engine.model.artv import ARTVModel, Conditions
from artv_cli.engine.model.masked import add_noise
from artv_cli.errors import ArtvError

OnEvent = Callable[[str, dict], None]
"""on_event(kind, info): progress of a run, reported on the main process only."""

CHECKPOINT = re.compile(r"step-(\d{8})")


@dataclass
class TrainConfig:
    """Every knob of `artv train` (the paper's values where it gives one; METHOD.md)."""

    data: Path
    """Dataset folder: WebVid layout or a folder of captioned videos."""
    model: str
    """Start from: a diffusers Stable Diffusion folder, an ART-V folder, or tiny-random/sd21-random."""
    out: Path
    """Run folder: checkpoints, metrics, validation clips and the exported model."""
    width: int | None = None
    """Training width in pixels; None is the model's native size, at most 320 (the paper's)."""
    height: int | None = None
    """Training height in pixels; None follows the width."""
    stride: int = 1
    """Take every n-th frame of a video."""
    fps: float | None = None
    """Resample videos to this frame rate first (None keeps the file's)."""
    steps: int = 1000
    """Optimiser steps in all (a resumed run stops at the same total)."""
    batch_size: int = 4
    """Samples per process per micro-batch."""
    grad_accum: int = 1
    """Micro-batches per optimiser step."""
    lr: float = 1e-5
    """AdamW learning rate, constant after the warm-up (paper: 1e-5)."""
    warmup_steps: int = 0
    """Linear warm-up steps."""
    weight_decay: float = 1e-2
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Clip the gradient norm to this; 0 turns clipping off."""
    ema_decay: float = 0.9999
    """EMA decay of the exported weights (paper: 0.9999); 0 turns EMA off."""
    mixed_precision: str = "no"
    """no, fp16 or bf16 (accelerate's autocast; weights stay fp32)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, slower."""
    cache: bool = False
    """Encode the frames with the frozen VAE once and train from the cached latents."""
    cache_dir: Path | None = None
    """Where the latent cache lives; None is RUN/latents."""
    workers: int = 0
    """Data-loader worker processes (decoding runs there)."""
    seed: int = 0
    """Seed of every random draw."""
    checkpoint_every: int = 500
    """Write a checkpoint every n steps (and at the end, and on Ctrl-C)."""
    keep_checkpoints: int = 3
    """Keep the last k checkpoints."""
    resume: str | None = None
    """`latest` or a checkpoint folder to continue from."""
    log_every: int = 10
    """Append metrics to metrics.jsonl every n steps."""
    validate_every: int = 0
    """Render validation clips every n steps (0: only at the end)."""
    validation_videos: int = 2
    """Animate frame 0 of this many dataset videos with their captions."""
    validation_prompts: list[str] = field(default_factory=list)
    """Also render these prompts from text only."""
    validation_frames: int = 8
    """Frames per validation clip."""
    validation_steps: int = 10
    """Denoising steps of validation clips."""
    tensorboard: bool = False
    """Also log to TensorBoard (RUN/tensorboard)."""
    export: str = "ema"
    """Weights of the exported model: ema or raw."""
    cpu: bool = False
    """Train on the CPU even where a GPU is present."""
    train_text_encoder: bool = False
    """Train the text encoder with the UNets (for models built from scratch, such as the default)."""
    ablate: list[str] = field(default_factory=list)
    """Switch parts of the method off (Fig. 8 ablations): `mask`, `anchor`, `noise-aug`."""
    drop_text: float | None = None
    """Text dropout; None keeps the model's (paper: 0.1)."""
    drop_ref: float | None = None
    """Reference dropout; None keeps the model's (paper: 0.1)."""
    drop_anchor: float | None = None
    """Anchor dropout; None keeps the model's (paper: 0.1)."""
    stage: str = "artv"
    """`artv` trains the ART-V networks; `vae` fits the autoencoder of a model built from scratch; `base`
    trains Phi_dynamic (and, with --train-text-encoder, the text encoder) as a text-to-image model on
    single frames, the strong image model ART-V starts from (METHOD.md), before `artv`."""
    first_step_share: float = 0.0
    """Share of samples whose target is frame 1, where both references are frame 0 and only the text
    says how to move (the first step of every `animate`); 0 draws targets uniformly."""


@dataclass
class TrainResult:
    run: Path
    model: Path | None
    steps: int
    samples: int
    first_loss: float | None
    last_loss: float | None
    seconds: float
    skipped: dict
    process_checksums: list[float]


class TrainableParts(torch.nn.Module):
    """The networks that learn (Phi_dynamic, Phi_mask, both condition encoders), as one module.

    Its forward is the whole loss, so distributed data parallel sees every parameter in one call.
    """

    def __init__(self, model: ARTVModel, train_text_encoder: bool = False, base: bool = False):
        super().__init__()
        self.base = base  # the base stage: Phi_dynamic alone, as a text-to-image model
        self.unet, self.mask_unet, self.cond, self.mask_cond = (
            model.unet,
            model.mask_unet,
            model.cond,
            model.mask_cond,
        )
        if train_text_encoder:
            self.text_encoder = model.text_encoder
        self._model = [model]  # not a sub-module: the frozen parts are not trained or synchronised

    def forward(
        self,
        z0: torch.Tensor,  # (B, 4, h, w) clean target latent z^i
        refs: torch.Tensor,  # (B, 8, h, w) augmented z^{i-1}, z^{i-2}; zeros where dropped
        anchor: torch.Tensor,  # (B, 4, h, w) augmented anchor; zeros where dropped
        z_ref: torch.Tensor,  # (B, 4, h, w) clean z^{i-1}
        text_ids: torch.Tensor,  # (B, L) token ids; the empty prompt where the text is dropped
        t: torch.Tensor,  # (B,) diffusion step
        noise: torch.Tensor,  # (B, 4, h, w)
        t_aug: torch.Tensor,  # (B,) augmentation step
        keep_ref: torch.Tensor,  # (B,) bool: references present, static path on
    ) -> torch.Tensor:
        """The epsilon loss on eps_hat (Eq. 4 with Eq. 7)."""
        model = self._model[0]
        z_t = add_noise(z0, noise, model.alphas_cumprod[t].view(-1, 1, 1, 1))
        dtype = model.dtype
        with torch.set_grad_enabled(torch.is_grad_enabled() and hasattr(self, "text_encoder")):
            text = model.text_encoder(text_ids)[0]
        features = self.cond.reference_features(refs.to(dtype))
        cond = Conditions(
            text=text,
            features=features,
            # without masked diffusion (an ablation) Phi_mask never runs: its inputs are not computed
            mask_features=self.mask_cond.reference_features(refs.to(dtype))
            if model.config.use_mask
            else features,
            tokens=self.cond.anchor_tokens(anchor.to(dtype)),
            mask_tokens=self.mask_cond.anchor_tokens(anchor.to(dtype)),
            noise_level=t_aug,
            z_ref=z_ref,
            static=keep_ref,
        )
        eps_hat = model.predict_noise(z_t, t, cond, every_row=not self.base)
        return F.mse_loss(eps_hat, noise.float())


def load_base(spec: str, seed: int) -> ARTVModel:
    """The start: a built-in random preset, an ART-V folder (continue), or an SD folder (fresh ART-V)."""
    from artv_cli.engine.hub.registry import RANDOM_MODELS
    from artv_cli.engine.model.config import CONFIG_NAME

    if spec in RANDOM_MODELS:
        return ARTVModel.random(RANDOM_MODELS[spec], seed=seed)
    folder = Path(spec).expanduser()
    if not folder.exists():
        from artv_cli.engine.hub.downloads import local_path, registry

        if spec in registry():  # a downloaded base such as sd21-base
            folder = local_path(spec)
    if (folder / CONFIG_NAME).is_file():
        return ARTVModel.load(folder)
    if folder.is_dir():
        return ARTVModel.from_base(folder, seed=seed)
    raise ArtvError(
        f"--model {spec}: no such folder",
        "give a diffusers Stable Diffusion folder, an ART-V model folder, or tiny-random / sd21-random",
    )


ABLATIONS = ("mask", "anchor", "noise-aug")


def apply_method_changes(model: ARTVModel, config: TrainConfig) -> None:
    """Set the run's dropouts and ablations on the model's method settings (saved with the export)."""
    method = model.config
    for name in ("drop_text", "drop_ref", "drop_anchor"):
        value = getattr(config, name)
        if value is not None:
            if not 0 <= value < 1:
                flag = "--" + name.replace("_", "-")
                raise ArtvError(f"{flag} must be in [0, 1) (got {value:g})", f"use {flag} 0.1 (the paper's)")
            setattr(method, name, value)
    unknown = [a for a in config.ablate if a not in ABLATIONS]
    if unknown:
        raise ArtvError(f"--ablate {unknown[0]} is unknown", f"use one of: {', '.join(ABLATIONS)}")
    if "mask" in config.ablate:
        method.use_mask = False
    if "anchor" in config.ablate:
        method.use_anchor = False
    if "noise-aug" in config.ablate:  # no augmentation in training, so none at inference either
        method.t_max = method.t_test = 0
    if config.ablate:
        method.extra["ablated"] = sorted(set(config.ablate) | set(method.extra.get("ablated", [])))


def find_checkpoint(run: Path, resume: str) -> Path | None:
    """The checkpoint a `--resume` value names; None for `latest` in a run that has none yet."""
    if resume == "latest":
        found = sorted(p for p in (run / "checkpoints").glob("step-*") if CHECKPOINT.fullmatch(p.name))
        return found[-1] if found else None
    path = Path(resume).expanduser()
    if not (path / "trainer.json").is_file():
        raise ArtvError(
            f"--resume {resume} is not a checkpoint folder (no trainer.json)",
            f"give `latest`, or a folder such as {run / 'checkpoints' / 'step-00000500'}",
        )
    return path


def check_run_folder(config: TrainConfig) -> None:
    out = config.out
    if out.exists() and not out.is_dir():
        raise ArtvError(f"--out {out} is a file", "give a folder for the run")
    if config.resume is None and (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir()):
        raise ArtvError(
            f"{out} holds a run already",
            "add --resume latest to continue it, or give a new --out",
        )


def _draws(config: TrainConfig, step: int, micro: int, rank: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, step, micro, rank])


class StepSampler(torch.utils.data.Sampler):
    """Batches of (video, u_target, u_anchor) for every micro-step from `start` on, drawn per step."""

    def __init__(self, config: TrainConfig, videos: int, start: int, rank: int):
        self.config, self.videos, self.start, self.rank = config, videos, start, rank

    def __len__(self) -> int:
        return (self.config.steps - self.start) * self.config.grad_accum

    def __iter__(self):
        for step in range(self.start, self.config.steps):
            for micro in range(self.config.grad_accum):
                rng = _draws(self.config, step, micro, self.rank)
                videos = rng.integers(0, self.videos, size=self.config.batch_size)
                u = rng.random((self.config.batch_size, 2))
                if self.config.first_step_share > 0:  # an extra draw only then: older runs repeat exactly
                    u[rng.random(self.config.batch_size) < self.config.first_step_share, 0] = 0.0
                yield [(int(v), float(a), float(b)) for v, (a, b) in zip(videos, u, strict=True)]


def _checksum(parts: torch.nn.Module) -> float:
    return float(sum(p.detach().double().sum().item() for p in parts.parameters()))


def train(config: TrainConfig, on_event: OnEvent | None = None) -> TrainResult:
    """Train ART-V on a dataset folder; write checkpoints, metrics, validation clips and the final model."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    if config.stage == "vae":
        from artv_cli.engine.training.autoencoder import train_autoencoder

        return train_autoencoder(config, on_event)
    if config.stage not in ("artv", "base"):
        raise ArtvError(f"--stage {config.stage} is unknown", "use --stage artv (default), base or vae")
    if not 0 <= config.first_step_share <= 1:
        raise ArtvError(
            f"--first-step-share must be in [0, 1] (got {config.first_step_share:g})",
            "use --first-step-share 0.3",
        )
    base_stage = config.stage == "base"

    def emit(kind: str, **info) -> None:
        if on_event is not None and accelerator.is_main_process:
            on_event(kind, info)

    quiet_libraries()

    # 1. Check what needs no model: the run folder, the resume point, the dataset.
    check_run_folder(config)
    checkpoint = find_checkpoint(config.out, config.resume) if config.resume else None
    catalogue = scan(config.data)
    if config.tensorboard:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise ArtvError("--tensorboard needs the tensorboard package", "pip install tensorboard")
    if config.mixed_precision not in ("no", "fp16", "bf16"):
        raise ArtvError(f"--mixed-precision {config.mixed_precision!r} is unknown", "use no, fp16 or bf16")

    # Several processes without CUDA (torchrun or `accelerate launch --multi_gpu` on CPU machines): accelerate
    # picks its multi-CPU (gloo) mode only when told to use the CPU.
    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    on_cpu = config.cpu or not (torch.cuda.is_available() or torch.backends.mps.is_available())
    if config.mixed_precision == "fp16" and on_cpu:
        raise ArtvError("--mixed-precision fp16 needs a GPU", "use --mixed-precision bf16 or no on the CPU")
    if not several:  # one process: a run in the same Python process may ask for other settings than the last
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    accelerator = Accelerator(
        gradient_accumulation_steps=config.grad_accum,
        mixed_precision=config.mixed_precision,
        cpu=config.cpu or (several and not torch.cuda.is_available()),
        log_with="tensorboard" if config.tensorboard else None,
        project_config=ProjectConfiguration(project_dir=str(config.out), logging_dir=str(config.out)),
    )
    set_seed(config.seed)
    emit("data", text=catalogue.describe())

    # 2. Build the model: Phi_dynamic from the base, Phi_mask and the new parts fresh; VAE and text frozen.
    model = load_base(config.model, config.seed).to(accelerator.device)
    method = model.config
    width = config.width or min(method.native_size, 320)
    height = config.height or width
    multiple = model.size_multiple
    if width % multiple or height % multiple:
        raise ArtvError(
            f"training size {width}x{height}: this model takes multiples of {multiple} pixels",
            f"use --size {max(multiple, round(width / multiple) * multiple)}",
        )
    spec = FrameSpec(width=width, height=height, stride=config.stride, fps=config.fps)
    apply_method_changes(model, config)
    model.vae.requires_grad_(False).eval()
    model.text_encoder.requires_grad_(config.train_text_encoder).train(config.train_text_encoder)
    parts = TrainableParts(model, config.train_text_encoder, base=base_stage).train()
    if not method.use_mask or base_stage:  # the ablation without Phi_mask, or the base stage: no Phi_mask
        model.mask_unet.requires_grad_(False)
        model.mask_cond.requires_grad_(False)
    if base_stage:  # a text-to-image model: the ART-V additions stay as they are (zero, METHOD.md)
        model.cond.requires_grad_(False)
        for name, param in model.unet.named_parameters():
            if "_ip" in name or name.startswith("class_embedding"):
                param.requires_grad_(False)
    if config.gradient_checkpointing:
        model.unet.enable_gradient_checkpointing()
        model.mask_unet.enable_gradient_checkpointing()
    emit("model", text=f"{config.model}: {sum(p.numel() for p in parts.parameters()) / 1e6:.1f} M trained")

    # 3. Data: the latent cache (built once, by the main process) or decoding on the fly.
    if config.cache:
        from artv_cli.engine.training.latents import LatentDataset, build_cache

        cache_dir = config.cache_dir or config.out / "latents"
        with accelerator.main_process_first():
            if accelerator.is_main_process:
                build_cache(
                    model,
                    catalogue,
                    spec,
                    cache_dir,
                    on_video=lambda done, total: emit("cache", done=done, total=total),
                )
        dataset = LatentDataset(cache_dir, window=method.anchor_window)
        skipped = Counter(dataset.skipped)
    else:
        dataset = ClipDataset(catalogue, spec, window=method.anchor_window)
        skipped = Counter(catalogue.skipped)

    # 4. Optimiser, warm-up schedule and EMA: library pieces, prepared and checkpointed by accelerate.
    trained = [p for p in parts.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=config.lr, weight_decay=config.weight_decay)
    schedule = get_scheduler(
        "constant_with_warmup" if config.warmup_steps else "constant",
        optimizer,
        num_warmup_steps=config.warmup_steps,
    )
    ema = EMAModel(trained, decay=config.ema_decay) if config.ema_decay > 0 else None
    parts, optimizer = accelerator.prepare(parts, optimizer)
    accelerator.register_for_checkpointing(schedule)
    if ema is not None:
        ema.to(accelerator.device)
        accelerator.register_for_checkpointing(ema)

    config.out.mkdir(parents=True, exist_ok=True)
    start = 0
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        state = json.loads((checkpoint / "trainer.json").read_text())
        start = state["step"]
        skipped = Counter(state["skipped"])
        emit("notice", text=f"resumed from {checkpoint} at step {start}")
    elif config.resume == "latest":
        emit("notice", text=f"no checkpoint in {config.out} yet: starting a new run")
    if accelerator.is_main_process:
        record = asdict(config) | {"width": width, "height": height, "processes": accelerator.num_processes}
        _write_json(config.out / "train_config.json", record | {"versions": _versions()})
        _trim_metrics(config.out / "metrics.jsonl", start)
    if config.tensorboard:
        accelerator.init_trackers("tensorboard")

    samples_per_step = config.batch_size * config.grad_accum * accelerator.num_processes
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=StepSampler(config, len(dataset), start, accelerator.process_index),
        num_workers=config.workers,
        collate_fn=collate,
    )
    blank_ids = model.tokenize([""]).to(accelerator.device)
    alphas = model.alphas_cumprod
    window_loss, first_loss, last_loss = [], None, None
    step, started, window_start = start, time.perf_counter(), time.perf_counter()
    last_checkpoint = checkpoint

    def save_checkpoint() -> Path:
        return _save_checkpoint(accelerator, config, step, dict(skipped), keep=config.keep_checkpoints)

    emit("start", step=start, total=config.steps)
    try:
        batches = iter(loader)
        while step < config.steps:
            grad_norm = None
            for micro in range(config.grad_accum):
                batch = next(batches)
                for key, reason in batch["skipped"]:
                    skipped[reason] += 1
                    emit("notice", text=f"skipped {key}: {reason}")
                gen = torch.Generator(accelerator.device).manual_seed(
                    int(_draws(config, step, micro, accelerator.process_index).integers(2**62))
                )
                b = len(batch["caption"])

                # 5. The four latents of each sample: target, z^{i-1}, z^{i-2}, anchor (frozen VAE).
                with torch.no_grad():
                    if "latents" in batch:
                        latents = batch["latents"].to(accelerator.device)
                    else:
                        pixels = batch["pixels"].to(accelerator.device).flatten(0, 1)
                        latents = model.encode_images(pixels).float().unflatten(0, (b, 4))
                    z0, zp, zp2, za = latents.unbind(1)

                    # 6. Independent 10 % dropouts of text, references and anchor (Sec. 4).
                    keep = torch.rand(3, b, generator=gen, device=accelerator.device) >= torch.tensor(
                        [[method.drop_text], [method.drop_ref], [method.drop_anchor]],
                        device=accelerator.device,
                    )
                    if not method.use_anchor:  # the ablation without the anchor never shows one
                        keep[2] = False
                    if base_stage:  # single frames: no references, no anchor, the static path off
                        keep[1:] = False
                    text_ids = model.tokenize(batch["caption"]).to(accelerator.device)
                    text_ids = torch.where(keep[0].view(-1, 1), text_ids, blank_ids)

                    # 7. Noise augmentation of references and anchor at t_aug ~ U[0, T_max] (Sec. 3.3).
                    t_aug = torch.randint(0, method.t_max + 1, (b,), generator=gen, device=accelerator.device)
                    if base_stage:
                        t_aug.zero_()
                    ab = alphas[t_aug].view(-1, 1, 1, 1)
                    aug = [
                        add_noise(z, torch.randn(z.shape, generator=gen, device=z.device), ab)
                        for z in (zp, zp2, za)
                    ]
                    refs = torch.cat(aug[:2], dim=1) * keep[1].view(-1, 1, 1, 1)
                    anchor = aug[2] * keep[2].view(-1, 1, 1, 1)

                    # 8. The frame's own diffusion step and noise (Eq. 3).
                    t = torch.randint(0, alphas.numel(), (b,), generator=gen, device=accelerator.device)
                    noise = torch.randn(z0.shape, generator=gen, device=z0.device)

                # 9. Loss, backward, clipping and the optimiser step (accelerate handles accumulation).
                with accelerator.accumulate(parts):
                    loss = parts(z0, refs, anchor, zp, text_ids, t, noise, t_aug, keep[1])
                    mean_loss = accelerator.reduce(loss.detach(), reduction="mean").item()
                    if not math.isfinite(mean_loss):
                        raise NonFiniteLoss(mean_loss)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and config.max_grad_norm > 0:
                        grad_norm = float(
                            accelerator.clip_grad_norm_(parts.parameters(), config.max_grad_norm)
                        )
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                window_loss.append(mean_loss)

            # 10. After the optimiser step: schedule, EMA, counters, logs, checkpoints, validation.
            schedule.step()
            if ema is not None:
                ema.step([p for p in accelerator.unwrap_model(parts).parameters() if p.requires_grad])
            step += 1
            loss_now = float(np.mean(window_loss[-config.grad_accum :]))
            first_loss = loss_now if first_loss is None else first_loss
            last_loss = loss_now
            elapsed = time.perf_counter() - started
            rate = (step - start) / elapsed
            emit("step", step=step, total=config.steps, loss=loss_now, steps_per_s=rate,
                 samples_per_s=rate * samples_per_step)  # fmt: skip
            if step % config.log_every == 0 or step == config.steps:
                now = time.perf_counter()
                record = {
                    "step": step,
                    "loss": float(np.mean(window_loss)),
                    "lr": schedule.get_last_lr()[0],
                    "grad_norm": grad_norm,
                    "steps_per_s": round(len(window_loss) / config.grad_accum / (now - window_start), 4),
                    "samples_per_s": round(
                        len(window_loss) / config.grad_accum * samples_per_step / (now - window_start), 3
                    ),
                    "samples": step * samples_per_step,
                    "elapsed_s": round(elapsed, 3),
                    "skipped": sum(skipped.values()),
                }
                window_loss, window_start = [], now
                if accelerator.is_main_process:
                    with open(config.out / "metrics.jsonl", "a") as handle:
                        handle.write(json.dumps(record) + "\n")
                accelerator.log({"loss": record["loss"], "lr": record["lr"]}, step=step)
            if step % config.checkpoint_every == 0 and step < config.steps:
                last_checkpoint = save_checkpoint()
                emit("checkpoint", path=str(last_checkpoint))
            if config.validate_every and step % config.validate_every == 0 and step < config.steps:
                _validate(accelerator, model, parts, ema, config, catalogue, spec, step, emit)
    except KeyboardInterrupt:
        # Ctrl-C: keep the work of every finished step (a half-accumulated step is dropped).
        optimizer.zero_grad(set_to_none=True)
        path = save_checkpoint() if step > start else last_checkpoint
        emit("interrupted", step=step, checkpoint=str(path) if path else None)
        raise
    except NonFiniteLoss as error:
        where = (
            f"the last good checkpoint is {last_checkpoint}"
            if last_checkpoint
            else "no checkpoint was written"
        )
        raise ArtvError(
            f"the loss became {error.value} at step {step + 1}; the run stopped ({where})",
            "resume with a lower --lr (or --mixed-precision no): --resume latest",
        ) from None

    # 11. The end: a last checkpoint, validation clips, and the exported model (EMA weights by default).
    if step > start and (last_checkpoint is None or CHECKPOINT.fullmatch(last_checkpoint.name) is None
                         or int(last_checkpoint.name[5:]) != step):  # fmt: skip
        last_checkpoint = save_checkpoint()
        emit("checkpoint", path=str(last_checkpoint))
    _validate(accelerator, model, parts, ema, config, catalogue, spec, step, emit)
    exported = None
    checksums = accelerator.gather(
        torch.tensor(
            [_checksum(accelerator.unwrap_model(parts))], dtype=torch.float64, device=accelerator.device
        )
    ).tolist()
    if accelerator.is_main_process:
        exported = _export(model, parts, accelerator, ema, config, step)
        emit("exported", path=str(exported))
    accelerator.wait_for_everyone()
    accelerator.end_training()
    result = TrainResult(
        run=config.out,
        model=exported,
        steps=step,
        samples=step * samples_per_step,
        first_loss=first_loss,
        last_loss=last_loss,
        seconds=round(time.perf_counter() - started, 3),
        skipped=dict(skipped),
        process_checksums=checksums,
    )
    if accelerator.is_main_process:
        _write_json(config.out / "summary.json", asdict(result))
    return result


class NonFiniteLoss(Exception):
    def __init__(self, value: float):
        super().__init__(str(value))
        self.value = value


def _write_json(path: Path, data: dict) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(partial, path)


def _trim_metrics(path: Path, step: int) -> None:
    """On resume, drop metric lines of steps after the checkpoint (they are trained again)."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in lines))


def _save_checkpoint(accelerator, config: TrainConfig, step: int, skipped: dict, keep: int) -> Path:
    """accelerate's full state (weights, optimiser, EMA, schedule, RNG) plus trainer.json, atomically."""
    folder = config.out / "checkpoints" / f"step-{step:08d}"
    partial = folder.with_name(f".{folder.name}.partial")
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        _write_json(partial / "trainer.json", {"step": step, "skipped": skipped, "seed": config.seed})
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(partial, folder)
        found = sorted(p for p in folder.parent.glob("step-*") if CHECKPOINT.fullmatch(p.name))
        for old in found[: max(0, len(found) - keep)]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return folder


def _with_export_weights(ema, parts, config: TrainConfig):
    """A context in which `parts` hold the weights to show: EMA (by default) or raw."""
    from contextlib import contextmanager

    @contextmanager
    def swap():
        if ema is None or config.export == "raw":
            yield
            return
        params = [p for p in parts.parameters() if p.requires_grad]
        ema.store(params)
        ema.copy_to(params)
        try:
            yield
        finally:
            ema.restore(params)

    return swap()


def _export(model: ARTVModel, parts, accelerator, ema, config: TrainConfig, step: int) -> Path:
    unwrapped = accelerator.unwrap_model(parts)
    model.config.extra["training"] = {
        "run": str(config.out),
        "data": str(config.data),
        "base": config.model,
        "steps": step,
        "weights": "raw" if ema is None else config.export,
        "seed": config.seed,
        "versions": _versions(),
    }
    with _with_export_weights(ema, unwrapped, config):
        model.name = str(config.out / "model")
        return model.save(config.out / "model")


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("artv", "torch", "diffusers", "transformers", "accelerate"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def _validate(accelerator, model, parts, ema, config, catalogue, spec, step, emit) -> None:
    """Short clips from fixed sources (frame 0 + caption of the first videos, and text prompts)."""
    from artv_cli.engine.data.video import VideoWriter
    from artv_cli.engine.sampling.loop import SampleSettings, render

    sources = []
    for item in catalogue.items[: config.validation_videos]:
        try:
            first = decode(item.path, FrameSpec(spec.width, spec.height, max_frames=2))[:1]
        except Exception:  # a video that cannot be decoded is simply not used for validation
            continue
        sources.append((item.caption, to_pixels(first)))
    sources += [(prompt, None) for prompt in config.validation_prompts]
    if not sources or not accelerator.is_main_process:
        accelerator.wait_for_everyone()
        return
    folder = config.out / "validation" / f"step-{step:08d}"
    settings = SampleSettings(
        frames=config.validation_frames,
        width=spec.width,
        height=spec.height,
        steps=config.validation_steps,
        guidance_text=model.config.guidance_text,
        guidance_ref=model.config.guidance_ref,
        guidance_anchor=model.config.guidance_anchor,
        noise_level=model.config.t_test,
        seed=config.seed,
    )
    unwrapped = accelerator.unwrap_model(parts)
    written = []
    unwrapped.eval()
    try:
        with _with_export_weights(ema, unwrapped, config):
            for number, (prompt, image) in enumerate(sources):
                path = folder / f"{number:02d}.mp4"
                with VideoWriter(path, fps=8) as writer:
                    for frame in render(model, prompt, settings, image=image):
                        writer.append(frame)
                (folder / f"{number:02d}.txt").write_text(prompt + "\n")
                written.append(str(path))
    finally:
        unwrapped.train()
    emit("validation", step=step, paths=written)
    accelerator.wait_for_everyone()
