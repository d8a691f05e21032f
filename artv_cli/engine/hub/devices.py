"""Resolving `--device` and `--dtype` once, before any model work (nothing touches CUDA at import)."""

from __future__ import annotations

import torch

from artv_cli.errors import ArtvError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ArtvError(f"--device {name}: no CUDA device is visible", "use --device cpu (or auto)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ArtvError("--device mps: Apple MPS is not available here", "use --device cpu (or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ArtvError(f"--device {name} is not a device", "use auto, cpu, cuda, cuda:N or mps") from None


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto` is fp32 on the CPU, bf16 on GPUs that support it, else fp16."""
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "mps":
            return torch.float16
        return torch.float32
    if name == "fp16" and device.type == "cpu":
        raise ArtvError("--dtype fp16 is not supported on the CPU", "use --dtype fp32 (or bf16)")
    return DTYPES[name]
