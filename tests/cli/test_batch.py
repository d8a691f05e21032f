"""`artv batch`: prompts files, names and seeds fixed by the row, the manifest, resume, bad rows, and the
same bytes from one process or two (accelerate, gloo)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from artv_cli.app import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "red-ball.png"
ARTV = [sys.executable, "-m", "artv_cli"]
QUICK = ["--model", "tiny-random", "--frames", "2", "--steps", "1"]


def run(*args):
    return CliRunner().invoke(app, ["batch", *map(str, args)], env={"ARTV_PROGRESS_EVERY": "0"})


def test_a_text_file_renders_one_named_seeded_video_a_line(tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red circle moves right\n# a comment\n\na blue square moves up\n")
    result = run(prompts, "--out", tmp_path / "out", *QUICK, "--seed", "10")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert result.stdout.strip() == str(out / "manifest.jsonl")
    entries = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [(e["index"], e["line"], e["seed"]) for e in entries] == [(0, 1, 10), (1, 4, 11)]
    assert [e["file"] for e in entries] == [
        "00000-a-red-circle-moves-right.mp4",
        "00001-a-blue-square-moves-up.mp4",
    ]
    for entry in entries:
        assert (out / entry["file"]).stat().st_size > 100
        sidecar = json.loads((out / entry["sidecar"]).read_text())
        assert sidecar["prompt"] == entry["prompt"] and sidecar["settings"]["seed"] == entry["seed"]
    assert "2/2 done" in result.stderr


def test_csv_and_jsonl_rows_set_their_own_options_and_images(tmp_path):
    (tmp_path / "ball.png").write_bytes(EXAMPLE.read_bytes())
    csv_file = tmp_path / "p.csv"
    csv_file.write_text(
        "prompt,image,frames,seed,steps\na red ball rolls,ball.png,3,7,2\na blue square,,2,,\n"
    )
    result = run(csv_file, "--out", tmp_path / "csv", *QUICK)
    assert result.exit_code == 0, result.output
    first, second = [
        json.loads(line) for line in (tmp_path / "csv" / "manifest.jsonl").read_text().splitlines()
    ]
    sidecar = json.loads((tmp_path / "csv" / first["sidecar"]).read_text())
    assert sidecar["command"] == "animate" and sidecar["settings"]["frames"] == 3
    assert sidecar["settings"]["steps"] == 2 and first["seed"] == 7 and second["seed"] == 1
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(
        '{"prompt": "a green circle", "negative_prompt": "blur", "guidance_text": 2}\n"a yellow box"\n'
    )
    result = run(jsonl, "--out", tmp_path / "jsonl", *QUICK)
    assert result.exit_code == 0, result.output
    first = json.loads((tmp_path / "jsonl" / "manifest.jsonl").read_text().splitlines()[0])
    settings = json.loads((tmp_path / "jsonl" / first["sidecar"]).read_text())["settings"]
    assert settings["negative_prompt"] == "blur" and settings["guidance_text"] == 2.0


def test_bad_rows_are_all_reported_with_file_and_line_before_anything_is_written(tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(
        '{"prompt": "fine"}\n{"prompt": ""}\nnot json\n{"prompt": "x", "frames": -1}\n'
        '{"prompt": "x", "image": "missing.png"}\n{"prompt": "x", "colour": "red"}\n[1, 2]\n'
    )
    result = run(prompts, "--out", tmp_path / "out", *QUICK)
    assert result.exit_code == 2
    for line in (2, 3, 4, 5, 6, 7):
        assert f"p.jsonl:{line}:" in result.stderr
    assert "p.jsonl:1:" not in result.stderr
    assert "missing.png" in result.stderr and "'colour'" in result.stderr and "--frames" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.txt", "", "has no prompts"),
        ("blank.txt", "\n  \n# only a comment\n", "has no prompts"),
        ("header.csv", "text,seed\nhello,1\n", "no prompt column"),
        ("wide.csv", "prompt,seed\nhello,1,2\n", "wide.csv:2: 1 more fields"),
        ("kind.yaml", "prompt: x\n", ".txt (one prompt a line), .csv or .jsonl"),
        ("seed.csv", "prompt,seed\nhello,1.5\n", "seed.csv:2: seed must be a whole number"),
        ("size.csv", "prompt,size\nhello,64\nhello,61\n", "size.csv:3: --size 61x61"),
    ],
)
def test_malformed_prompts_files_exit_2_with_the_problem(tmp_path, name, text, message):
    prompts = tmp_path / name
    prompts.write_text(text)
    result = run(prompts, "--out", tmp_path / "out", *QUICK)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_a_finished_batch_is_resumed_only_when_asked_and_never_rewritten(tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("one\ntwo\n")
    out = tmp_path / "out"
    first = run(prompts, "--out", out, *QUICK)
    assert first.exit_code == 0
    # stderr is not a terminal here (as under nohup): a plain line per video once 0 s have passed
    assert re.findall(r"^videos (\d+/\d+) ", first.stderr, re.M) == ["1/2", "2/2"]
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = run(prompts, "--out", out, *QUICK)
    assert again.exit_code == 2 and "--resume" in again.stderr and "2 videos done" in again.stderr
    resumed = run(prompts, "--out", out, *QUICK, "--resume")
    assert resumed.exit_code == 0 and "0 to render" in resumed.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    other = tmp_path / "q.txt"
    other.write_text("three\n")
    refused = run(other, "--out", out, *QUICK, "--resume")
    assert refused.exit_code == 2 and "another batch" in refused.stderr
    changed = run(prompts, "--out", out, *QUICK[:-2], "--steps", "2", "--resume")
    assert changed.exit_code == 2 and "another batch" in changed.stderr


def test_a_killed_batch_loses_only_the_video_in_flight_and_resumes(tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt number {k}\n" for k in range(20)))
    out = tmp_path / "out"
    args = [*ARTV, "batch", str(prompts), "--out", str(out), "--model", "tiny-random", "--frames", "4"]
    errors = tmp_path / "stderr.txt"
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    with open(errors, "w") as stderr:
        process = subprocess.Popen([*args, "--steps", "4"], stderr=stderr, stdout=subprocess.DEVNULL, env=env)
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (
        not manifest.exists() or len(manifest.read_text().splitlines()) < 2
    ):
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        process.wait()
        raise AssertionError(errors.read_text()[-5000:]) from None
    assert process.returncode == 143, errors.read_text()[-2000:]
    done = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert 2 <= len(done) < 20
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # nothing half-written
    videos = sorted(p.name for p in out.glob("*.mp4"))
    assert videos == sorted(e["file"] for e in done)  # every video on disk is a finished one
    stamps = {e["file"]: (out / e["file"]).stat().st_mtime_ns for e in done}
    resumed = subprocess.run([*args, "--steps", "4", "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{len(done)} done, {20 - len(done)} to render" in resumed.stderr
    entries = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert sorted(e["index"] for e in entries) == list(range(20))
    assert {f: (out / f).stat().st_mtime_ns for f in stamps} == stamps


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_through_accelerate_write_the_bytes_one_process_writes(tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red circle\na blue square\na green thing\nyellow\nfive\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")  # the same threads per process
    common = ["batch", str(prompts), *QUICK[:-4], "--frames", "3", "--steps", "2", "--seed", "4"]
    one = subprocess.run(
        [*ARTV, *common, "--out", "one"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert one.returncode == 0, one.stderr[-2000:]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(free_port()), "-m", "artv_cli"]  # fmt: skip
    two = subprocess.run(
        [*launch, *common, "--out", "two"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert "over 2 processes" in two.stderr and two.stderr.count("to render over") == 1  # others quiet
    videos = sorted(p.name for p in (tmp_path / "one").glob("*.mp4"))
    assert len(videos) == 5 and videos == sorted(p.name for p in (tmp_path / "two").glob("*.mp4"))
    for name in videos:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    assert len((tmp_path / "two" / "manifest.jsonl").read_text().splitlines()) == 5


def test_the_model_loads_once_and_each_distinct_prompt_is_encoded_once(tmp_path, monkeypatch):
    from artv_cli.engine.hub import registry
    from artv_cli.engine.model.artv import ARTVModel

    loads, encodes = [], []
    real_load, real_encode = registry.load_model, ARTVModel.encode_prompt
    monkeypatch.setattr(registry, "load_model", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    monkeypatch.setattr(
        ARTVModel, "encode_prompt", lambda self, p: encodes.append(tuple(p)) or real_encode(self, p)
    )
    prompts = tmp_path / "p.txt"
    prompts.write_text("same prompt\nsame prompt\nother prompt\nsame prompt\n")
    result = run(prompts, "--out", tmp_path / "out", *QUICK)
    assert result.exit_code == 0, result.output
    assert len(loads) == 1
    assert sorted(encodes) == [("other prompt", ""), ("same prompt", "")]


def test_batch_size_groups_rows_of_the_same_settings_and_says_so_in_the_sidecar(tmp_path):
    prompts = tmp_path / "p.csv"
    prompts.write_text("prompt,frames\none,2\ntwo,2\nthree,3\nfour,2\n")
    result = run(prompts, "--out", tmp_path / "out", *QUICK, "--batch-size", "4")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    entries = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [e["index"] for e in entries] == [0, 1, 2, 3]
    grouped = [json.loads((out / e["sidecar"]).read_text()).get("batched_with") for e in entries]
    assert grouped == [2, 2, None, None]  # row 2 has other frames: it breaks the run; row 3 is alone
    refused = run(prompts, "--out", tmp_path / "other", *QUICK, "--batch-size", "0")
    assert refused.exit_code == 2 and "--batch-size must be at least 1" in refused.stderr


def test_the_docs_example_file_mixes_animated_and_text_only_rows(tmp_path):
    example = EXAMPLE.parent / "batch.csv"
    result = run(example, "--out", tmp_path / "out", *QUICK, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["videos"] == summary["done"] == summary["rendered"] == 4
    sidecars = sorted((tmp_path / "out").glob("0*.json"))
    commands = [json.loads(p.read_text())["command"] for p in sidecars]
    assert commands == ["animate", "animate", "animate", "generate"]
