"""Named downloads (base models, evaluation weights) through huggingface_hub, into artv's cache.

Hub repositories come down with `snapshot_download` (resumable, HF_TOKEN / HF_ENDPOINT / HF_HUB_OFFLINE
honoured by the library), plain URLs with huggingface_hub's `http_get` into a `.incomplete` file that a
later run resumes. A download counts as present only when its manifest (`.artv-complete.json`, written
last, after every required file is there and every known checksum matched) exists: a partial or corrupt
download never looks complete.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from artv_cli.errors import ArtvError
from artv_cli.paths import artv_home

MANIFEST = ".artv-complete.json"


def snapshot_download(*args, **kwargs):
    """huggingface_hub's `snapshot_download`, imported on first use: `artv models` must start fast."""
    from huggingface_hub import snapshot_download as download

    return download(*args, **kwargs)


def http_get(*args, **kwargs):
    """huggingface_hub's resumable `http_get`, imported on first use."""
    from huggingface_hub.file_download import http_get as get

    return get(*args, **kwargs)


@dataclass
class Download:
    name: str
    kind: str  # base-model or eval-weights
    description: str
    repo: str | None = None
    revision: str = "main"
    files: list[str] = field(default_factory=list)  # hub file patterns
    required: list[str] = field(default_factory=list)  # files that must exist afterwards
    url: str | None = None
    file: str | None = None  # a URL download's file name
    folder: str | None = None  # where a hub eval download goes, inside the eval folder
    approx_size: str | None = None
    sha256: dict | str | None = None  # per-file hashes (hub) or the file's hash (URL); None: unknown
    license: str | None = None

    @property
    def target(self) -> Path:
        """Where it lives: models/NAME for base models, eval/FILE or eval/FOLDER for eval weights."""
        home = artv_home()
        if self.kind == "eval-weights":
            return home / "eval" / (self.file or self.folder or self.name)
        return home / "models" / self.name


def registry() -> dict[str, Download]:
    """The named downloads shipped in artv_cli/data/downloads.yaml."""
    text = resources.files("artv_cli").joinpath("data/downloads.yaml").read_text(encoding="utf-8")
    return {name: Download(name=name, **entry) for name, entry in yaml.safe_load(text).items()}


def hub_download(repo: str, revision: str = "main") -> Download:
    """Any hub repository id as an ad-hoc base-model download (models/OWNER--NAME)."""
    return Download(
        name=repo.replace("/", "--"),
        kind="base-model",
        description=f"hub repository {repo}",
        repo=repo,
        revision=revision,
    )


def lookup(name: str) -> Download:
    known = registry()
    if name in known:
        return known[name]
    if "/" in name and not Path(name).expanduser().exists():
        return hub_download(name)
    raise ArtvError(
        f"unknown download '{name}'", f"use one of: {', '.join(known)}, or a hub id such as owner/repo"
    )


def is_complete(download: Download) -> bool:
    return _manifest_path(download).is_file()


def _manifest_path(download: Download) -> Path:
    target = download.target
    return target / MANIFEST if download.url is None else target.with_name(f".{target.name}{MANIFEST}")


def local_path(name: str) -> Path:
    """The local folder or file of a registry name; an error naming `artv download NAME` if absent."""
    download = lookup(name)
    if not is_complete(download):
        raise ArtvError(
            f"{name} is not downloaded", f"run `artv download {name}` (it goes to {download.target})"
        )
    return download.target


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    download: Download, repo: str | None = None, revision: str | None = None, force: bool = False
) -> Path:
    """Download (or resume, or verify) one entry; returns where it lives. Failures become ArtvError."""
    if is_complete(download) and not force:
        return download.target
    try:
        if download.url is not None:
            return _fetch_url(download)
        return _fetch_repo(download, repo or download.repo, revision or download.revision)
    except ArtvError:
        raise
    except Exception as error:  # the hub's and the network's failures, named with their fix
        raise _explain(error, download, repo or download.repo) from None


def _fetch_repo(download: Download, repo: str, revision: str) -> Path:
    target = download.target
    target.mkdir(parents=True, exist_ok=True)
    _manifest_path(download).unlink(missing_ok=True)
    snapshot_download(
        repo_id=repo,
        revision=revision,
        allow_patterns=download.files or None,
        local_dir=target,
    )
    missing = [name for name in download.required if not (target / name).is_file()]
    if missing:
        raise ArtvError(
            f"{repo}@{revision} has no {', '.join(missing)}: the download is incomplete",
            f"check the repository, or give another with `artv download {download.name} --repo OWNER/NAME`",
        )
    hashes = {}
    for path in sorted(
        p for p in target.rglob("*") if p.is_file() and ".cache" not in p.parts and p.name != MANIFEST
    ):
        relative = path.relative_to(target).as_posix()
        if download.files and not any(fnmatch.fnmatch(relative, pattern) for pattern in download.files):
            continue
        hashes[relative] = sha256_of(path)
        expected = (download.sha256 or {}).get(relative) if isinstance(download.sha256, dict) else None
        if expected and hashes[relative] != expected:
            path.unlink()
            raise ArtvError(
                f"checksum mismatch for {relative} of {download.name} (expected {expected[:12]}..., got "
                f"{hashes[relative][:12]}...); the bad file was removed",
                f"run `artv download {download.name}` again",
            )
    _write_manifest(download, {"repo": repo, "revision": revision, "files": hashes})
    return target


def _fetch_url(download: Download) -> Path:
    target = download.target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".incomplete")
    resume = partial.stat().st_size if partial.is_file() else 0
    with open(partial, "ab") as handle:  # append: an interrupted download resumes where it stopped
        http_get(download.url, handle, resume_size=resume, displayed_filename=target.name)
    digest = sha256_of(partial)
    if isinstance(download.sha256, str) and download.sha256 and digest != download.sha256:
        partial.unlink()
        raise ArtvError(
            f"checksum mismatch for {target.name} (expected {download.sha256[:12]}..., "
            f"got {digest[:12]}...); the bad file was removed",
            f"run `artv download {download.name}` again",
        )
    os.replace(partial, target)
    _write_manifest(download, {"url": download.url, "files": {target.name: digest}})
    return target


def _write_manifest(download: Download, data: dict) -> None:
    path = _manifest_path(download)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"name": download.name, "kind": download.kind} | data, indent=2) + "\n")
    os.replace(partial, path)


def remove(download: Download) -> int:
    """Delete a download's files (and any partial ones); returns the bytes freed."""
    target = download.target
    paths = [target, target.with_name(target.name + ".incomplete"), _manifest_path(download)]
    freed = 0
    for path in paths:
        if path.is_dir():
            freed += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            shutil.rmtree(path)
        elif path.is_file():
            freed += path.stat().st_size
            path.unlink()
    return freed


def size_on_disk(download: Download) -> int:
    target = download.target
    if target.is_dir():
        return sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    return target.stat().st_size if target.is_file() else 0


def _explain(error: Exception, download: Download, repo: str | None) -> ArtvError:
    """One line naming the cause and the fix, for the ways a download fails."""
    names = {cls.__name__ for cls in type(error).__mro__}
    where = repo or download.url
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return ArtvError(
            f"the disk is full while downloading {download.name} into {download.target.parent}",
            "free some space, or set ARTV_HOME to a folder on a larger disk, then run the same command",
        )
    if "OfflineModeIsEnabled" in names or (
        "LocalEntryNotFoundError" in names and os.environ.get("HF_HUB_OFFLINE")
    ):
        return ArtvError(
            f"{download.name} is not downloaded and HF_HUB_OFFLINE is set",
            "unset HF_HUB_OFFLINE to download it",
        )
    if "GatedRepoError" in names:
        return ArtvError(
            f"{where} is gated: its licence must be accepted first",
            f"accept it at https://huggingface.co/{repo}, then set HF_TOKEN to a token of that account",
        )
    if "RepositoryNotFoundError" in names or "RevisionNotFoundError" in names or status == 404:
        return ArtvError(
            f"{where} was not found on the hub (404)",
            f"check the name, or give another source with `artv download {download.name} --repo OWNER/NAME`",
        )
    if status in (401, 403):
        return ArtvError(
            f"the hub refused {where} ({status}: not authorised)",
            "set HF_TOKEN to a token with access (https://huggingface.co/settings/tokens)",
        )
    network = {
        "ConnectError",
        "ConnectTimeout",
        "NetworkError",
        "TimeoutException",
        "ConnectionError",
        "ReadTimeout",
        "LocalEntryNotFoundError",
    }
    if names & network:
        return ArtvError(
            f"cannot reach {where}: no network ({type(error).__name__})",
            "check the connection (or set HF_ENDPOINT to a mirror) and run the same command: it resumes",
        )
    if status is not None:
        return ArtvError(f"the download of {where} failed (HTTP {status})", "try again later: it resumes")
    return ArtvError(
        f"the download of {download.name} failed: {type(error).__name__}: {error}",
        "run the same command again (it resumes); ARTV_DEBUG=1 shows the traceback",
    )
