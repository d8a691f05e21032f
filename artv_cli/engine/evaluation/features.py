"""Feature extractors of the standard video metrics, loaded from local files (no download here).

- i3d: `i3d_torchscript.pt`, FVD. Input (N, 3, 16, 224, 224) in [-1, 1], called with rescale=False,
  resize=False, return_features=True; output (N, 400) logits.
- inception: `inception-2015-12-05.pt`, FID and image IS. Input (N, 3, H, W) uint8; return_features=True
  gives (N, 2048) pool features, no_output_bias=True the class probabilities (N, 1008).
- c3d: `c3d_ucf101.pt`, video IS on UCF-101. Input (N, 3, 16, 128, 128) uint8; output (N, 101) scores.
- clip: `clip-vit-base-patch32/`, CLIPSIM. A transformers CLIPModel folder with tokenizer and processor.

The TorchScript files are the ones StyleGAN-V and StyleGAN2-ADA publish; they load with `torch.jit.load`
and need no torchvision. `artv download` fetches them into the weights folder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from artv_cli.engine.evaluation.metrics import to_probabilities


@dataclass(frozen=True)
class WeightsSpec:
    name: str
    file: str
    metric: str
    source: str  # where the file is published (artv download fetches it from there)


WEIGHTS = {
    "i3d": WeightsSpec(
        "i3d", "i3d_torchscript.pt", "FVD", "https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt"
    ),
    "inception": WeightsSpec(
        "inception",
        "inception-2015-12-05.pt",
        "FID, image IS",
        "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
    ),
    "c3d": WeightsSpec(
        "c3d", "c3d_ucf101.pt", "video IS", "https://www.dropbox.com/s/jxpu7avzdc9n97q/c3d_ucf101.pt"
    ),
    "clip": WeightsSpec(
        "clip", "clip-vit-base-patch32", "CLIPSIM", "https://huggingface.co/openai/clip-vit-base-patch32"
    ),
}


def weights_dir(override: str | Path | None = None) -> Path:
    """Where evaluation weights live: --weights-dir, else the `eval` folder of artv's cache ($ARTV_HOME),
    where `artv download i3d inception c3d clip` puts them."""
    if override:
        return Path(override).expanduser()
    from artv_cli.engine.hub.downloads import artv_home

    return artv_home() / "eval"


def find_weights(name: str, folder: Path) -> Path | None:
    path = folder / WEIGHTS[name].file
    return path if path.exists() else None


def weights_hash(path: Path) -> str:
    """sha256 of a weights file, or of a folder's files (names and contents, in sorted order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _resize(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) float to (N, 3, size, size), bilinear with antialiasing when shrinking."""
    if frames.shape[-2:] == (size, size):
        return frames
    return F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _clips_to_tensor(clips: np.ndarray, size: int) -> torch.Tensor:
    """uint8 clips (N, T, H, W, 3) to float (N, 3, T, size, size) in [0, 255]."""
    n, t = clips.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(clips)).float().flatten(0, 1).permute(0, 3, 1, 2)
    x = _resize(x, size).clamp(0, 255)
    return x.unflatten(0, (n, t)).permute(0, 2, 1, 3, 4)


class I3D:
    """Kinetics-400 I3D of the FVD protocol (StyleGAN-V): 400 logits per 16-frame clip."""

    size = 224

    def __init__(self, path: Path, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.net = torch.jit.load(str(path), map_location=self.device).eval()

    @torch.no_grad()
    def __call__(self, clips: np.ndarray) -> np.ndarray:
        x = _clips_to_tensor(clips, self.size) / 127.5 - 1  # values in [-1, 1]
        out = self.net(x.to(self.device), rescale=False, resize=False, return_features=True)
        return out.float().cpu().numpy()


class Inception:
    """Inception-v3 with the 2015-12-05 TensorFlow weights (TorchScript of StyleGAN2-ADA)."""

    def __init__(self, path: Path, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.net = torch.jit.load(str(path), map_location=self.device).eval()

    def _images(self, frames: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(self.device)  # uint8

    @torch.no_grad()
    def features(self, frames: np.ndarray) -> np.ndarray:
        """2048-d pool features of frames (N, H, W, 3) uint8, for FID."""
        return self.net(self._images(frames), return_features=True).float().cpu().numpy()

    @torch.no_grad()
    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        """Class probabilities without the output bias (as the original IS code), for image IS."""
        return to_probabilities(self.net(self._images(frames), no_output_bias=True).float().cpu().numpy())


class C3D:
    """C3D fine-tuned on UCF-101 (TGAN / TGANv2 protocol, StyleGAN-V's TorchScript): video IS."""

    size = 128

    def __init__(self, path: Path, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.net = torch.jit.load(str(path), map_location=self.device).eval()

    @torch.no_grad()
    def __call__(self, clips: np.ndarray) -> np.ndarray:
        x = _clips_to_tensor(clips, self.size).round().to(torch.uint8)
        return to_probabilities(self.net(x.to(self.device)).float().cpu().numpy())


class CLIP:
    """CLIP (ViT-B/32 for the paper's numbers) through transformers, from a local folder."""

    def __init__(self, folder: Path, device: torch.device | str = "cpu"):
        from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

        self.device = torch.device(device)
        self.model = CLIPModel.from_pretrained(folder).to(self.device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.processor = CLIPImageProcessor.from_pretrained(folder)

    @staticmethod
    def _embedding(output) -> torch.Tensor:
        return output if isinstance(output, torch.Tensor) else output.pooler_output

    @torch.no_grad()
    def images(self, frames: np.ndarray) -> np.ndarray:
        pixels = self.processor(images=list(frames), return_tensors="pt").pixel_values.to(self.device)
        return self._embedding(self.model.get_image_features(pixel_values=pixels)).float().cpu().numpy()

    @torch.no_grad()
    def text(self, prompt: str) -> np.ndarray:
        ids = self.tokenizer([prompt], padding=True, truncation=True, max_length=77, return_tensors="pt")
        output = self.model.get_text_features(input_ids=ids.input_ids.to(self.device))
        return self._embedding(output).float().cpu().numpy()[0]
