"""The latent cache: every usable frame of a dataset encoded by the frozen VAE once, in safetensors shards.

Training from the cache skips decoding and the VAE encoder on every step. The cache records what made
it (frame size, stride or fps, the VAE's fingerprint); a cache made otherwise is refused, never mixed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from artv_cli.engine.data.datasets import Catalogue, FrameSpec, VideoError, decode, sample_indices, to_pixels
from artv_cli.errors import ArtvError

INDEX = "index.json"


def vae_fingerprint(vae: torch.nn.Module) -> str:
    """A short hash of the VAE encoder's weights: latents from another VAE must not be reused."""
    digest = hashlib.sha256()
    for name, tensor in sorted(vae.state_dict().items()):
        if name.startswith(("encoder.", "quant_conv.")):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def cache_key(catalogue: Catalogue, spec: FrameSpec, fingerprint: str) -> dict:
    return {"data": str(catalogue.root.resolve()), "frames": asdict(spec), "vae": fingerprint}


@torch.inference_mode()
def build_cache(
    model,
    catalogue: Catalogue,
    spec: FrameSpec,
    folder: Path,
    shard_mb: float = 256,
    batch: int = 16,
    on_video: Callable[[int, int], None] | None = None,
) -> Path:
    """Encode every usable video's frames (fp16 latents) into `folder`; reuse it if it was made the same way.

    Written into FOLDER.partial and renamed at the end: an interrupted build leaves no half cache.
    """
    folder = Path(folder)
    key = cache_key(catalogue, spec, vae_fingerprint(model.vae))
    if (folder / INDEX).is_file():
        found = json.loads((folder / INDEX).read_text())["key"]
        if found != key:
            changed = ", ".join(k for k in key if key[k] != found.get(k))
            raise ArtvError(
                f"the latent cache {folder} was made differently ({changed} changed)",
                "delete it, or give another --cache-dir",
            )
        return folder
    if folder.exists() and any(folder.iterdir()):
        raise ArtvError(f"--cache-dir {folder} is not a latent cache", "give a new or empty folder")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    videos, skipped, shard, shard_bytes = [], Counter(), {}, 0

    def flush() -> None:
        nonlocal shard, shard_bytes
        if shard:
            save_file(shard, partial / f"shard-{len(list(partial.glob('shard-*'))):05d}.safetensors")
            shard, shard_bytes = {}, 0

    try:
        for number, item in enumerate(catalogue.items):
            try:
                frames = decode(item.path, spec)
            except VideoError as error:
                skipped[error.reason] += 1
                continue
            pixels = to_pixels(frames)
            latents = torch.cat(
                [model.encode_images(pixels[i : i + batch]) for i in range(0, len(pixels), batch)]
            )
            name = str(len(videos))
            shard[name] = latents.to("cpu", torch.float16).contiguous()  # (T, 4, h, w)
            shard_bytes += shard[name].numel() * 2
            videos.append(
                {
                    "key": item.key,
                    "caption": item.caption,
                    "shard": len(list(partial.glob("shard-*"))),
                    "frames": len(latents),
                }
            )
            if shard_bytes >= shard_mb * 2**20:
                flush()
            if on_video is not None:
                on_video(number + 1, len(catalogue.items))
        flush()
        if not videos:
            raise ArtvError(
                f"no video of {catalogue.root} could be decoded ({dict(skipped)})",
                "check the files with ffmpeg, or make a dataset with `artv data synth DIR`",
            )
        index = {"key": key, "videos": videos, "skipped": dict(skipped | catalogue.skipped)}
        (partial / INDEX).write_text(json.dumps(index) + "\n")
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if folder.exists():
        folder.rmdir()
    os.replace(partial, folder)
    return folder


class LatentDataset(torch.utils.data.Dataset):
    """Samples from the latent cache: latents (4, 4, h, w) of (target, prev, prev2, anchor), caption."""

    def __init__(self, folder: Path, window: int = 10):
        self.folder = Path(folder)
        index = json.loads((self.folder / INDEX).read_text())
        self.videos = index["videos"]
        self.skipped = Counter(index["skipped"])
        self.window = window
        self._open: dict[int, object] = {}  # shard number -> safe_open handle, per worker process

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, key: tuple[int, float, float]) -> dict:
        index, u_target, u_anchor = key
        video = self.videos[index]
        if video["shard"] not in self._open:
            path = self.folder / f"shard-{video['shard']:05d}.safetensors"
            self._open[video["shard"]] = safe_open(str(path), framework="pt")
        latents = self._open[video["shard"]].get_tensor(str(index))
        chosen = sample_indices(video["frames"], u_target, u_anchor, self.window)
        return {"latents": latents[list(chosen)].float(), "caption": video["caption"], "skipped": []}
