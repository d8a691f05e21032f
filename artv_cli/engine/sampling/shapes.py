"""Step 7 of the frame loop, last: the shape lock, which redraws each subject as the anchor drew it.

The colour locks (colours.py) correct colour only: a square whose corners the model wears away frame by
frame (the autoencoder of a small model rounds a few-pixel corner a little on every pass) stays a circle.
The shape lock, for a still camera, keeps the anchor's subjects as sprites: each connected piece of the
anchor that stands SUBJECT_GAP or more off its median colour, with its soft edge as the sprite's alpha.
Each frame, it finds where the model moved each sprite (the place, to a fraction of a pixel, where the
sprite best covers pixels of its colour and leaves out the rest), and moves the frame towards the anchor's
background with the sprite drawn there. The model decides where things go; the anchor decides what they
look like. Only the frame written is changed (the loop applies it after encoding the frame back): drawn into
the model's own references, the crisp sprite erased the cues the model reads its motion from, and slow
objects stopped. A sprite the frame shows too little of is either gone (left the frame: not drawn) or lost
(the model shrank it or let it fade): drawn one step on from where it was, at its last step, and that
frame given to the model as its reference, so that the model draws the subject on instead of losing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from artv_cli.engine.sampling.colours import EDGE, MIN_SUBJECT, SUBJECT_GAP, background_image

MIN_COVER = 0.15
"""A pixel covers a sprite if it lies at least this share of the way from the median colour to the
sprite's colour (less: the background's own noise)."""

MAX_SPRITES = 8
"""The most sprites an anchor gives, its largest pieces: the lock is for a few subjects on a plain ground."""

MISS = 0.25
"""What placing a sprite on a pixel of the frame that does not cover it costs, against the 1 a covering
pixel gains (outside the frame: nothing either way). Under 1, so that a half-drawn object (the model's
triangle of a square) still draws the sprite to it rather than out of the frame."""

MIN_SEEN = 0.25
"""A sprite is drawn only where the frame shows at least this share of it (less: it left, or was lost)."""


@dataclass
class Sprite:
    """One subject piece of the anchor, as the shape lock draws it."""

    image: np.ndarray
    """(H, W, 4) float: its colours premultiplied by its alpha (the frame less the background's share, so
    a soft edge is drawn once, not over the background twice), and its alpha (how far each pixel lies from
    the median colour to the piece's colour, 0-1); zero away from the piece."""
    colour: np.ndarray
    """(3,) its own colour: the median of its core (alpha at least 3/4 of its largest), unpremultiplied."""
    reach: int
    """How far from it (pixels) what is left of the model's own drawing of it is taken in: half its size
    and EDGE."""
    place: tuple[float, float] = (0.0, 0.0)
    """Where it was drawn last (its shift from the anchor's place, dx, dy): the track, per video."""
    step: tuple[float, float] = (0.0, 0.0)
    """How far it moved between the last two frames it was found in: where a lost one goes next."""


def subject_sprites(pixels: np.ndarray) -> list[list[Sprite]]:
    """The shape lock's sprites of anchor frames (B, H, W, 3) uint8, once a video: per frame, one per
    connected subject piece of at least MIN_SUBJECT of the frame (the MAX_SPRITES largest)."""
    out = []
    for frame, behind in zip(pixels.astype(np.float32), background_image(pixels), strict=True):
        median = np.median(frame.reshape(-1, 3), axis=0)
        far = np.abs(frame - median).max(axis=-1) >= SUBJECT_GAP
        labels = _components(far)
        sprites = []
        found, sizes = np.unique(labels[far], return_counts=True)
        for label in found[np.argsort(-sizes, kind="stable")][:MAX_SPRITES]:
            piece = labels == label
            if piece.mean() < MIN_SUBJECT:
                break  # the rest are smaller still
            alpha = _cover(frame, median, np.median(frame[piece], axis=0))
            near = _grow(piece, EDGE)
            alpha = np.where(near, alpha, 0.0)  # its soft edge, not another piece of its colour
            if alpha.max() < 0.5:
                continue  # no pixel of it is near its own colour: a smear of many colours, no sprite
            colours = np.where(near[..., None], frame - (1 - alpha[..., None]) * behind, 0.0)
            image = np.concatenate([colours, alpha[..., None]], axis=-1).astype(np.float32)
            alpha = image[..., 3]
            core = alpha >= 0.75 * alpha.max()
            rows, cols = np.nonzero(alpha)
            reach = int(max(rows.max() - rows.min(), cols.max() - cols.min())) // 2 + EDGE
            sprites.append(Sprite(image, np.median(image[core][:, :3] / alpha[core][:, None], axis=0), reach))
        out.append(sprites)
    return out


def hold_shape(
    pixels: np.ndarray, sprites: list[list[Sprite]], background: np.ndarray, strength: float
) -> tuple[np.ndarray, np.ndarray]:
    """Frames (B, H, W, 3) uint8 moved `strength` of the way towards the anchor's `background` (B, H, W, 3;
    colours.background_image) with each of its `sprites` drawn where the frame shows it, in the pixels
    the sprite covers and those of its colour within half its size of it (what is left of the model's own
    drawing of it), and EDGE round them; the rest untouched. A sprite the frame shows under MIN_SEEN of
    is drawn one step on from where it was last (the model lost or shrank it), if MIN_SEEN of it is then
    in the frame (else it left: not drawn). Returns the frames and, per frame, whether a lost sprite was
    drawn back (the loop gives the model that frame as its reference, so that it draws the subject on)."""
    out = pixels.astype(np.float32)
    redrawn = np.zeros(len(out), dtype=bool)
    for b, frame in enumerate(out):
        median = np.median(frame.reshape(-1, 3), axis=0)
        for sprite in sprites[b]:
            cover = _cover(frame, median, sprite.colour)
            place = _locate(cover, sprite.image[..., 3])
            if place is None:  # lost or gone: one step on, if that is still in the frame
                place = (sprite.place[0] + sprite.step[0], sprite.place[1] + sprite.step[1])
                alpha = sprite.image[..., 3]
                if _shift(alpha[..., None], *place).sum() < MIN_SEEN * alpha.sum():
                    continue
                redrawn[b] = True
            else:
                sprite.step = (place[0] - sprite.place[0], place[1] - sprite.place[1])
            sprite.place = place
            moved = _shift(sprite.image, *place)
            drawn = np.clip(moved[..., 3:], 0, 1)
            target = moved[..., :3] + (1 - drawn) * background[b]  # premultiplied sprite over the background
            region = _grow((cover > 0) & _grow(drawn[..., 0] > 0, sprite.reach) | (drawn[..., 0] > 0), EDGE)
            frame += strength * region[..., None] * (target - frame)
    return np.clip(out, 0, 255).round().astype(np.uint8), redrawn


def _cover(frame: np.ndarray, median: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """(H, W) how far each pixel lies along the way from `median` to `colour` (0-1): 0 under MIN_COVER, and
    0 where the pixel lies off that way by more than half its length (another colour: a white box is not
    a cover of a dark fringe, though it lies beyond it)."""
    towards = colour - median
    offset = frame - median
    along = np.clip(offset @ towards / max(float(towards @ towards), 1.0), 0, 1)
    off_way = np.abs(offset - along[..., None] * towards).max(axis=-1)
    keep = (along >= MIN_COVER) & (off_way <= 0.5 * np.abs(towards).max())
    return np.where(keep, along, 0.0).astype(np.float32)


def _grow(mask: np.ndarray, reach: int) -> np.ndarray:
    """A boolean mask grown by `reach` pixels every way (a square's reach: rows, then columns)."""
    grown = torch.from_numpy(mask.astype(np.float32))[None, None]
    grown = F.max_pool2d(grown, (1, 2 * reach + 1), stride=1, padding=(0, reach))
    return F.max_pool2d(grown, (2 * reach + 1, 1), stride=1, padding=(reach, 0))[0, 0].numpy() > 0


def _components(mask: np.ndarray) -> np.ndarray:
    """(H, W) int labels of the 8-connected pieces of a boolean mask (each pixel's label: the largest
    index in its piece), by repeated 3x3 max-pooling of the indices inside the mask."""
    inside = torch.from_numpy(mask)
    labels = torch.where(inside, torch.arange(1, mask.size + 1).reshape(mask.shape), 0).float()[None, None]
    while True:
        grown = torch.where(inside, F.max_pool2d(labels, 3, stride=1, padding=1), 0.0)
        if torch.equal(grown, labels):
            return labels[0, 0].long().numpy()
        labels = grown


def _locate(cover: np.ndarray, alpha: np.ndarray) -> tuple[float, float] | None:
    """The shift (dx, dy), to a fraction of a pixel, that moves `alpha` to where `cover` shows it: the one
    that most covers covered pixels, less MISS for each pixel of the frame it covers that does not cover
    it (a sprite partly out of the frame is placed partly out, not pulled in); None where the cover there
    shows under MIN_SEEN of it (each pixel as far as it covers)."""
    rows, cols = np.nonzero(alpha > 0)
    top, left = rows.min(), cols.min()
    kernel = torch.from_numpy(alpha[top : rows.max() + 1, left : cols.max() + 1].copy())
    kh, kw = kernel.shape
    field = F.pad(torch.from_numpy((1 + MISS) * cover - MISS), (kw, kw, kh, kh))  # outside the frame: 0
    # every placement's score at once: the correlation of the field with the sprite, by FFT
    size = field.shape
    score = torch.fft.irfft2(torch.fft.rfft2(field, s=size) * torch.fft.rfft2(kernel, s=size).conj(), s=size)
    score = score[: size[0] - kh + 1, : size[1] - kw + 1].numpy()
    y, x = np.unravel_index(np.argmax(score), score.shape)
    padded = F.pad(torch.from_numpy(cover), (kw, kw, kh, kh))[y : y + kh, x : x + kw]
    if float((padded * kernel).sum()) < MIN_SEEN * float(kernel.sum()):
        return None  # what shows of it there (a half-drawn one counts half) is under MIN_SEEN
    dx, dy = int(x - kw - left), int(y - kh - top)  # the best whole-pixel shift
    # to a fraction of a pixel: the cover's centroid against the sprite's, round the whole-pixel place,
    # where the sprite lies wholly in the frame (a peak fitted to the scores is pulled to whole pixels,
    # and a slow object's steps are a fraction of one)
    height, width = cover.shape
    ys, xs = rows + dy, cols + dx
    if ys.min() >= 2 and xs.min() >= 2 and ys.max() < height - 2 and xs.max() < width - 2:
        window = np.zeros_like(cover, dtype=bool)
        window[ys.min() - 2 : ys.max() + 3, xs.min() - 2 : xs.max() + 3] = True
        weights = np.where(window, cover, 0.0)
        at = np.nonzero(weights)
        mass = alpha[rows, cols]
        fx = (at[1] * weights[at]).sum() / weights.sum() - (xs * mass).sum() / mass.sum()
        fy = (at[0] * weights[at]).sum() / weights.sum() - (ys * mass).sum() / mass.sum()
        return dx + float(np.clip(fx, -1, 1)), dy + float(np.clip(fy, -1, 1))
    return float(dx), float(dy)  # at the frame's edge: whole pixels (a fitted peak there is lopsided)


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """(H, W, C) float moved by (dx, dy) pixels, bilinear, zeros from outside."""
    height, width = image.shape[:2]
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    theta = torch.tensor([[[1, 0, -2 * dx / width], [0, 1, -2 * dy / height]]], dtype=torch.float32)
    grid = F.affine_grid(theta, list(tensor.shape), align_corners=False)
    return F.grid_sample(tensor, grid, align_corners=False)[0].permute(1, 2, 0).numpy()
