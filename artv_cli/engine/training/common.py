"""What a training run is, shared by every stage: its settings, its result, where it starts, its folder.

The ART-V and base stages (`trainer`), the VAE stage (`autoencoder`) and the text stage (`text_encoder`)
import from here, never from each other's modules, so the stages stay one-way.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from artv_cli.engine.model.artv import ARTVModel
from artv_cli.engine.model.autoencoder import DESIGNS
from artv_cli.errors import ArtvError
from artv_cli.versions import versions  # noqa: F401 (imported from here by the trainer)

LORA_PARTS = ("unet", "mask_unet", "cond", "mask_cond", "text_encoder")
"""What a LoRA adapter may adapt (engine/model/lora.py)."""

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
    lr_schedule: str = "constant"
    """After the warm-up: constant (the paper) or cosine (decays to 0 at the last step: short runs of
    models built from scratch end on finer weights)."""
    vae_loss: str = "mse"
    """--stage vae: mse over every pixel, or foreground (pixels away from the frame's border colour weigh
    10x, L1 + L2: small objects keep their corners)."""
    vae_colours: float = 0.0
    """--stage vae: how far half of each batch is recoloured at random (0-1; per frame and channel a gain,
    an offset, sometimes an inversion), so the VAE learns colours the dataset shows too rarely or never."""
    keep_latents: float = 0.0
    """--stage vae: weight of a term that keeps the starting VAE's latents of the dataset's own frames (and
    its scaling factor), so the networks trained on them still fit; 0 = refit freely."""
    decoder_noise: float = 0.0
    """--stage vae: fit the decoder alone, on the frozen encoder's latents plus Gaussian noise of up to this
    many latent standard deviations (drawn per frame in [0, value]), so an error the denoiser leaves in its
    latents shows less in the frame; the latents and scaling factor stay, so every network trained on them
    still fits. 0 = off (the whole autoencoder learns)."""
    new_vae: str | None = None
    """--stage vae: replace the model's autoencoder by a fresh one of this design (kl or tiny,
    engine/model/autoencoder.py) with the same latent shape, and fit that; None = refit the model's own."""
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
    time_limit: float | None = None
    """Stop after this many minutes of steps, then checkpoint and export as at the end (resumable)."""
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
    single frames, the strong image model ART-V starts from (METHOD.md), before `artv`; `text` pretrains
    the text encoder of a model built from scratch on its synthetic world's captions, before `base`
    (engine/training/text_encoder.py), which then keeps it frozen."""
    first_step_share: float = 0.0
    """Share of samples whose target is frame 1, where both references are frame 0 and only the text
    says how to move (the first step of every `animate`); 0 draws targets uniformly."""
    motion_weight: float = 0.0
    """Extra loss weight where the frame changes: each latent pixel's squared error is weighted by
    1 + motion_weight * |z^i - z^{i-1}| (the channel mean of the clean latents' change, unit-scale latents),
    normalised so the loss keeps its scale. The moving object is a few percent of a frame; this makes its
    motion count. 0 is the plain loss of Eq. 4; the base stage ignores it."""
    object_weight: float = 0.0
    """Extra loss weight on what stands out of its frame: each latent pixel's squared error is also weighted
    by object_weight * |z^i - median(z^i)| (the channel mean of its distance from the frame's median latent
    pixel), so the subject's own look counts where a plain backdrop is most of the frame. 0 is Eq. 4."""
    snr_gamma: float = 0.0
    """Min-SNR-gamma loss weighting (Hang et al., 2023; diffusers' compute_snr): each sample's loss is
    weighted by min(SNR(t), gamma) / SNR(t), so the nearly clean steps count less and the noisy ones, where a
    frame's layout, colours and motion are decided, count relatively more. 0 is the plain loss of Eq. 4."""
    concat_refs: bool = False
    """Also feed the two references to Phi_dynamic concatenated to its noisy input (its first convolution
    widened at zero, as image-to-video models take their conditioning frame), beside the T2I-Adapter;
    a model that has it keeps it."""
    lora: int = 0
    """Train a LoRA adapter of this rank through peft instead of the whole model (0: the whole model);
    the export is RUN/adapter, the base weights stay as they are."""
    lora_alpha: float | None = None
    """LoRA's alpha (the adapter's output is scaled by alpha / rank); None: the rank."""
    lora_parts: list[str] = field(default_factory=lambda: ["unet"])
    """What the adapter adapts: unet (Phi_dynamic), mask_unet (Phi_mask), cond, mask_cond, text_encoder."""
    lora_targets: list[str] = field(default_factory=list)
    """Layer names to adapt (peft's target_modules, matched at the end of a layer's name); none: the
    defaults of engine/model/lora.py (attention, transformer projections, ResNet convolutions)."""
    trigger_words: list[str] = field(default_factory=list)
    """Words that call up what the adapter learned, recorded in its artv_adapter.json."""
    prior_weight: float = 0.0
    """LoRA only: on samples whose caption has none of the trigger words, add this weight times the squared
    distance between the adapter's prediction and the base model's own (the adapter switched off): the
    adapter learns its words without changing what the model drew before (0: off)."""

    def check(self) -> None:
        """Refuse values no run can use, naming the flag and a fix; `train` calls it first, so a library
        caller gets every check the command line does."""
        for name, least in (
            ("steps", 1), ("batch_size", 1), ("grad_accum", 1), ("stride", 1), ("checkpoint_every", 1),
            ("keep_checkpoints", 1), ("log_every", 1), ("workers", 0), ("validate_every", 0),
        ):  # fmt: skip
            value, flag = getattr(self, name), "--" + name.replace("_", "-")
            if value < least:
                raise ArtvError(
                    f"{flag} must be at least {least} (got {value})", f"use {flag} {max(least, 1)} or more"
                )
        choices = {
            "stage": ("artv", "base", "vae", "text"),
            "lr_schedule": ("constant", "cosine"),
            "vae_loss": ("mse", "foreground"),
            "mixed_precision": ("no", "fp16", "bf16"),
            "export": ("ema", "raw"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                flag = "--" + name.replace("_", "-")
                raise ArtvError(
                    f"{flag} {getattr(self, name)} is unknown", f"use {flag} {' or '.join(allowed)}"
                )
        problems = (
            (self.lr <= 0, f"--lr must be positive (got {self.lr:g})",
             "use --lr 1e-5 (the paper's), or 1e-3 for tiny models"),
            (not 0 <= self.ema_decay < 1, f"--ema-decay must be in [0, 1) (got {self.ema_decay:g})",
             "use --ema-decay 0.9999, or 0 for none"),
            (self.time_limit is not None and self.time_limit <= 0,
             f"--time-limit must be positive (got {self.time_limit})", "use --time-limit 30 (minutes)"),
            (self.fps is not None and self.fps <= 0, f"--fps must be positive (got {self.fps})",
             "use --fps 8, or leave it out"),
            (not 0 <= self.first_step_share <= 1,
             f"--first-step-share must be in [0, 1] (got {self.first_step_share:g})",
             "use --first-step-share 0.3"),
            (self.motion_weight < 0, f"--motion-weight must be 0 or more (got {self.motion_weight:g})",
             "use --motion-weight 4"),
            (self.object_weight < 0, f"--object-weight must be 0 or more (got {self.object_weight:g})",
             "use --object-weight 8"),
            (self.snr_gamma < 0, f"--snr-gamma must be 0 or more (got {self.snr_gamma:g})",
             "use --snr-gamma 5"),
            (self.lora < 0, f"--lora must be 0 (off) or a rank of 1 or more (got {self.lora})",
             "use --lora 8"),
            (self.lora > 0 and self.stage != "artv", f"--lora trains an adapter of an ART-V model, not the "
             f"{self.stage} stage", "leave out --lora, or use --stage artv"),
            (self.concat_refs and (self.stage != "artv" or self.lora > 0),
             "--concat-refs changes the ART-V networks: it needs the artv stage without --lora",
             "leave out --concat-refs, or use --stage artv without --lora"),
            (self.lora > 0 and self.train_text_encoder, "--lora and --train-text-encoder: the text encoder "
             "would be trained whole beside the adapter", "use --lora-parts unet,text_encoder instead"),
            (not 0 <= self.vae_colours <= 1, f"--vae-colours must be in [0, 1] (got {self.vae_colours:g})",
             "use --vae-colours 0.3"),
            (not self.keep_latents >= 0, f"--keep-latents must be 0 or more (got {self.keep_latents:g})",
             "use --keep-latents 1"),
            ((self.vae_colours > 0 or self.keep_latents > 0 or self.new_vae) and self.stage != "vae",
             f"--vae-colours, --keep-latents and --new-vae fit the VAE, not the {self.stage} stage",
             "add --stage vae, or leave them out"),
            (self.new_vae not in (None, *DESIGNS), f"--new-vae {self.new_vae} is unknown",
             "use --new-vae " + " or --new-vae ".join(DESIGNS)),
            (not 0 <= self.decoder_noise <= 1,
             f"--decoder-noise must be in [0, 1] (got {self.decoder_noise:g})", "use --decoder-noise 0.2"),
            (self.decoder_noise > 0 and self.stage != "vae",
             f"--decoder-noise fits the VAE's decoder, not the {self.stage} stage",
             "add --stage vae, or leave it out"),
            (self.decoder_noise > 0 and (bool(self.new_vae) or self.keep_latents > 0),
             "--decoder-noise keeps the model's trained encoder as it is: a --new-vae has none, and "
             "--keep-latents has nothing left to keep", "leave out --new-vae and --keep-latents"),
            (bool(self.new_vae) and self.keep_latents > 0, "--keep-latents keeps the model's own VAE's "
             "latents, and --new-vae replaces that VAE", "leave out one of them"),
            (not self.prior_weight >= 0, f"--prior-weight must be 0 or more (got {self.prior_weight:g})",
             "use --prior-weight 1"),
            (self.prior_weight > 0 and not (self.lora > 0 and self.trigger_words), "--prior-weight keeps the "
             "base's drawing on captions without the adapter's words: it needs --lora and --trigger",
             "add --lora 8 --trigger WORD, or leave out --prior-weight"),
            (self.lora_alpha is not None and self.lora_alpha <= 0,
             f"--lora-alpha must be positive (got {self.lora_alpha})", "use --lora-alpha 8 (the rank)"),
            (bool(set(self.lora_parts) - set(LORA_PARTS)),
             f"--lora-parts {', '.join(sorted(set(self.lora_parts) - set(LORA_PARTS)))} is unknown",
             f"use some of: {','.join(LORA_PARTS)}"),
        )  # fmt: skip
        for bad, message, fix in problems:
            if bad:
                raise ArtvError(message, fix)


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


def load_base(spec: str, seed: int) -> ARTVModel:
    """The start: a built-in random preset, an ART-V folder (continue), or an SD folder (fresh ART-V)."""
    from artv_cli.engine.hub.registry import EMBEDDED_MODELS, RANDOM_MODELS, embedded_folder
    from artv_cli.engine.model.config import CONFIG_NAME

    if spec in RANDOM_MODELS:
        return ARTVModel.random(RANDOM_MODELS[spec], seed=seed)
    folder = Path(spec).expanduser()
    if spec in EMBEDDED_MODELS and not folder.exists():  # the default model, inside the package
        folder = embedded_folder(spec)
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
        "give a diffusers Stable Diffusion folder, an ART-V model folder, default, or tiny-random / "
        "sd21-random",
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
    if config.concat_refs:
        model.add_reference_input()
    if "mask" in config.ablate:
        method.use_mask = False
    if "anchor" in config.ablate:
        method.use_anchor = False
    if "noise-aug" in config.ablate:  # no augmentation in training, so none at inference either
        method.t_max = method.t_test = 0
    if config.ablate:
        method.extra["ablated"] = sorted(set(config.ablate) | set(method.extra.get("ablated", [])))


def record_training_words(model: ARTVModel, captions: list[str]) -> None:
    """Keep the words of the training captions with a text encoder trained from scratch, so that a render
    can name the prompt's words the model never saw (a model built on a pretrained text encoder knows
    more than its ART-V captions, so it records none)."""
    from artv_cli.engine.model.config import PRESETS

    if model.config.preset not in PRESETS:
        return
    words = {w for caption in captions for w in re.findall(r"[a-z]+", caption.lower())}
    model.config.extra["training_words"] = sorted(words | set(model.config.extra.get("training_words", [])))


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


def draws(config: TrainConfig, step: int, micro: int, rank: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, step, micro, rank])


class NonFiniteLoss(Exception):
    def __init__(self, value: float):
        super().__init__(str(value))
        self.value = value


def write_json(path: Path, data: dict) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(partial, path)


def make_schedule(config, optimizer):
    """The learning-rate schedule: linear warm-up, then constant or cosine to 0 (diffusers' schedulers)."""
    from diffusers.optimization import get_scheduler

    if config.lr_schedule == "cosine":
        return get_scheduler("cosine", optimizer, num_warmup_steps=config.warmup_steps,
                             num_training_steps=config.steps)  # fmt: skip
    name = "constant_with_warmup" if config.warmup_steps else "constant"
    return get_scheduler(name, optimizer, num_warmup_steps=config.warmup_steps)
