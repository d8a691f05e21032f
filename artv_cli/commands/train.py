"""`artv train`: train ART-V on a dataset folder with accelerate (one CPU to many GPUs)."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from artv_cli.console import PlainProgress, command_line, err, interrupted_status, raise_if_terminated


class Precision(str, Enum):
    no = "no"
    fp16 = "fp16"
    bf16 = "bf16"


class ExportWeights(str, Enum):
    ema = "ema"
    raw = "raw"


class Stage(str, Enum):
    artv = "artv"
    base = "base"
    vae = "vae"
    text = "text"


class LrSchedule(str, Enum):
    constant = "constant"
    cosine = "cosine"


class VaeLoss(str, Enum):
    mse = "mse"
    foreground = "foreground"


class VaeDesign(str, Enum):
    kl = "kl"
    tiny = "tiny"


class Ablation(str, Enum):
    mask = "mask"
    anchor = "anchor"
    noise_aug = "noise-aug"


def train(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="Dataset folder (WebVid layout, or videos with captions).")],
    model: Annotated[
        str,
        typer.Option(
            help="Start from: a Stable Diffusion folder, an ART-V folder, default (the embedded model), "
            "tiny-random, sd21-random."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: checkpoints, metrics, clips, model/.")
    ],
    size: Annotated[
        str | None, typer.Option(help="Training size WIDTHxHEIGHT or N. (default: model's, at most 320)")
    ] = None,
    stride: Annotated[int, typer.Option(help="Take every n-th frame of a video.")] = 1,
    fps: Annotated[float | None, typer.Option(help="Resample videos to this frame rate first.")] = None,
    steps: Annotated[
        int, typer.Option(help="Optimiser steps in all (a resumed run stops there too).")
    ] = 1000,
    batch_size: Annotated[int, typer.Option(help="Samples per process per micro-batch.")] = 4,
    grad_accum: Annotated[int, typer.Option(help="Micro-batches per optimiser step.")] = 1,
    lr: Annotated[float, typer.Option(help="AdamW learning rate, constant (paper: 1e-5).")] = 1e-5,
    warmup_steps: Annotated[int, typer.Option(help="Linear warm-up steps of the learning rate.")] = 0,
    lr_schedule: Annotated[
        LrSchedule, typer.Option(help="After the warm-up: constant (the paper), or cosine decay to 0.")
    ] = LrSchedule.constant,
    vae_loss: Annotated[
        VaeLoss,
        typer.Option(
            help="--stage vae: mse, or foreground (pixels of objects weigh 10x; small shapes keep corners)."
        ),
    ] = VaeLoss.mse,
    vae_colours: Annotated[
        float,
        typer.Option(
            help="--stage vae: recolour half of each batch this far (0-1; 1: any colour): colours it lacks."
        ),
    ] = 0.0,
    keep_latents: Annotated[
        float,
        typer.Option(help="--stage vae: weight keeping the starting VAE's latents of the data; 0 = off."),
    ] = 0.0,
    decoder_noise: Annotated[
        float,
        typer.Option(
            help="--stage vae: fit only the decoder, on latents noised up to this many standard deviations."
        ),
    ] = 0.0,
    new_vae: Annotated[
        VaeDesign | None,
        typer.Option(
            help="--stage vae: fit a fresh autoencoder of this design, not the model's own (tiny: no "
            "normalisation, keeps drawn colours; kl: Stable Diffusion's). Latents keep their shape."
        ),
    ] = None,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 1e-2,
    max_grad_norm: Annotated[float, typer.Option(help="Clip the gradient norm to this; 0 = off.")] = 1.0,
    ema_decay: Annotated[float, typer.Option(help="EMA decay (paper: 0.9999); 0 = no EMA.")] = 0.9999,
    mixed_precision: Annotated[
        Precision, typer.Option(help="Autocast precision; weights stay fp32.")
    ] = Precision.no,
    gradient_checkpointing: Annotated[bool, typer.Option(help="Less memory, slower backward.")] = False,
    cache: Annotated[
        bool, typer.Option(help="Encode frames with the frozen VAE once; train on latents.")
    ] = False,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Latent cache folder. (default: RUN/latents)")
    ] = None,
    workers: Annotated[int, typer.Option(help="Data-loader worker processes.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of every random draw.")] = 0,
    checkpoint_every: Annotated[
        int, typer.Option(help="Checkpoint every n steps (also at the end, on Ctrl-C).")
    ] = 500,
    keep_checkpoints: Annotated[int, typer.Option(help="Keep the last k checkpoints.")] = 3,
    time_limit: Annotated[
        float | None,
        typer.Option(help="Stop after this many minutes of steps, checkpoint and export (resumable)."),
    ] = None,
    resume: Annotated[str | None, typer.Option(help="Continue from `latest` or a checkpoint folder.")] = None,
    log_every: Annotated[int, typer.Option(help="Append to RUN/metrics.jsonl every n steps.")] = 10,
    validate_every: Annotated[int, typer.Option(help="Validation clips every n steps; 0 = at the end.")] = 0,
    validation_videos: Annotated[int, typer.Option(help="Animate frame 0 of this many dataset videos.")] = 2,
    validation_prompt: Annotated[
        list[str] | None, typer.Option(help="Also render this prompt from text only (repeatable).")
    ] = None,
    validation_frames: Annotated[int, typer.Option(help="Frames per validation clip.")] = 8,
    validation_steps: Annotated[int, typer.Option(help="Denoising steps of validation clips.")] = 10,
    tensorboard: Annotated[bool, typer.Option(help="Also log to TensorBoard in the run folder.")] = False,
    export: Annotated[ExportWeights, typer.Option(help="Weights of the exported model.")] = ExportWeights.ema,
    cpu: Annotated[bool, typer.Option(help="Train on the CPU even where a GPU is present.")] = False,
    stage: Annotated[
        Stage,
        typer.Option(
            help="artv: the ART-V networks; base: Phi_dynamic (and the text encoder) as a text-to-image "
            "model on single frames; vae: fit the VAE of a from-scratch model; text: pretrain its text "
            "encoder on a synthetic world's captions (later stages keep it frozen). A new domain: vae, text, "
            "base, artv."
        ),
    ] = Stage.artv,
    first_step_share: Annotated[
        float, typer.Option(help="Share of samples whose target is frame 1 (both references frame 0).")
    ] = 0.0,
    motion_weight: Annotated[
        float,
        typer.Option(
            help="Extra loss weight where the frame changes: 1 + W * |z^i - z^{i-1}| per latent pixel "
            "(0: the paper's plain loss)."
        ),
    ] = 0.0,
    object_weight: Annotated[
        float, typer.Option(help="Extra loss weight on the subject: + W * |z^i - median(z^i)| per pixel.")
    ] = 0.0,
    snr_gamma: Annotated[
        float, typer.Option(help="Min-SNR-gamma loss weighting: min(SNR, gamma) / SNR per sample (0: none).")
    ] = 0.0,
    concat_refs: Annotated[
        bool,
        typer.Option(
            help="Feed the references to Phi_dynamic's input too (widened at zero). Not in the paper."
        ),
    ] = False,
    train_text_encoder: Annotated[
        bool, typer.Option(help="Train the text encoder too (models built from scratch).")
    ] = False,
    lora: Annotated[
        int,
        typer.Option(
            help="Train a LoRA adapter of this rank (through peft) instead of the whole model; the run "
            "exports RUN/adapter, used with --lora RUN/adapter on every render command. 0: the whole model."
        ),
    ] = 0,
    lora_alpha: Annotated[
        float | None,
        typer.Option(help="LoRA alpha: the adapter's output is scaled by alpha / rank. (default: the rank)"),
    ] = None,
    lora_parts: Annotated[
        str,
        typer.Option(
            help="What the adapter adapts, comma-separated: unet (Phi_dynamic), mask_unet (Phi_mask), cond, "
            "mask_cond (the condition encoders), text_encoder."
        ),
    ] = "unet",
    lora_targets: Annotated[
        str | None,
        typer.Option(
            help="Layer names to adapt, comma-separated, matched at the end of a layer's name (peft's "
            "target_modules). (default: attention, transformer projections and ResNet convolutions)"
        ),
    ] = None,
    trigger: Annotated[
        list[str] | None,
        typer.Option(help="A word that calls up what the adapter learned (recorded with it); repeatable."),
    ] = None,
    prior_weight: Annotated[
        float,
        typer.Option(
            help="LoRA: on clips whose caption has no --trigger word, also pull the adapter's prediction "
            "towards the base model's own by this weight, so it keeps what the model drew before. 0: off."
        ),
    ] = 0.0,
    ablate: Annotated[
        list[Ablation] | None,
        typer.Option(help="Switch a part of the method off (Fig. 8 ablations; repeatable)."),
    ] = None,
    drop_text: Annotated[float | None, typer.Option(help="Text dropout. (default: model's, 0.1)")] = None,
    drop_ref: Annotated[float | None, typer.Option(help="Reference dropout. (default: model's, 0.1)")] = None,
    drop_anchor: Annotated[float | None, typer.Option(help="Anchor dropout. (default: model's, 0.1)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the run's summary as JSON.")] = False,
) -> None:
    """Train ART-V: Phi_dynamic from the base, Phi_mask and the adapters fresh, VAE and text frozen.

    The same command runs on one CPU and, under `accelerate launch`, on many GPUs (docs/training.md).

    Examples:

      artv data synth synth-data --videos 64

      artv train --data synth-data --model tiny-random --out runs/tiny --steps 200 --lr 1e-3

      artv train --data synth-data --model tiny-random --out runs/tiny --steps 400 --lr 1e-3 --resume latest

      artv animate examples/red-ball.png "a red circle moves right slowly" --model runs/tiny/model

      artv train --data synth-data --model tiny-random --out runs/no-mask --steps 200 --lr 1e-3 --ablate mask

      artv train --data synth-data --model tiny-random --out runs/base --steps 200 --lr 1e-3 --stage base

      artv train --data synth-data --model default --out runs/my-lora --lora 8 --steps 300 --lr 1e-3

      artv animate examples/red-ball.png "a red circle moves right slowly" --lora runs/my-lora/adapter
    """
    from artv_cli.engine.sampling.request import parse_size
    from artv_cli.engine.training.trainer import TrainConfig

    width = height = None
    if size is not None:
        width, height = parse_size(size)
    config = TrainConfig(
        data=data,
        model=model,
        out=out,
        width=width,
        height=height,
        stride=stride,
        fps=fps,
        steps=steps,
        batch_size=batch_size,
        grad_accum=grad_accum,
        lr=lr,
        warmup_steps=warmup_steps,
        lr_schedule=lr_schedule.value,
        vae_loss=vae_loss.value,
        vae_colours=vae_colours,
        keep_latents=keep_latents,
        decoder_noise=decoder_noise,
        new_vae=new_vae.value if new_vae else None,
        weight_decay=weight_decay,
        max_grad_norm=max_grad_norm,
        ema_decay=ema_decay,
        mixed_precision=mixed_precision.value,
        gradient_checkpointing=gradient_checkpointing,
        cache=cache,
        cache_dir=cache_dir,
        workers=workers,
        seed=seed,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints,
        time_limit=time_limit,
        resume=resume,
        log_every=log_every,
        validate_every=validate_every,
        validation_videos=validation_videos,
        validation_prompts=list(validation_prompt or []),
        validation_frames=validation_frames,
        validation_steps=validation_steps,
        tensorboard=tensorboard,
        export=export.value,
        cpu=cpu,
        stage=stage.value,
        first_step_share=first_step_share,
        motion_weight=motion_weight,
        object_weight=object_weight,
        snr_gamma=snr_gamma,
        concat_refs=concat_refs,
        train_text_encoder=train_text_encoder,
        ablate=[a.value for a in ablate or []],
        drop_text=drop_text,
        drop_ref=drop_ref,
        drop_anchor=drop_anchor,
        lora=lora,
        lora_alpha=lora_alpha,
        lora_parts=[p.strip() for p in lora_parts.split(",") if p.strip()],
        lora_targets=[t.strip() for t in (lora_targets or "").split(",") if t.strip()],
        trigger_words=list(trigger or []),
        prior_weight=prior_weight,
    )
    run_training(config, json_out, resume_hint=command_line(ctx, add=("--resume", "latest")))


def run_training(config, json_out: bool, resume_hint: str) -> None:
    from rich import progress as bars

    from artv_cli.engine.training.trainer import train as train_model

    progress = bars.Progress(
        bars.TextColumn("[progress.description]{task.description}"),
        bars.BarColumn(bar_width=12),
        bars.MofNCompleteColumn(),
        bars.TextColumn("{task.fields[stats]}"),
        bars.TimeElapsedColumn(),
        bars.TextColumn("eta"),
        bars.TimeRemainingColumn(),
        console=err,
    )
    tasks: dict[str, int] = {}
    state = {"interrupted": None}
    plain = None if err.is_terminal else PlainProgress()  # a log file gets lines; a terminal, the bar

    def on_event(kind: str, info: dict) -> None:
        if kind == "step":  # not on the "interrupted" event itself: that one records the checkpoint
            raise_if_terminated()
        if kind in ("data", "model", "notice"):
            progress.console.print(info["text"], soft_wrap=True)
        elif kind == "cache":
            if "cache" not in tasks:
                tasks["cache"] = progress.add_task("latent cache", total=info["total"], stats="videos")
            progress.update(tasks["cache"], completed=info["done"])
            if plain:
                plain.update("latent cache", info["done"], info["total"], "videos")
        elif kind == "start":
            tasks["train"] = progress.add_task(
                "train", total=info["total"], completed=info["step"], stats="steps"
            )
        elif kind == "step":
            stats = (
                f"loss {info['loss']:.4f}  {info['steps_per_s']:.2f} steps/s  "
                f"{info['samples_per_s']:.1f} samples/s"
            )
            progress.update(tasks["train"], completed=info["step"], stats=stats)
            if plain:
                plain.update("train", info["step"], info["total"], stats)
        elif kind == "checkpoint":
            progress.console.print(f"checkpoint {info['path']}")
        elif kind == "validation":
            progress.console.print(
                f"validation clips: {Path(info['paths'][0]).parent}" if info["paths"] else ""
            )
        elif kind == "exported":
            what = "adapter" if config.lora else "model"
            progress.console.print(f"{what} exported to {info['path']}")
        elif kind == "interrupted":
            state["interrupted"] = info

    try:
        with progress:
            result = train_model(config, on_event)
    except KeyboardInterrupt as interruption:
        info = state["interrupted"] or {}
        if info.get("checkpoint"):
            err.print(
                f"interrupted at step {info['step']}: checkpoint {info['checkpoint']}; "
                f"continue with: {resume_hint}",
                soft_wrap=True,
            )
        else:
            err.print("interrupted before the first step: nothing to keep", soft_wrap=True)
        raise typer.Exit(interrupted_status(interruption)) from None

    from accelerate import PartialState

    if not PartialState().is_main_process:
        return
    if result.first_loss is not None:
        err.print(
            f"{result.steps} steps, {result.samples} samples in {result.seconds:.1f} s; "
            f"loss {result.first_loss:.4f} -> {result.last_loss:.4f}"
            + (f"; skipped {result.skipped}" if result.skipped else "")
        )
    if json_out:
        print(json.dumps(asdict(result), default=str))
    else:
        print(result.model)
