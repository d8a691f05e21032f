"""Step 7 of the frame loop: the colour locks, which hold a new frame's colours to the anchor's.

The colour lock shifts the whole frame so that its median colour (the background's, where the subject is
under half the frame) moves towards the anchor's. The subject lock then moves the subject's own colour, the
pixels that stand SUBJECT_GAP or more off the frame's median, towards the anchor's subject colour, with a
soft edge. Both decode the frame, change its pixels and encode it back, so the next frame's references
carry the corrected colours. They correct colour only: a subject that the model lost or redrew in another
shape stays lost or redrawn.
"""

from __future__ import annotations

import numpy as np
import torch

SUBJECT_GAP = 40.0
"""A pixel this far (the largest of its three channel differences, 0-255) from its frame's median colour
belongs to the subject; half as far, it is the subject's soft edge."""

MIN_SUBJECT = 0.002
"""The smallest share of a frame's pixels that counts as a subject (fewer: no subject, nothing locked)."""


def median_colours(pixels: np.ndarray) -> np.ndarray:
    """Per-channel median colour (B, 3), as float, of uint8 frames (B, H, W, 3)."""
    return np.median(pixels.reshape(len(pixels), -1, 3), axis=1).astype(np.float32)


def colour_targets(pixels: np.ndarray) -> np.ndarray:
    """(B, 2, 3) colours of frames (B, H, W, 3): each frame's median colour, and its subject's median colour
    (the pixels SUBJECT_GAP or more off the median; NaN where fewer than MIN_SUBJECT of the frame are)."""
    flat = pixels.reshape(len(pixels), -1, 3).astype(np.float32)
    targets = np.full((len(flat), 2, 3), np.nan, dtype=np.float32)
    targets[:, 0] = median_colours(pixels)
    for b, frame in enumerate(flat):
        far = np.abs(frame - targets[b, 0]).max(axis=1) >= SUBJECT_GAP
        if far.sum() >= max(1, MIN_SUBJECT * len(frame)):
            targets[b, 1] = np.median(frame[far], axis=0)
    return targets


def shift_colours(pixels: np.ndarray, targets: np.ndarray, background: float, subject: float) -> np.ndarray:
    """Frames (B, H, W, 3) uint8 with the whole frame shifted `background` of the way from its median colour
    to targets[:, 0], then its subject's pixels `subject` of the way from their colour to targets[:, 1]."""
    shift = background * (targets[:, 0] - median_colours(pixels))
    moved = pixels + shift[:, None, None, :]
    if subject:
        now = colour_targets(pixels)
        for b in range(len(pixels)):
            if np.isnan(now[b, 1]).any() or np.isnan(targets[b, 1]).any():
                continue  # no subject in the frame or in the anchor: nothing to move
            gap = np.abs(pixels[b].astype(np.float32) - now[b, 0]).max(axis=-1, keepdims=True)
            edge = np.clip((gap - SUBJECT_GAP / 2) / (SUBJECT_GAP / 2), 0, 1)  # 0 below half the gap, 1 at it
            moved[b] += subject * edge * (targets[b, 1] - (now[b, 1] + shift[b]))
    return np.clip(moved, 0, 255).round().astype(np.uint8)


def lock_colours(
    model, z: torch.Tensor, targets: np.ndarray, background: float, subject: float = 0.0
) -> tuple[torch.Tensor, np.ndarray]:
    """The locks on latents z (B, 4, h, w): decode, `shift_colours` towards `targets` (B, 2, 3), encode
    back. Returns the new latents and the shifted uint8 frames."""
    locked = shift_colours(model.decode_latents(z), targets, background, subject)
    z = model.encode_images(torch.from_numpy(locked).permute(0, 3, 1, 2).float() / 127.5 - 1).float()
    return z, locked
