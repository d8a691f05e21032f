"""What the short one-process stages (`vae`, `text`) share, around their own step.

They are minutes long, so they keep no checkpoints and cannot resume; they export RUN/model.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import numpy as np

from artv_cli.engine.model.artv import ARTVModel
from artv_cli.engine.training.common import OnEvent, TrainConfig, TrainResult, check_run_folder, write_json
from artv_cli.errors import ArtvError


class ShortStage:
    """What the short one-process stages (`vae`, `text`) share: the checks before any model, the
    accelerator, each step's progress, metrics and time limit, and the summary. They are minutes long, so
    they keep no checkpoints and cannot resume; they export RUN/model."""

    def __init__(self, config: TrainConfig, on_event: OnEvent | None, what: str):
        from artv_cli.engine.hub.registry import quiet_libraries

        quiet_libraries()
        if config.resume:
            raise ArtvError(
                f"--stage {config.stage} cannot resume (it is short: minutes)",
                "run it again without --resume",
            )
        check_run_folder(config)
        if (config.out / "model").exists():
            raise ArtvError(f"{config.out} holds an exported model already", "give a new --out")
        self.config, self.on_event, self.what = config, on_event, what
        self.first_loss: float | None = None
        self.last_loss: float | None = None
        self.done, self.window, self.started = 0, [], time.perf_counter()

    def emit(self, kind: str, **info) -> None:
        if self.on_event is not None:
            self.on_event(kind, info)

    def accelerator(self):
        """One process (each would export its own model), the run's seed set."""
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState
        from accelerate.utils import set_seed

        AcceleratorState._reset_state(reset_partial_state=True)
        accelerator = Accelerator(mixed_precision=self.config.mixed_precision, cpu=self.config.cpu)
        if accelerator.num_processes > 1:
            raise ArtvError(
                f"--stage {self.config.stage} runs in one process",
                "run it with `artv train`, not under `accelerate launch`",
            )
        set_seed(self.config.seed)
        return accelerator

    def begin(self) -> None:
        self.config.out.mkdir(parents=True, exist_ok=True)
        self.emit("start", step=0, total=self.config.steps)
        self.started = time.perf_counter()

    def step(self, loss: float) -> bool:
        """Record one step's loss (progress, RUN/metrics.jsonl); True when --time-limit says to stop."""
        config = self.config
        self.first_loss = loss if self.first_loss is None else self.first_loss
        self.last_loss, self.done = loss, self.done + 1
        self.window.append(loss)
        elapsed = time.perf_counter() - self.started
        self.emit("step", step=self.done, total=config.steps, loss=loss, steps_per_s=self.done / elapsed,
                  samples_per_s=self.done / elapsed * config.batch_size)  # fmt: skip
        if self.done % config.log_every == 0 or self.done == config.steps:
            with open(config.out / "metrics.jsonl", "a") as handle:
                handle.write(json.dumps({"step": self.done, "loss": float(np.mean(self.window))}) + "\n")
            self.window = []
        if config.time_limit and self.done < config.steps and elapsed >= config.time_limit * 60:
            self.emit("notice", text=f"--time-limit {config.time_limit:g} min reached at step {self.done} "
                      f"of {config.steps}: exporting the {self.what}")  # fmt: skip
            return True
        return False

    def finish(self, model: ARTVModel, checksum: float, skipped: dict | None = None) -> TrainResult:
        """Export RUN/model and write RUN/summary.json."""
        model.name = str(self.config.out / "model")
        exported = model.save(self.config.out / "model")
        self.emit("exported", path=str(exported))
        result = TrainResult(
            run=self.config.out,
            model=exported,
            steps=self.done,
            samples=self.done * self.config.batch_size,
            first_loss=self.first_loss,
            last_loss=self.last_loss,
            seconds=round(time.perf_counter() - self.started, 3),
            skipped=dict(skipped or {}),
            process_checksums=[checksum],
        )
        write_json(self.config.out / "summary.json", asdict(result))
        return result
