"""`artv train` on the synthetic world: the loss drops, the export renders, resume is exact."""

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.data.video import read_video
from artv_cli.engine.training.trainer import TrainableParts, TrainConfig, train

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "red-ball.png"
QUICK = ["--model", "tiny-random", "--batch-size", "2", "--lr", "1e-3", "--validation-videos", "0"]


def invoke(args, **kwargs):
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_lowers_the_loss_and_exports_a_model_animate_renders(synth_data, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--data", synth_data, "--out", run, *QUICK, "--steps", 40, "--batch-size", 4]
    args += ["--log-every", 10, "--checkpoint-every", 20, "--validation-videos", 1, "--validation-frames", 3]
    args += [
        "--validation-steps",
        2,
        "--validation-prompt",
        "a red circle moves up slowly",
        "--validate-every",
        20,
    ]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(run / "model")
    assert "loss" in result.stderr and "samples/s" in result.stderr and "eta" in result.stderr

    # the loss over the last 10 steps is well below the first 10 (a random tiny ART-V learns the world fast)
    lines = metrics(run)
    assert [m["step"] for m in lines] == [10, 20, 30, 40]
    assert lines[-1]["loss"] < 0.5 * lines[0]["loss"]
    assert lines[0]["samples_per_s"] > 0 and lines[0]["lr"] == pytest.approx(1e-3)

    # checkpoints every 20 steps, the run's records, validation clips from a video and from a prompt
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000020", "step-00000040"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 40 and summary["samples"] == 160
    recorded = json.loads((run / "train_config.json").read_text())
    assert recorded["width"] == 64 and recorded["seed"] == 0 and recorded["versions"]["torch"]
    provenance = json.loads((run / "model" / "artv_config.json").read_text())["extra"]["training"]
    assert (
        provenance["steps"] == 40 and provenance["weights"] == "ema" and provenance["base"] == "tiny-random"
    )
    assert sorted(p.name for p in (run / "validation").iterdir()) == ["step-00000020", "step-00000040"]
    clips = sorted((run / "validation" / "step-00000040").glob("*.mp4"))
    assert len(clips) == 2 and len(read_video(clips[0])[0]) == 3

    # the exported folder renders
    out = tmp_path / "ball.mp4"
    fast = ["--frames", 3, "--steps", 2, "--seed", 1, "-o", out]
    rendered = invoke(["animate", EXAMPLE, "a red circle moves right", "--model", run / "model", *fast])
    assert rendered.exit_code == 0, rendered.output
    assert len(read_video(out)[0]) == 3


def test_training_starts_from_a_stable_diffusion_folder_or_continues_an_art_v_folder(synth_data, tmp_path):
    """Phi_dynamic starts as the base UNet; an ART-V folder given as --model is trained further."""
    from artv_cli.engine.model.base import random_base

    base = random_base("tiny", seed=3)
    base.save(tmp_path / "sd")
    common = ["train", "--data", synth_data, *QUICK, "--steps", 2]
    first = invoke(
        [*common, "--out", tmp_path / "a", "--model", tmp_path / "sd", "--export", "raw", "--lr", 1e-12]
    )
    assert first.exit_code == 0, first.output
    exported = load_file(tmp_path / "a" / "model" / "unet" / "diffusion_pytorch_model.safetensors")
    torch.testing.assert_close(exported["conv_in.weight"], base.unet.state_dict()["conv_in.weight"])
    again = invoke([*common, "--out", tmp_path / "b", "--model", tmp_path / "a" / "model"])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "b" / "model" / "artv_config.json").is_file()


def test_exported_model_holds_the_ema_weights(synth_data, tmp_path):
    """EMA by default (diffusers' EMAModel), the raw weights with --export raw; they differ after training."""
    exported = {}
    for weights in ("ema", "raw"):
        run = tmp_path / weights
        result = invoke(
            ["train", "--data", synth_data, "--out", run, *QUICK, "--steps", 6, "--export", weights]
        )
        assert result.exit_code == 0, result.output
        exported[weights] = load_file(run / "model" / "unet" / "diffusion_pytorch_model.safetensors")
    raw = load_file(tmp_path / "raw" / "checkpoints" / "step-00000006" / "model.safetensors")
    key = "conv_in.weight"
    assert torch.equal(exported["raw"][key], raw[f"unet.{key}"])
    assert not torch.equal(exported["ema"][key], exported["raw"][key])


def stop_at(step: int):
    def on_event(kind, info):
        if kind == "step" and info["step"] == step:
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of the loop

    return on_event


@pytest.mark.parametrize("cache", [False, True])
def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(synth_data, tmp_path, cache):
    settings = dict(data=synth_data, model="tiny-random", steps=8, batch_size=2, grad_accum=2, lr=1e-3)
    settings |= dict(checkpoint_every=100, validation_videos=0, cache=cache, cache_dir=tmp_path / "latents")
    train(TrainConfig(out=tmp_path / "straight", **settings))
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=tmp_path / "stopped", **settings), stop_at(3))
    assert [p.name for p in (tmp_path / "stopped" / "checkpoints").iterdir()] == ["step-00000003"]
    result = train(TrainConfig(out=tmp_path / "stopped", resume="latest", **settings))
    assert result.steps == 8
    weights = "diffusion_pytorch_model.safetensors"
    for name in (
        "checkpoints/step-00000008/model.safetensors",
        f"model/unet/{weights}",
        f"model/cond/{weights}",
    ):
        a, b = load_file(tmp_path / "straight" / name), load_file(tmp_path / "stopped" / name)
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    assert [m["step"] for m in metrics(tmp_path / "stopped")] == [8]


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_continue(synth_data, tmp_path, monkeypatch):
    from artv_cli.engine.training import trainer as engine_train

    iterate = engine_train.StepSampler.__iter__

    def interrupted(self):
        for number, batch in enumerate(iterate(self)):
            if number == 4:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(engine_train.StepSampler, "__iter__", interrupted)
    run = tmp_path / "run"
    result = invoke(["train", "--data", synth_data, "--out", run, *QUICK, "--steps", 10])
    assert result.exit_code == 130
    assert "interrupted at step 4" in result.stderr and "--resume latest" in result.stderr
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-00000004"]
    # the same command again without --resume refuses to mix runs
    monkeypatch.setattr(engine_train.StepSampler, "__iter__", iterate)
    again = invoke(["train", "--data", synth_data, "--out", run, *QUICK, "--steps", 10])
    assert (
        again.exit_code == 2 and "holds a run already" in again.stderr and "--resume latest" in again.stderr
    )
    resumed = invoke(
        ["train", "--data", synth_data, "--out", run, *QUICK, "--steps", 6, "--resume", "latest"]
    )
    assert resumed.exit_code == 0, resumed.output
    assert "resumed from" in resumed.stderr
    assert json.loads((run / "summary.json").read_text())["steps"] == 6


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    synth_data, tmp_path, monkeypatch
):
    forward = TrainableParts.forward
    calls = {"n": 0}

    def diverging(self, *args):
        calls["n"] += 1
        loss = forward(self, *args)
        return loss * float("nan") if calls["n"] > 3 else loss

    monkeypatch.setattr(TrainableParts, "forward", diverging)
    run = tmp_path / "run"
    result = invoke(
        ["train", "--data", synth_data, "--out", run, *QUICK, "--steps", 10, "--checkpoint-every", 2]
    )
    assert result.exit_code == 2
    assert "the loss became nan at step 4" in result.stderr
    assert "step-00000002" in result.stderr and "--lr" in result.stderr
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000002"]
    assert not (run / "model").exists()


def test_time_limit_stops_checkpoints_and_exports_and_resume_goes_on(synth_data, tmp_path):
    run = tmp_path / "run"
    # 0.0001 min is 6 ms: the limit passes during the first step
    result = invoke(
        ["train", "--data", synth_data, "--out", run, *QUICK, "--steps", 6, "--time-limit", "0.0001"]
    )
    assert result.exit_code == 0, result.output
    assert "--time-limit 0.0001 min reached at step 1 of 6" in result.stderr
    assert json.loads((run / "summary.json").read_text())["steps"] == 1
    assert (run / "model" / "artv_config.json").is_file()
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-00000001"]
    resumed = invoke(
        ["train", "--data", synth_data, "--out", run, *QUICK, "--steps", 6, "--resume", "latest"]
    )
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((run / "summary.json").read_text())["steps"] == 6


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "{tmp}/nowhere"], "data folder {tmp}/nowhere does not exist"),
        (["--model", "{tmp}/no-model"], "--model {tmp}/no-model: no such folder"),
        (["--resume", "{tmp}"], "is not a checkpoint folder"),
        (["--steps", "0"], "--steps must be at least 1"),
        (["--lr", "0"], "--lr must be positive"),
        (["--size", "60"], "multiples of 16 pixels"),
        (["--mixed-precision", "fp16", "--cpu"], "fp16 needs a GPU"),
        (["--time-limit", "0"], "--time-limit must be positive"),
        (["--tensorboard"], "pip install tensorboard"),
    ],
)
def test_bad_training_requests_name_the_fix(synth_data, tmp_path, args, message):
    if message == "pip install tensorboard" and importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed here")
    given = [a.format(tmp=tmp_path) for a in args]
    defaults = {"--data": synth_data, "--model": "tiny-random", "--out": tmp_path / "run", "--steps": 2}
    base = [x for key, value in defaults.items() if key not in given for x in (key, value)]
    result = invoke(["train", *base, *given])
    assert result.exit_code == 2, result.output
    assert message.format(tmp=tmp_path) in result.stderr
    assert "fix:" in result.stderr and "Traceback" not in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("lora", [[], ["--lora", "4"]], ids=["whole", "lora"])
def test_two_processes_through_accelerate_agree_on_the_weights(synth_data, tmp_path, lora):
    """`accelerate launch` with 2 CPU processes (gloo): the run finishes and both hold the same weights
    (of the whole model, or of a LoRA adapter)."""
    run = tmp_path / "run"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(free_port()),
               "-m", "artv_cli", "train", "--data", str(synth_data), "--out", str(run), *QUICK,
               "--steps", "6", "--json", *lora]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["samples"] == 6 * 2 * 2  # 6 steps x batch 2 x 2 processes
    checksums = summary["process_checksums"]
    assert len(checksums) == 2 and checksums[0] == checksums[1]
    if lora:
        assert (run / "adapter" / "adapter_model.safetensors").is_file() and not (run / "model").exists()
    else:
        assert (run / "model" / "artv_config.json").is_file()


def test_train_into_a_log_file_prints_plain_progress_lines(synth_data, tmp_path):
    """Under nohup stderr is a file, where rich draws no live bar: the cache and the steps still report,
    at the start, at most every ARTV_PROGRESS_EVERY seconds, and at the end."""
    run = tmp_path / "run"
    args = ["train", "--data", synth_data, "--out", run, *QUICK, "--steps", 6, "--cache"]
    result = invoke(args, env={"ARTV_PROGRESS_EVERY": "3600"})
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert re.findall(r"^latent cache (\d+)/(\d+) ", result.stderr, re.M) == [("1", "8"), ("8", "8")]
    steps = [line for line in lines if re.match(r"train \d+/6 ", line)]
    assert [line.split()[1] for line in steps] == ["1/6", "6/6"]
    assert "loss" in steps[-1] and "samples/s" in steps[-1] and steps[-1].endswith("eta 0:00:00")


def test_plain_progress_prints_at_most_every_interval_and_always_the_end(monkeypatch, capsys):
    from artv_cli import console

    clock = iter([0.0, 1.0, 2.0, 31.0, 32.0, 33.0, 34.0])
    monkeypatch.setattr("time.monotonic", lambda: next(clock))
    monkeypatch.setattr(console, "err", console.Console(file=sys.stderr, width=200))
    plain = console.PlainProgress(every=30)
    for done in range(1, 7):
        plain.update("train", done, 6, "loss 0.1")
    plain.update("train", 6, 6, "loss 0.1")  # the end is printed once
    lines = capsys.readouterr().err.splitlines()
    assert [line.split()[1] for line in lines] == ["1/6", "4/6", "6/6"]
    assert lines[1] == "train 4/6  loss 0.1  0:00:31 eta 0:00:21" and lines[2].endswith("eta 0:00:00")


def test_a_bad_progress_interval_names_the_fix(synth_data, tmp_path):
    run = tmp_path / "run"
    result = invoke(
        ["train", "--data", synth_data, "--out", run, *QUICK, "--steps", 2],
        env={"ARTV_PROGRESS_EVERY": "soon"},
    )
    assert result.exit_code == 2 and "ARTV_PROGRESS_EVERY" in result.stderr and "set it to" in result.stderr
    assert not run.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": 0}, "--steps must be at least 1 (got 0)"),
        ({"lr": -1.0}, "--lr must be positive"),
        ({"lr_schedule": "linear"}, "--lr-schedule linear is unknown"),
        ({"first_step_share": 2.0}, "--first-step-share must be in [0, 1]"),
    ],
)
def test_a_library_caller_gets_every_check_with_the_flags_name(tmp_path, change, message):
    """TrainConfig owns its checks: `train()` from Python refuses what the command line refuses."""
    from artv_cli.engine.training.trainer import TrainConfig, train
    from artv_cli.errors import ArtvError

    config = TrainConfig(data=tmp_path / "data", model="tiny-random", out=tmp_path / "run", **change)
    with pytest.raises(ArtvError, match=re.escape(message)):
        train(config)
    assert not (tmp_path / "run").exists()
