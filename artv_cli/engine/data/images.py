"""Reading a user's image into the [-1, 1] tensor the VAE takes, with a notice for every change made."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from artv_cli.errors import ArtvError


@dataclass
class LoadedImage:
    """An RGB image ready for a size, and what was done to it (shown to the user)."""

    pixels: np.ndarray  # (H, W, 3) uint8, before resizing
    notices: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    def fitted(self, width: int, height: int) -> torch.Tensor:
        """(1, 3, height, width) in [-1, 1]: scaled to cover the size, then centre-cropped."""
        image = Image.fromarray(self.pixels)
        if (self.width, self.height) != (width, height):
            scale = max(width / self.width, height / self.height)
            cover = (max(width, round(self.width * scale)), max(height, round(self.height * scale)))
            note = f"resized from {self.width}x{self.height} to {width}x{height}"
            if cover != (width, height):
                note += f" (scaled to {cover[0]}x{cover[1]}, then centre-cropped)"
            self.notices.append(note)
            image = ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS)
        array = torch.from_numpy(np.asarray(image, dtype=np.float32).copy())  # (H, W, 3)
        return (array.permute(2, 0, 1)[None] / 127.5 - 1).contiguous()


def load_image(path: str | Path) -> LoadedImage:
    """Open an image file as 8-bit RGB, honouring EXIF rotation, flattening transparency, scaling 16-bit."""
    path = Path(path)
    if not path.exists():
        raise ArtvError(
            f"image {path} does not exist", "check the path, or use `artv generate` for text only"
        )
    if path.is_dir():
        raise ArtvError(f"image {path} is a folder", "give an image file (PNG, JPEG, WebP)")
    try:
        with Image.open(path) as opened:
            opened.load()
            image = opened.copy()
    except Image.DecompressionBombError as error:
        raise ArtvError(
            f"image {path} is too large to read safely ({error})", "scale it down first"
        ) from None
    except UnidentifiedImageError:
        raise ArtvError(f"{path} is not an image that can be read", "give a PNG, JPEG or WebP file") from None
    except OSError as err:
        raise ArtvError(
            f"cannot read image {path} ({err.strerror or err})", "check its permissions"
        ) from None

    notices: list[str] = []
    rotated = ImageOps.exif_transpose(image)
    if rotated.size != image.size or rotated.tobytes() != image.tobytes():
        notices.append("rotated by its EXIF orientation")
    image = rotated

    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray((array / peak * 255).clip(0, 255).round().astype(np.uint8)).convert("RGB")
        notices.append("16-bit image reduced to 8 bits per channel")
    elif image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:
            notices.append("transparency flattened onto white")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba).convert("RGB")
    elif image.mode != "RGB":
        if image.mode in ("L", "1"):
            notices.append("greyscale image used as RGB")
        image = image.convert("RGB")
    return LoadedImage(pixels=np.asarray(image, dtype=np.uint8), notices=notices)
