"""Step 7 of the frame loop: the colour locks, which hold a new frame's colours to the anchor's.

The colour lock shifts the whole frame so that its median colour (the background's, where the subject is
under half the frame) moves towards the anchor's. The subject lock then moves the subject's own colour, the
pixels that stand SUBJECT_GAP or more off the frame's median, towards the anchor's subject colour, each
pixel as far as it covers the subject. Both decode the frame, change its pixels and encode it back, so the
next frame's references carry the corrected colours. They correct colour only: a subject that the model
lost or redrew in another shape stays lost or redrawn (the shape lock, shapes.py, redraws it in the
frames written).

The background lock, for a still camera, then moves each pixel that lies near the anchor's background at
the same place back to it: the faint haze and stains a long video gathers (an object's colour bleeding into
the edge it left by, then spreading) are undone each frame, while the subject, which stands far off the
background, is left alone.
"""

from __future__ import annotations

import numpy as np
import torch

SUBJECT_GAP = 40.0
"""A pixel this far (the largest of its three channel differences, 0-255) from its frame's median colour
belongs to the subject."""

MIN_SUBJECT = 0.002
"""The smallest share of a frame's pixels that counts as a subject (fewer: no subject, nothing locked)."""

MAX_GROWTH = 3.0
"""A frame whose subject covers more than this many times the anchor's subject's share of the frame is
left alone: something other than the subject (a drifting background) stands out, and recolouring it would
grow the subject frame by frame."""

MIN_STRENGTH = 0.5
"""A frame whose subject stands out from its background by less than this share of the anchor's subject's
contrast is left alone: a ghost or a fading trace, which recolouring would make solid and the next frames
would grow (a faint bluish patch on a teal backdrop turned magenta once the magenta subject had left)."""


def median_colours(pixels: np.ndarray) -> np.ndarray:
    """Per-channel median colour (B, 3), as float, of uint8 frames (B, H, W, 3)."""
    return np.median(pixels.reshape(len(pixels), -1, 3), axis=1).astype(np.float32)


def colour_targets(pixels: np.ndarray) -> np.ndarray:
    """(B, 2, 4) of frames (B, H, W, 3): [b, 0] the frame's median colour (and 1), [b, 1] its subject's colour
    and share of the frame. The subject is the pixels SUBJECT_GAP or more off the median; its colour is the
    median of its core (the pixels at least 3/4 as far off as its 95th percentile), so the soft edges that
    a decoder draws do not pull it towards the background. NaN where under MIN_SUBJECT of the frame is."""
    flat = pixels.reshape(len(pixels), -1, 3).astype(np.float32)
    targets = np.full((len(flat), 2, 4), np.nan, dtype=np.float32)
    targets[:, 0, :3], targets[:, 0, 3] = median_colours(pixels), 1.0
    for b, frame in enumerate(flat):
        gap = np.abs(frame - targets[b, 0, :3]).max(axis=1)
        far = gap >= SUBJECT_GAP
        if far.sum() >= max(1, MIN_SUBJECT * len(frame)):
            core = far & (gap >= 0.75 * np.percentile(gap[far], 95))
            targets[b, 1, :3], targets[b, 1, 3] = np.median(frame[core], axis=0), far.mean()
    return targets


def shift_colours(pixels: np.ndarray, targets: np.ndarray, background: float, subject: float) -> np.ndarray:
    """Frames (B, H, W, 3) uint8 with the whole frame shifted `background` of the way from its median colour
    to targets[:, 0], then each pixel moved `subject` of the way from the subject's colour to targets[:, 1]
    in proportion to its coverage: how far along the way from the background to the subject it lies (0 on
    the background, 1 on the subject, between on soft edges and fading traces), so edges stay soft and a
    trace the subject leaves behind is recoloured, not made solid."""
    now = colour_targets(pixels) if subject else None  # its median too: measured once
    shift = background * (targets[:, 0, :3] - (now[:, 0, :3] if subject else median_colours(pixels)))
    moved = pixels + shift[:, None, None, :]
    if subject:
        for b in range(len(pixels)):
            if np.isnan(now[b, 1]).any() or np.isnan(targets[b, 1]).any():
                continue  # no subject in the frame or in the anchor: nothing to move
            if now[b, 1, 3] > MAX_GROWTH * targets[b, 1, 3]:
                continue  # more stands out than the anchor's subject: not the subject alone
            towards = now[b, 1, :3] - now[b, 0, :3]
            if np.linalg.norm(towards) < MIN_STRENGTH * np.linalg.norm(targets[b, 1, :3] - targets[b, 0, :3]):
                continue  # fainter than the subject: a ghost or a trace, not the subject in another colour
            offset = pixels[b].astype(np.float32) - now[b, 0, :3]
            coverage = np.clip(offset @ towards / max(float(towards @ towards), 1.0), 0, 1)[..., None]
            moved[b] += subject * coverage * (targets[b, 1, :3] - (now[b, 1, :3] + shift[b]))
    return np.clip(moved, 0, 255).round().astype(np.uint8)


EDGE = 2
"""Pixels this close (in pixels) to what stands a fade or more off the anchor's background are the
subject's soft edge, and the background lock leaves them alone (pulling them would wear the corners away)."""


def background_image(pixels: np.ndarray) -> np.ndarray:
    """The background lock's target (B, H, W, 3) float of anchor frames (B, H, W, 3): the frame with its
    subject (the pixels SUBJECT_GAP or more off its median colour) and the subject's soft edge (the pixels
    within EDGE of it) filled with that median. Left in, the soft edge stayed behind as a faint outline of
    the anchor's subject wherever the subject moved away from."""
    flat = pixels.astype(np.float32)
    median = median_colours(pixels)[:, None, None, :]
    subject = np.abs(flat - median).max(axis=-1) >= SUBJECT_GAP
    near = torch.nn.functional.max_pool2d(
        torch.from_numpy(subject.astype(np.float32))[:, None], 2 * EDGE + 1, stride=1, padding=EDGE
    )[:, 0].numpy()
    return np.where(near[..., None] > 0, median, flat)


def hold_background(
    pixels: np.ndarray, image: np.ndarray, targets: np.ndarray, strength: float
) -> np.ndarray:
    """Frames (B, H, W, 3) uint8 with each pixel moved back towards the anchor's background `image` (B, H,
    W, 3; `background_image`) at its place: `strength` of the way where it matches it, fading to none at
    the fade distance (SUBJECT_GAP, or half the anchor's subject's contrast where that is less, so that a
    subject of little contrast is not taken for a stain). What stands the fade or more off, and the pixels
    within EDGE of it, are the subject and its soft edge: left alone. Frames whose anchor has no subject
    (NaN in targets[:, 1], `colour_targets`) are left alone: anything in them may be a faint subject."""
    out = pixels.astype(np.float32)
    for b in range(len(pixels)):
        if np.isnan(targets[b, 1]).any():
            continue
        contrast = float(np.abs(targets[b, 1, :3] - targets[b, 0, :3]).max())
        fade = min(SUBJECT_GAP, 0.5 * contrast)
        gap = np.abs(out[b] - image[b]).max(axis=-1)
        far = torch.from_numpy((gap >= fade).astype(np.float32))[None, None]
        edge = torch.nn.functional.max_pool2d(far, 2 * EDGE + 1, stride=1, padding=EDGE)[0, 0].numpy() > 0
        weight = np.where(edge, 0.0, strength * np.clip(1 - gap / fade, 0, 1))[..., None]
        out[b] += weight * (image[b] - out[b])
    return np.clip(out, 0, 255).round().astype(np.uint8)


def lock_colours(
    model,
    z: torch.Tensor,
    targets: np.ndarray,
    background: float,
    subject: float = 0.0,
    still: float = 0.0,
    image: np.ndarray | None = None,
) -> tuple[torch.Tensor, np.ndarray]:
    """The locks on latents z (B, 4, h, w): decode, `shift_colours` towards `targets` (B, 2, 4), then
    `hold_background` towards `image` with strength `still` (0: off), encode back. Returns the new latents
    and the locked uint8 frames."""
    locked = shift_colours(model.decode_latents(z), targets, background, subject)
    if still and image is not None:
        locked = hold_background(locked, image, targets, still)
    z = model.encode_images(torch.from_numpy(locked).permute(0, 3, 1, 2).float() / 127.5 - 1).float()
    return z, locked
