"""Which model a `--model` value names, what it can render, and loading it on a device."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from artv_cli.engine.model.config import CONFIG_NAME, PRESETS
from artv_cli.errors import ArtvError

# Command-line names of seeded random models: `tiny` for tests and demos, `sd21` for benchmarks.
RANDOM_MODELS = {"tiny-random": "tiny", "sd21-random": "sd21", "world64-random": "world64"}
EMBEDDED_MODELS = {"default": "world64"}
"""Trained models that ship inside the package (artv_cli/models/<folder>): no download, ever."""
DEFAULT_MODEL = "default"
"""Used when `--model` is not given: the embedded model of the synthetic world (docs/default-model.md)."""


def embedded_folder(name: str) -> Path:
    """Where an embedded model lives inside the installed package."""
    return Path(__file__).resolve().parents[2] / "models" / EMBEDDED_MODELS[name]


@dataclass(frozen=True)
class ModelRef:
    """A resolved `--model` value: a random preset or a model folder, plus what it can render."""

    name: str
    preset: str | None
    folder: Path | None
    native_size: int
    size_multiple: int


WEIGHTS = {
    "unet": "diffusion_pytorch_model.safetensors",
    "mask_unet": "diffusion_pytorch_model.safetensors",
    "cond": "diffusion_pytorch_model.safetensors",
    "mask_cond": "diffusion_pytorch_model.safetensors",
    "vae": "diffusion_pytorch_model.safetensors",
    "text_encoder": "model.safetensors",
}
"""The weights files of an ART-V model folder."""


def check_weights(folder: Path) -> None:
    """Every weights file is there and whole (its safetensors header read, the data it promises present);
    no torch, so a damaged folder is named before anything loads."""
    import struct

    for part, name in WEIGHTS.items():
        path = folder / part / name
        if not path.is_file():
            raise ArtvError(
                f"model folder {folder} has no {part}/{name}",
                "copy the whole model folder again, or re-export it (`artv train` writes RUN/model)",
            )
        size = path.stat().st_size
        try:
            with open(path, "rb") as handle:
                (length,) = struct.unpack("<Q", handle.read(8))
                if length > size:
                    raise ValueError("header longer than the file")
                header = json.loads(handle.read(length))
            end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
            whole = size >= 8 + length + end
        except (OSError, ValueError, KeyError, TypeError, struct.error):
            whole = False
        if not whole:
            raise ArtvError(
                f"{path} is damaged (cut short, or not a safetensors file)",
                "copy or download the model again; a copy that stopped halfway leaves such a file",
            )


def resolve_model(spec: str) -> ModelRef:
    """Turn a `--model` value into a ModelRef without loading any weights."""
    if spec in RANDOM_MODELS:
        preset = PRESETS[RANDOM_MODELS[spec]]
        levels = len(preset.unet_block_out_channels)
        vae_factor = 2 ** (len(preset.vae_block_out_channels) - 1)
        return ModelRef(spec, preset.name, None, preset.native_size, vae_factor * 2 ** (levels - 1))
    folder = Path(spec).expanduser()
    if spec in EMBEDDED_MODELS and not folder.exists():
        folder = embedded_folder(spec)
        if not (folder / CONFIG_NAME).is_file():
            raise ArtvError(
                f"the embedded model '{spec}' is missing from this install ({folder})",
                "reinstall artv (`pip install --force-reinstall artv`), or give --model FOLDER",
            )
        ref = resolve_model(str(folder))
        return ModelRef(spec, None, ref.folder, ref.native_size, ref.size_multiple)
    if folder.is_dir():
        if not (folder / CONFIG_NAME).is_file():
            raise ArtvError(
                f"{folder} is not an ART-V model folder (no {CONFIG_NAME})",
                "give a folder written by `artv train`, or a model name such as tiny-random",
            )
        try:
            native = json.loads((folder / CONFIG_NAME).read_text())["native_size"]
            unet = json.loads((folder / "unet" / "config.json").read_text())
            vae = json.loads((folder / "vae" / "config.json").read_text())
        except (OSError, KeyError, ValueError) as err:
            raise ArtvError(
                f"model folder {folder} is damaged ({err})", "re-export or re-download it"
            ) from None
        check_weights(folder)
        multiple = 2 ** (len(vae["block_out_channels"]) - 1) * 2 ** (len(unet["block_out_channels"]) - 1)
        return ModelRef(str(folder), None, folder, native, multiple)
    names = ", ".join([*EMBEDDED_MODELS, *RANDOM_MODELS])
    from artv_cli.engine.hub.downloads import registry

    if spec in registry():
        raise ArtvError(
            f"{spec} is a base image model, not an ART-V model",
            f"build one with `artv init --base {spec} OUT`, train it with `artv train --model OUT`, "
            "then render with --model RUN/model",
        )
    if folder.exists() or "/" in spec or spec.startswith("."):
        raise ArtvError(f"model folder {spec} does not exist", f"give an existing folder, or one of: {names}")
    raise ArtvError(f"unknown model '{spec}'", f"give a model folder path, or one of: {names}")


def load_model(ref: ModelRef, device, dtype, compile: bool = False):
    """Build or read the model and move it to the device, in eval mode.

    The UNets use the channels-last memory layout (faster convolutions on tensor cores and oneDNN);
    `compile` wraps both UNets in torch.compile (the first frame then pays the compile time).
    """
    import torch  # here, not at the top: `artv models` and bad-input errors must not load it

    from artv_cli.engine.model.artv import ARTVModel

    quiet_libraries()
    model = ARTVModel.random(ref.preset, seed=0) if ref.preset else ARTVModel.load(ref.folder)
    model.name = ref.name
    model.to(device, dtype).eval()
    for unet in (model.unet, model.mask_unet):  # measured: about 6 % faster on CPU too (docs/performance.md)
        unet.to(memory_format=torch.channels_last)
    if compile:
        model.unet = torch.compile(model.unet)
        model.mask_unet = torch.compile(model.mask_unet)
    return model


def quiet_libraries() -> None:
    """Silence the libraries' own progress bars and notices: they would mix into ours."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def merge_into_folder(model_spec: str, values: list[str], out: Path, force: bool = False) -> Path:
    """`artv lora merge`: the model with the adapters baked in at their scales, saved as a new model folder
    (fp32, on the CPU); the folder's artv_config.json records the adapters."""
    import torch

    from artv_cli.engine.model.lora import merge, read_adapter, use_adapters

    if out.exists() and not force:
        raise ArtvError(f"--out {out} exists", "give a new folder, or add --force to replace it")
    records = [read_adapter(value) for value in values]  # every file checked before the model loads
    model = load_model(resolve_model(model_spec), torch.device("cpu"), torch.float32)
    use_adapters(model, values)
    merge(model)
    model.config.extra["merged_adapters"] = [
        {key: r[key] for key in ("path", "sha256", "scale", "base", "trigger_words")} for r in records
    ]
    for unet in (model.unet, model.mask_unet):  # saved in the ordinary layout
        unet.to(memory_format=torch.contiguous_format)
    return model.save(out)
