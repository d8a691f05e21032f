"""The benchmark scripts run (tiny sizes): their numbers are in docs/performance.md and docs/training.md."""

import json
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, args: list[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [name, *args])
    runpy.run_path(str(ROOT / "bench" / name), run_name="__main__")


def test_generate_benchmark_compares_with_the_baseline_and_writes_json(tmp_path, monkeypatch):
    out = tmp_path / "gen.json"
    args = ["--frames", "4", "--steps", "2", "--warmup", "1", "--long", "6", "--flops", "--out", str(out)]
    run_script("generate.py", args, monkeypatch)
    report = json.loads(out.read_text())
    variants = [r["variant"] for r in report["results"]]
    assert variants[0] == "baseline (naive loop)" and "artv (4 branches)" in variants
    baseline, ours = report["results"][0], report["results"][1]
    assert (
        baseline["network_evaluations_per_frame"]["unet"] == 4 * ours["network_evaluations_per_frame"]["unet"]
    )
    assert ours["speedup_vs_baseline"] > 0 and ours["tflop_per_frame"] > 0
    assert set(report["peak_memory_mb_by_length"]) == {"16", "6", "ratio"}


def test_training_benchmark_runs_both_modes(tmp_path, monkeypatch, capsys):
    run_script("train_throughput.py", ["--steps", "4", "--log-every", "2", "--videos", "2"], monkeypatch)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["mode"] for line in lines] == ["decode + VAE per step", "latent cache"]
    assert all(line["samples_per_s"] > 0 for line in lines)
