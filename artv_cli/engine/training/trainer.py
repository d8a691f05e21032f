"""The ART-V trainer (METHOD.md, "Training recipe") on accelerate: one CPU to many GPUs, unchanged.

Every random draw of a step (which videos and frames, noise, steps, dropouts) comes from a generator
seeded by (seed, step, micro-batch, process), so a run resumed from a checkpoint continues exactly as
an uninterrupted one would, with no data-loader state to restore.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from artv_cli.engine.data.datasets import ClipDataset, FrameSpec, collate, decode, scan, to_pixels
from artv_cli.engine.hub.registry import quiet_libraries
from artv_cli.engine.model.artv import ARTVModel, Conditions
from artv_cli.engine.model.lora_prior import adapters_off, without_trigger
from artv_cli.engine.model.masked import add_noise
from artv_cli.engine.training.checkpoints import (
    checksum,
    export,
    export_weights,
    save_checkpoint,
    trim_metrics,
)
from artv_cli.engine.training.common import (  # noqa: F401 (TrainConfig and TrainResult: the trainer's API)
    CHECKPOINT,
    NonFiniteLoss,
    OnEvent,
    TrainConfig,
    TrainResult,
    apply_method_changes,
    check_run_folder,
    draws,
    find_checkpoint,
    load_base,
    make_schedule,
    record_training_words,
    versions,
    write_json,
)
from artv_cli.errors import ArtvError


class TrainableParts(torch.nn.Module):
    """The networks that learn (Phi_dynamic, Phi_mask, both condition encoders), as one module.

    Its forward is the whole loss, so distributed data parallel sees every parameter in one call.
    """

    def __init__(
        self,
        model: ARTVModel,
        train_text_encoder: bool = False,
        base: bool = False,
        motion_weight: float = 0.0,
        prior_weight: float = 0.0,
        object_weight: float = 0.0,
        snr_gamma: float = 0.0,
    ):
        super().__init__()
        self.base = base  # the base stage: Phi_dynamic alone, as a text-to-image model
        self.motion_weight = 0.0 if base else motion_weight
        self.object_weight = object_weight
        self.snr_gamma = snr_gamma
        self.prior_weight = prior_weight  # LoRA: keep the base's prediction on captions without a trigger
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
        prior: torch.Tensor | None = None,  # (B,) bool: no trigger word in the caption (--prior-weight)
    ) -> torch.Tensor:
        """The epsilon loss on eps_hat (Eq. 4 with Eq. 7), weighted towards change with --motion-weight and
        towards the subject with --object-weight, per sample by Min-SNR with --snr-gamma; with --prior-weight,
        plus the distance to the base model's own eps_hat on the `prior` rows."""
        model = self._model[0]
        z_t = add_noise(z0, noise, model.alphas_cumprod[t].view(-1, 1, 1, 1))
        eps_hat = self._eps_hat(z_t, refs, anchor, z_ref, text_ids, t, t_aug, keep_ref)
        if self.motion_weight == 0 and self.object_weight == 0 and self.snr_gamma == 0:
            loss = F.mse_loss(eps_hat, noise.float())
        else:
            weight = (
                motion_weights(z0, z_ref, self.motion_weight) + object_weights(z0, self.object_weight) - 1
            )
            errors = (eps_hat.float() - noise.float()).pow(2) * weight
            if self.snr_gamma > 0:
                errors = errors * min_snr_weights(model.scheduler, t, self.snr_gamma).view(-1, 1, 1, 1)
            loss = errors.mean() / weight.mean()
        if self.prior_weight > 0 and prior is not None and bool(prior.any()):
            rows = prior.nonzero().flatten()
            with torch.no_grad(), adapters_off(model):
                base = self._eps_hat(
                    *(x[rows] for x in (z_t, refs, anchor, z_ref, text_ids, t, t_aug, keep_ref))
                )
            gap = (eps_hat[rows].float() - base.float()).pow(2).mean((1, 2, 3)).sum() / len(prior)
            loss = loss + self.prior_weight * gap
        return loss

    def _eps_hat(self, z_t, refs, anchor, z_ref, text_ids, t, t_aug, keep_ref) -> torch.Tensor:
        """eps_hat of Eq. 7 for the noisy targets z_t under the sample's conditions."""
        model = self._model[0]
        dtype = model.dtype
        with torch.set_grad_enabled(torch.is_grad_enabled() and hasattr(self, "text_encoder")):
            text = model.text_encoder(text_ids)[0]
        refs = refs.to(dtype)
        features = self.cond.reference_features(refs)
        cond = Conditions(
            text=text,
            features=features,
            # without masked diffusion (an ablation) Phi_mask never runs: its inputs are not computed
            mask_features=self.mask_cond.reference_features(refs) if model.config.use_mask else features,
            tokens=self.cond.anchor_tokens(anchor.to(dtype)),
            mask_tokens=self.mask_cond.anchor_tokens(anchor.to(dtype)),
            noise_level=t_aug,
            z_ref=z_ref,
            static=keep_ref,
            refs=refs,
        )
        return model.predict_noise(z_t, t, cond, every_row=not self.base)


def motion_weights(z0: torch.Tensor, z_ref: torch.Tensor, strength: float) -> torch.Tensor:
    """(B, 1, h, w) loss weights 1 + strength * |z^i - z^{i-1}| averaged over channels (--motion-weight)."""
    return 1 + strength * (z0.float() - z_ref.float()).abs().mean(1, keepdim=True)


def object_weights(z0: torch.Tensor, strength: float) -> torch.Tensor:
    """(B, 1, h, w) loss weights 1 + strength * |z^i - median(z^i)| averaged over channels (--object-weight):
    the distance of each latent pixel from its frame's median one, large on the subject of a plain frame."""
    if strength == 0:  # off (only --motion-weight or --snr-gamma): no median per step
        return torch.ones_like(z0[:, :1], dtype=torch.float32)
    median = z0.float().flatten(2).median(2).values[..., None, None]
    return 1 + strength * (z0.float() - median).abs().mean(1, keepdim=True)


def min_snr_weights(scheduler, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """(B,) Min-SNR-gamma weights min(SNR(t), gamma) / SNR(t) of an epsilon loss (--snr-gamma)."""
    from diffusers.training_utils import compute_snr

    snr = compute_snr(scheduler, t)
    return snr.clamp(max=gamma) / snr


class StepSampler(torch.utils.data.Sampler):
    """Batches of (video, u_target, u_anchor) for every micro-step from `start` on, drawn per step."""

    def __init__(self, config: TrainConfig, videos: int, start: int, rank: int):
        self.config, self.videos, self.start, self.rank = config, videos, start, rank

    def __len__(self) -> int:
        return (self.config.steps - self.start) * self.config.grad_accum

    def __iter__(self):
        for step in range(self.start, self.config.steps):
            for micro in range(self.config.grad_accum):
                rng = draws(self.config, step, micro, self.rank)
                videos = rng.integers(0, self.videos, size=self.config.batch_size)
                u = rng.random((self.config.batch_size, 2))
                if self.config.first_step_share > 0:  # an extra draw only then: older runs repeat exactly
                    u[rng.random(self.config.batch_size) < self.config.first_step_share, 0] = 0.0
                yield [(int(v), float(a), float(b)) for v, (a, b) in zip(videos, u, strict=True)]


def train(config: TrainConfig, on_event: OnEvent | None = None) -> TrainResult:
    """Train ART-V on a dataset folder; write checkpoints, metrics, validation clips and the final model."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed
    from diffusers.training_utils import EMAModel

    config.check()  # every check of the command line, for a library caller too
    if config.stage == "vae":
        from artv_cli.engine.training.autoencoder import train_autoencoder

        return train_autoencoder(config, on_event)
    if config.stage == "text":
        from artv_cli.engine.training.text_encoder import train_text_encoder

        return train_text_encoder(config, on_event)
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
    # (an adapter is trained on the model as it renders: a built-in random model with its own seed, 0)
    model = load_base(config.model, 0 if config.lora else config.seed).to(accelerator.device)
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
    if config.train_text_encoder:
        record_training_words(model, [item.caption for item in catalogue.items])
    model.vae.requires_grad_(False).eval()
    model.text_encoder.requires_grad_(config.train_text_encoder).train(config.train_text_encoder)
    with_text = config.train_text_encoder or (config.lora > 0 and "text_encoder" in config.lora_parts)
    parts = TrainableParts(
        model,
        with_text,
        base=base_stage,
        motion_weight=config.motion_weight,
        object_weight=config.object_weight,
        snr_gamma=config.snr_gamma,
        prior_weight=config.prior_weight,
    ).train()
    if not method.use_mask or base_stage:  # the ablation without Phi_mask, or the base stage: no Phi_mask
        model.mask_unet.requires_grad_(False)
        model.mask_cond.requires_grad_(False)
    if base_stage:  # a text-to-image model: the ART-V additions stay as they are (zero, METHOD.md)
        model.cond.requires_grad_(False)
        for name, param in model.unet.named_parameters():
            if "_ip" in name or name.startswith("class_embedding"):
                param.requires_grad_(False)
    if config.lora:  # an adapter only: peft's LoRA layers in the chosen parts, every base weight frozen
        from artv_cli.engine.model.lora import add_lora

        count = add_lora(
            model, config.lora, config.lora_alpha, config.lora_parts, config.lora_targets or None
        )
        where = ", ".join(config.lora_parts)
        emit("notice", text=f"LoRA rank {config.lora} on {where}: {count / 1e6:.2f} M adapter parameters; "
                            "the base weights stay as they are")  # fmt: skip
    if config.gradient_checkpointing:
        model.unet.enable_gradient_checkpointing()
        model.mask_unet.enable_gradient_checkpointing()
    trained_count = sum(p.numel() for p in parts.parameters() if p.requires_grad)
    emit("model", text=f"{config.model}: {trained_count / 1e6:.1f} M trained")

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
    schedule = make_schedule(config, optimizer)
    ema = EMAModel(trained, decay=config.ema_decay) if config.ema_decay > 0 else None
    parts, optimizer = accelerator.prepare(parts, optimizer)
    accelerator.register_for_checkpointing(schedule)
    if config.lora:  # a LoRA run's checkpoints hold the adapter, not another copy of the frozen base
        accelerator.register_save_state_pre_hook(_adapter_only)
    if ema is not None:
        ema.to(accelerator.device)
        accelerator.register_for_checkpointing(ema)

    config.out.mkdir(parents=True, exist_ok=True)
    start = 0
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint), **({"strict": False} if config.lora else {}))
        state = json.loads((checkpoint / "trainer.json").read_text())
        start = state["step"]
        skipped = Counter(state["skipped"])
        emit("notice", text=f"resumed from {checkpoint} at step {start}")
    elif config.resume == "latest":
        emit("notice", text=f"no checkpoint in {config.out} yet: starting a new run")
    if accelerator.is_main_process:
        record = asdict(config) | {"width": width, "height": height, "processes": accelerator.num_processes}
        write_json(config.out / "train_config.json", record | {"versions": versions()})
        trim_metrics(config.out / "metrics.jsonl", start)
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

    def checkpoint_now() -> Path:
        return save_checkpoint(accelerator, config, step, dict(skipped), keep=config.keep_checkpoints)

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
                    int(draws(config, step, micro, accelerator.process_index).integers(2**62))
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
                    prior = (
                        None  # --prior-weight: captions without the adapter's words keep the base's drawing
                    )
                    if config.prior_weight:
                        prior = torch.tensor(without_trigger(batch["caption"], config.trigger_words),
                                             device=accelerator.device)  # fmt: skip

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
                    loss = parts(z0, refs, anchor, zp, text_ids, t, noise, t_aug, keep[1], prior)
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
                last_checkpoint = checkpoint_now()
                emit("checkpoint", path=str(last_checkpoint))
            if config.validate_every and step % config.validate_every == 0 and step < config.steps:
                _validate(accelerator, model, parts, ema, config, catalogue, spec, step, emit)
            if config.time_limit and step < config.steps and elapsed >= config.time_limit * 60:
                emit("notice", text=f"--time-limit {config.time_limit:g} min reached at step {step} of "
                     f"{config.steps}: checkpointing and exporting (--resume latest goes on)")  # fmt: skip
                break
    except KeyboardInterrupt:
        # Ctrl-C: keep the work of every finished step (a half-accumulated step is dropped).
        optimizer.zero_grad(set_to_none=True)
        path = checkpoint_now() if step > start else last_checkpoint
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
        last_checkpoint = checkpoint_now()
        emit("checkpoint", path=str(last_checkpoint))
    _validate(accelerator, model, parts, ema, config, catalogue, spec, step, emit)
    exported = None
    checksums = accelerator.gather(
        torch.tensor(
            [checksum(accelerator.unwrap_model(parts))], dtype=torch.float64, device=accelerator.device
        )
    ).tolist()
    if accelerator.is_main_process:
        exported = export(model, parts, accelerator, ema, config, step)
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
        write_json(config.out / "summary.json", asdict(result))
    return result


def _adapter_only(models, weights, output_dir) -> None:
    """accelerate's save hook of a LoRA run: keep the adapter's weights of each model's state."""
    for index, state in enumerate(weights):
        weights[index] = {key: value for key, value in state.items() if ".lora_" in key}


def _validate(accelerator, model, parts, ema, config, catalogue, spec, step, emit) -> None:
    """Short clips from fixed sources (frame 0 + caption of the first videos, and text prompts)."""
    from artv_cli.engine.data.video import VideoWriter
    from artv_cli.engine.sampling.loop import SampleSettings, render
    from artv_cli.engine.sampling.settings import resolve

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
    values, _ = resolve({"steps": config.validation_steps}, model.config)  # the model's recommendations
    settings = SampleSettings(
        frames=config.validation_frames, width=spec.width, height=spec.height, seed=config.seed, **values
    )
    unwrapped = accelerator.unwrap_model(parts)
    written = []
    unwrapped.eval()
    try:
        with export_weights(ema, unwrapped, config):
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
