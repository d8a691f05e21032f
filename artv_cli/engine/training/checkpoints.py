"""Checkpoints (accelerate's full state, written atomically), metric trimming on resume, and the export."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from artv_cli.engine.model.artv import ARTVModel
from artv_cli.engine.training.common import CHECKPOINT, TrainConfig, versions, write_json


def checksum(parts: torch.nn.Module) -> float:
    return float(sum(p.detach().double().sum().item() for p in parts.parameters()))


def trim_metrics(path: Path, step: int) -> None:
    """On resume, drop metric lines of steps after the checkpoint (they are trained again)."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in lines))


def save_checkpoint(accelerator, config: TrainConfig, step: int, skipped: dict, keep: int) -> Path:
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
        write_json(partial / "trainer.json", {"step": step, "skipped": skipped, "seed": config.seed})
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(partial, folder)
        found = sorted(p for p in folder.parent.glob("step-*") if CHECKPOINT.fullmatch(p.name))
        for old in found[: max(0, len(found) - keep)]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return folder


def export_weights(ema, parts, config: TrainConfig):
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


def export(model: ARTVModel, parts, accelerator, ema, config: TrainConfig, step: int) -> Path:
    unwrapped = accelerator.unwrap_model(parts)
    model.config.extra["training"] = {
        "run": str(config.out),
        "data": str(config.data),
        "base": config.model,
        "steps": step,
        "weights": "raw" if ema is None else config.export,
        "seed": config.seed,
        "versions": versions(),
    }
    if config.lora:  # the adapter alone, in peft's layout, with what it was trained on
        from artv_cli.engine.model.lora import save_adapter

        meta = {
            "base_name": config.model,
            "data": str(config.data),
            "steps": step,
            "weights": "raw" if ema is None else config.export,
            "trigger_words": list(config.trigger_words),
            "seed": config.seed,
            "versions": versions(),
        }
        with export_weights(ema, unwrapped, config):
            return save_adapter(model, config.out / "adapter", meta)
    with export_weights(ema, unwrapped, config):
        model.name = str(config.out / "model")
        return model.save(config.out / "model")
