"""Drift over a video without any weights: how far each frame has moved from frame 0 and from the last one.

Frames are fed one at a time (`DriftTracker.add`), so a video of any length costs two frames of memory.
Per-frame curves: colour-histogram distance and mean colour shift from frame 0, PSNR and SSIM against
frame 0 and the previous frame, sharpness (variance of the Laplacian) relative to frame 0, and the
mean absolute difference to the previous frame. Video-level: VBench's temporal flickering score and a
dynamic degree, so a frozen video is flagged rather than counted as stable. Written by hand: these are
a few lines of arithmetic each, and no well-kept library computes them on streamed frames.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

CURVES = (
    "hist_distance",
    "colour_shift",
    "psnr_first",
    "psnr_prev",
    "ssim_first",
    "ssim_prev",
    "sharpness",
    "mae_prev",
)
PSNR_CAP = 100.0  # dB for identical frames (keeps JSON finite)
CHANGED_ABOVE = 10  # a pixel has changed between two frames when a channel moves more than this (0-255)
FROZEN_BELOW = 0.0005  # a video whose frames change on fewer pixels than this fraction, on average, is frozen


def _luma(frame: np.ndarray) -> torch.Tensor:
    """(1, 1, H, W) float64 luma in [0, 255] (ITU-R BT.601 weights)."""
    rgb = torch.from_numpy(frame.astype(np.float64))
    y = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return y[None, None]


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """SSIM of two luma images (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 .01, K2 .03."""
    window = _gaussian_window(min(11, a.shape[-1], a.shape[-2]) | 1)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = F.conv2d(a, window), F.conv2d(b, window)
    var_a = F.conv2d(a * a, window) - mu_a**2
    var_b = F.conv2d(b * b, window) - mu_b**2
    cov = F.conv2d(a * b, window) - mu_a * mu_b
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(value.mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * math.log10(255.0**2 / mse))


def _histogram(frame: np.ndarray, bins: int = 8) -> np.ndarray:
    """Normalised joint RGB histogram, bins^3 cells."""
    q = (frame.astype(np.int64) * bins) // 256
    index = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    counts = np.bincount(index.ravel(), minlength=bins**3).astype(np.float64)
    return counts / counts.sum()


_LAPLACIAN = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=torch.float64)[None, None]


def _sharpness(y: torch.Tensor) -> float:
    return float(F.conv2d(y, _LAPLACIAN).var())


class DriftTracker:
    """Feed frames (H, W, 3) uint8 in order; `curves()` and `summary()` describe the video's drift."""

    def __init__(self) -> None:
        self.curves_: dict[str, list[float]] = {name: [] for name in CURVES}
        self.changed: list[float] = []  # fraction of pixels changed since the previous frame
        self.first = self.prev = None
        self.first_luma = self.prev_luma = None
        self.first_hist = None
        self.first_mean = None
        self.first_sharpness = None

    def add(self, frame: np.ndarray) -> None:
        y = _luma(frame)
        hist = _histogram(frame)
        mean = frame.reshape(-1, 3).astype(np.float64).mean(axis=0)
        sharp = _sharpness(y)
        c = self.curves_
        if self.first is None:
            self.first, self.first_luma, self.first_hist = frame, y, hist
            self.first_mean, self.first_sharpness = mean, sharp
            c["psnr_prev"].append(math.nan)
            c["ssim_prev"].append(math.nan)
            c["mae_prev"].append(math.nan)
        else:
            c["psnr_prev"].append(psnr(frame, self.prev))
            c["ssim_prev"].append(ssim(y, self.prev_luma))
            difference = np.abs(frame.astype(np.int16) - self.prev.astype(np.int16))
            c["mae_prev"].append(float(difference.mean()))
            self.changed.append(float((difference.max(axis=-1) > CHANGED_ABOVE).mean()))
        c["hist_distance"].append(float(0.5 * np.abs(hist - self.first_hist).sum()))
        c["colour_shift"].append(float(np.linalg.norm(mean - self.first_mean)))
        c["psnr_first"].append(psnr(frame, self.first))
        c["ssim_first"].append(ssim(y, self.first_luma))
        c["sharpness"].append(sharp / self.first_sharpness if self.first_sharpness > 0 else math.nan)
        self.prev, self.prev_luma = frame, y

    def curves(self) -> dict[str, list[float]]:
        return {name: list(values) for name, values in self.curves_.items()}

    def summary(self) -> dict:
        """Each curve's final value and slope per frame, plus flicker and dynamic degree."""
        out = {}
        for name, values in self.curves_.items():
            out[name] = {"final": _finite(values[-1]) if values else None, "slope": slope(values)}
        steps = [v for v in self.curves_["mae_prev"] if not math.isnan(v)]
        mean_step = float(np.mean(steps)) if steps else 0.0
        out["flicker"] = (255.0 - mean_step) / 255.0  # VBench temporal flickering: 1 means no change at all
        # Dynamic degree without optical flow: the mean fraction of pixels that change between frames.
        out["dynamic_degree"] = float(np.mean(self.changed)) if self.changed else 0.0
        out["frozen"] = out["dynamic_degree"] < FROZEN_BELOW
        out["frames"] = len(self.curves_["mae_prev"])
        return out


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def slope(values: list[float]) -> float | None:
    """Least-squares slope per frame over the finite values; None with fewer than two."""
    points = [(i, v) for i, v in enumerate(values) if v is not None and not math.isnan(v)]
    if len(points) < 2:
        return None
    x, y = np.array(points, dtype=np.float64).T
    return float(np.polyfit(x, y, 1)[0])


def track(frames) -> DriftTracker:
    tracker = DriftTracker()
    for frame in frames:
        tracker.add(frame)
    return tracker
