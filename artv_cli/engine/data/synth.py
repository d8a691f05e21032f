"""A procedural video world for training and scoring without downloads: shapes that move as captioned.

Each video shows one or two objects (a shape in a colour) moving in a stated direction at a stated
speed over a plain, striped or checkered background, filmed by a camera that stays, pans or zooms.
Everything is drawn from the seed and the video's index, so video i is the same whatever N is, and
the ground truth (object centres in pixels, per frame) lets an evaluator score motion exactly.

Written by hand: no library generates captioned motion with exact ground truth.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from artv_cli.engine.data.captions import draw_phrasing, leave_out_look, phrase
from artv_cli.engine.data.video import VideoWriter
from artv_cli.engine.data.world import (  # noqa: F401 (re-exported: the world's words live there)
    ALL_COLOURS,
    ALL_SHAPES,
    BACKGROUND_TONES,
    CAMERAS,
    COLOURS,
    DIRECTIONS,
    PATTERNS,
    SHAPES,
    SPEEDS,
)
from artv_cli.errors import ArtvError


@dataclass
class SynthSettings:
    """Knobs of `artv data synth`."""

    videos: int = 100
    """Number of videos."""
    seed: int = 0
    """Seed of the whole dataset; video i depends only on (seed, i)."""
    frames: int = 24
    """Frames per video."""
    size: int = 64
    """Width and height in pixels."""
    fps: float = 8.0
    """Frames per second of the files."""
    max_objects: int = 2
    """1 or 2 objects per video."""
    cameras: tuple[str, ...] = CAMERAS
    """Camera motions to draw from (static, pan, zoom)."""
    patterns: tuple[str, ...] = PATTERNS
    """Backgrounds to draw from (plain, striped, checkered)."""
    holdout: int = 0
    """Hold out one in this many colour-shape-direction combinations (0: none); see `held_out`."""
    split: str = "train"
    """With holdout: `train` never draws a held-out combination, `test` draws only those."""
    captions: str = "grammar"
    """`grammar`: one wording; `varied`: many phrasings (engine/captions.py), of the split's phrasing set."""
    start: str = "centred"
    """`centred`: each path is centred near the middle, so it stays in view, and where an object starts
    gives its direction away (a model can learn to move towards the middle and ignore the text);
    `anywhere`: the start is drawn independently of the direction, and an object may leave the frame."""
    jitter: int = 0
    """Draw each object's colour and each background tone up to this far (per channel, 0-255) off the
    palette; the caption keeps the palette's name and the ground truth records the colour drawn."""
    shapes: tuple[str, ...] = SHAPES
    """Shapes to draw from (the world's four, and `ring`, which the default model never saw)."""
    colours: tuple[str, ...] = tuple(COLOURS)
    """Object colours to draw from (the world's eight, and `pink`, which the default model never saw)."""
    unnamed: float = 0.0
    """Share of captions of one object that leave out its colour, its shape or both ("the ball", "a red
    object", "it"), so that a model must read what the object looks like from the frames."""


@dataclass
class SynthObject:
    shape: str
    colour: str
    direction: str
    speed: str
    radius: float  # in frame widths
    start: tuple[float, float]  # world position at frame 0, in frame widths
    velocity: tuple[float, float]  # world units per frame
    drawn: tuple[int, int, int] | None = None  # the RGB drawn (the palette's, or jittered off it)
    positions: list[tuple[float, float]] = field(default_factory=list)  # centre in pixels, per frame
    visible: list[bool] = field(default_factory=list)  # centre inside the frame, per frame


@dataclass
class SynthVideo:
    """One video's recipe and its ground truth."""

    index: int
    caption: str
    pattern: str
    tones: tuple[str, str]
    camera: str
    camera_direction: str | None  # pan: where the camera turns; zoom: "in" or "out"
    objects: list[SynthObject]
    camera_path: list[tuple[float, float, float]] = field(default_factory=list)  # (x, y, zoom) per frame
    drawn_tones: tuple[tuple[int, int, int], ...] | None = None  # the background RGBs drawn


def held_out(colour: str, shape: str, direction: str, every: int) -> bool:
    """Whether a colour-shape-direction combination is held out from training (one in `every`).

    The rule is a sum of vocabulary indices modulo `every`, so with every=8 each colour-shape pair keeps 7
    of its 8 directions in training, and every word on its own is still seen: the test prompts are new
    combinations of known words.
    """
    index = list(ALL_COLOURS).index(colour) + ALL_SHAPES.index(shape) + list(DIRECTIONS).index(direction)
    return every > 0 and index % every == 0


def design_video(index: int, settings: SynthSettings) -> SynthVideo:
    """Draw one video's recipe from (seed, index)."""
    rng = np.random.default_rng([settings.seed, index])
    n_objects = 1 if rng.random() < 0.6 or settings.max_objects < 2 else 2
    shapes = rng.choice(
        SHAPES if settings.shapes == SHAPES else list(settings.shapes), size=n_objects, replace=False
    )
    colours = rng.choice(list(settings.colours), size=n_objects, replace=False)
    pattern = str(rng.choice(PATTERNS if settings.patterns == PATTERNS else list(settings.patterns)))
    tones = tuple(str(t) for t in rng.choice(list(BACKGROUND_TONES), size=2, replace=False))
    weights = np.array([{"static": 0.5, "pan": 0.3, "zoom": 0.2}[c] for c in settings.cameras])
    camera = str(rng.choice(list(settings.cameras), p=weights / weights.sum()))
    camera_direction = None
    if camera == "pan":
        camera_direction = str(rng.choice(["left", "right", "up", "down"]))
    elif camera == "zoom":
        camera_direction = str(rng.choice(["in", "out"]))

    span = settings.frames - 1 or 1
    objects = []
    for k in range(n_objects):
        direction = str(rng.choice(list(DIRECTIONS)))
        if settings.holdout:  # redraw until the combination belongs to the split
            while held_out(str(colours[k]), str(shapes[k]), direction, settings.holdout) != (
                settings.split == "test"
            ):
                direction = str(rng.choice(list(DIRECTIONS)))
        speed = str(rng.choice(list(SPEEDS)))
        radius = float(rng.uniform(0.09, 0.14))
        ux, uy = DIRECTIONS[direction]
        travel = SPEEDS[speed]
        if settings.start == "anywhere":  # the start says nothing about the direction
            centre = 0.5 + rng.uniform(-1, 1, size=2) * (0.5 - radius) * 0.8
            half_path = 0.0
        else:  # the path centred near the middle, inside the frame: the start gives the direction away
            slack = max(0.0, 0.5 - radius - travel / 2)
            centre = 0.5 + rng.uniform(-slack, slack, size=2) * 0.8
            half_path = travel / 2
        if n_objects == 2:  # keep two objects apart: one in each half, across the motion
            centre += np.array([-uy, ux]) * (0.18 if k == 0 else -0.18)
        start = (float(centre[0] - ux * half_path), float(centre[1] - uy * half_path))
        velocity = (ux * travel / span, uy * travel / span)
        objects.append(
            SynthObject(str(shapes[k]), str(colours[k]), direction, speed, radius, start, velocity)
        )

    subject = " and ".join(f"{_a(o.colour)} {o.shape} moves {o.direction} {o.speed}" for o in objects)
    background = f"a plain {tones[0]}" if pattern == "plain" else f"{_a(tones[0])} and {tones[1]} {pattern}"
    caption = f"{subject}, on {background} background"
    if camera == "pan":
        caption += f", the camera pans {camera_direction}"
    elif camera == "zoom":
        caption += f", the camera zooms {camera_direction}"
    if settings.captions == "varied" and n_objects == 1 and pattern == "plain" and camera == "static":
        caption = _varied_caption(index, settings, objects[0], tones[0], caption)
    if settings.unnamed and n_objects == 1:  # the colour, the shape or both left out, from its own stream
        rng_unnamed = np.random.default_rng([settings.seed, index, 3])
        if rng_unnamed.random() < settings.unnamed:
            caption = leave_out_look(rng_unnamed, caption, objects[0].colour)
    video = SynthVideo(index, caption, pattern, tones, camera, camera_direction, objects)
    # Off the palette, from a stream of its own so that jitter 0 draws exactly the videos it drew before.
    jitter = np.random.default_rng([settings.seed, index, 2])
    for obj in objects:
        obj.drawn = _off_palette(ALL_COLOURS[obj.colour], jitter, settings.jitter)
    video.drawn_tones = tuple(_off_palette(BACKGROUND_TONES[t], jitter, settings.jitter) for t in tones)
    return video


def _off_palette(rgb, rng: np.random.Generator, jitter: int) -> tuple[int, int, int]:
    offset = rng.integers(-jitter, jitter + 1, size=3) if jitter else np.zeros(3, dtype=int)
    return tuple(int(v) for v in np.clip(np.array(rgb) + offset, 0, 255))


GRAMMAR_SHARE = 0.3
"""With `--captions varied`, this share of training captions keeps the grammar's own wording."""


def _varied_caption(index: int, settings: SynthSettings, obj: SynthObject, tone: str, grammar: str) -> str:
    """A phrasing of the split's set, drawn from its own stream so the video itself does not change."""
    rng = np.random.default_rng([settings.seed, index, 1])
    if settings.split == "train" and rng.random() < GRAMMAR_SHARE:
        return grammar
    phrasing = draw_phrasing(rng, obj.shape, obj.direction, settings.split)
    return phrase(obj.colour, obj.shape, obj.direction, obj.speed, tone, phrasing)


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _camera(video: SynthVideo, frame: int, frames: int) -> tuple[float, float, float]:
    return camera_pose(video.camera, video.camera_direction, frame, frames)


def camera_pose(camera: str, direction: str | None, frame: int, frames: int) -> tuple[float, float, float]:
    """Camera centre (world units) and zoom at a frame: pans move 0.3 frame widths, zooms go 1 <-> 1.5."""
    s = frame / max(1, frames - 1)
    if camera == "pan":
        ux, uy = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}[direction]
        return 0.5 + 0.3 * s * ux, 0.5 + 0.3 * s * uy, 1.0
    if camera == "zoom":
        zoom = 1.0 + 0.5 * s if direction == "in" else 1.5 - 0.5 * s
        return 0.5, 0.5, zoom
    return 0.5, 0.5, 1.0


def _inside(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Which points (offsets from the centre, world units) lie inside the shape."""
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) <= r * 0.85
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= r * 1.2
    if shape == "ring":  # a disc with a hole of half its radius
        return (dx * dx + dy * dy <= r * r) & (dx * dx + dy * dy >= (0.5 * r) ** 2)
    # triangle pointing up: base at +0.7 r, apex at -r (y grows downwards)
    return (dy <= 0.7 * r) & (np.abs(dx) <= 0.9 * (dy + r) / 1.7)


def draw_frame(video: SynthVideo, frame: int, settings: SynthSettings) -> np.ndarray:
    """One frame (S, S, 3) uint8, drawn at twice the size and averaged down (anti-aliasing)."""
    size, supersample = settings.size, 2
    cam_x, cam_y, zoom = _camera(video, frame, settings.frames)
    n = size * supersample
    u = (np.arange(n) + 0.5) / n - 0.5
    wx = cam_x + u[None, :] / zoom  # world coordinates of every sample, (n, n)
    wy = cam_y + u[:, None] / zoom
    wx, wy = np.broadcast_to(wx, (n, n)), np.broadcast_to(wy, (n, n))
    tones = video.drawn_tones or tuple(BACKGROUND_TONES[t] for t in video.tones)
    tone_a, tone_b = (np.array(t, dtype=np.float32) for t in tones)
    if video.pattern == "plain":
        second = np.zeros((n, n), dtype=bool)
    elif video.pattern == "striped":
        second = np.floor((wx + wy) * 8).astype(int) % 2 == 1
    else:
        second = (np.floor(wx * 6).astype(int) + np.floor(wy * 6).astype(int)) % 2 == 1
    image = np.where(second[..., None], tone_b, tone_a)
    for obj in video.objects:
        ox = obj.start[0] + obj.velocity[0] * frame
        oy = obj.start[1] + obj.velocity[1] * frame
        inside = _inside(obj.shape, wx - ox, wy - oy, obj.radius)
        rgb = obj.drawn or ALL_COLOURS[obj.colour]
        image = np.where(inside[..., None], np.array(rgb, dtype=np.float32), image)
    image = image.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))
    return np.clip(image.round(), 0, 255).astype(np.uint8)


def ground_truth(video: SynthVideo, settings: SynthSettings) -> SynthVideo:
    """Fill in the camera path and each object's centre in pixels per frame (what an evaluator checks)."""
    video.camera_path = []
    for obj in video.objects:
        obj.positions, obj.visible = [], []
    for frame in range(settings.frames):
        cam_x, cam_y, zoom = _camera(video, frame, settings.frames)
        video.camera_path.append((round(cam_x, 6), round(cam_y, 6), round(zoom, 6)))
        for obj in video.objects:
            ox = obj.start[0] + obj.velocity[0] * frame
            oy = obj.start[1] + obj.velocity[1] * frame
            px = ((ox - cam_x) * zoom + 0.5) * settings.size
            py = ((oy - cam_y) * zoom + 0.5) * settings.size
            obj.positions.append((round(px, 4), round(py, 4)))
            obj.visible.append(bool(0 <= px < settings.size and 0 <= py < settings.size))
    return video


def check_world(settings: SynthSettings) -> None:
    """Refuse world settings that name unknown things or leave nothing to draw."""
    if settings.max_objects not in (1, 2):
        raise ArtvError(f"--max-objects must be 1 or 2 (got {settings.max_objects})", "use --max-objects 1")
    for flag, values, known in (
        ("--cameras", settings.cameras, CAMERAS),
        ("--patterns", settings.patterns, PATTERNS),
        ("--shapes", settings.shapes, ALL_SHAPES),
        ("--colours", settings.colours, ALL_COLOURS),
    ):
        unknown = [v for v in values if v not in known]
        if unknown or not values:
            raise ArtvError(
                f"{flag}: unknown or empty ({', '.join(unknown) or 'nothing given'})",
                f"give a comma-separated list of {', '.join(known)}",
            )
    problems = (
        (settings.videos < 1, f"--videos must be at least 1 (got {settings.videos})",
         "use --videos 100, for example"),
        (settings.frames < 3, f"--frames must be at least 3 (got {settings.frames})",
         "ART-V trains on a frame and two before it"),
        (settings.size < 16 or settings.size % 8,
         f"--size must be a multiple of 8, at least 16 (got {settings.size})", "use --size 64, for example"),
        (settings.fps <= 0, f"--fps must be positive (got {settings.fps:g})", "use --fps 8, for example"),
        (len(set(settings.shapes)) < settings.max_objects,
         f"--shapes: {settings.max_objects} objects need as many shapes", "give more, or --max-objects 1"),
        (len(set(settings.colours)) < settings.max_objects,
         f"--colours: {settings.max_objects} objects need as many colours", "give more, or --max-objects 1"),
        (settings.holdout < 0 or settings.holdout == 1,
         f"--holdout must be 0 (none) or at least 2 (got {settings.holdout})", "use --holdout 8"),
        (settings.captions not in ("grammar", "varied"),
         f"--captions must be grammar or varied (got {settings.captions!r})", "use --captions varied"),
        (settings.split not in ("train", "test"),
         f"--split must be train or test (got {settings.split!r})", "use --split test"),
        (settings.start not in ("centred", "anywhere"),
         f"--start must be centred or anywhere (got {settings.start!r})", "use --start anywhere"),
        (not 0 <= settings.jitter <= 64, f"--jitter must be 0-64 (got {settings.jitter})",
         "use --jitter 30, for example"),
        (not 0.0 <= settings.unnamed <= 1.0, f"--unnamed must be a share 0-1 (got {settings.unnamed:g})",
         "use --unnamed 0.3"),
    )  # fmt: skip
    for bad, message, fix in problems:
        if bad:
            raise ArtvError(message, fix)
    if settings.split == "test" and not settings.holdout:
        raise ArtvError(
            "--split test needs --holdout", "add --holdout 8 (the same value as the training set)"
        )


def _duration(seconds: float) -> str:
    """WebVid's duration format, such as PT00H00M03S."""
    total = max(1, math.ceil(seconds))
    return f"PT{total // 3600:02d}H{total % 3600 // 60:02d}M{total % 60:02d}S"


def synth_dataset(
    out: Path, settings: SynthSettings, on_video: Callable[[int, int], None] | None = None
) -> Path:
    """Write the dataset in the WebVid layout, plus `ground_truth.jsonl` and `synth.json`.

    Layout: results_synth.csv (videoid,name,page_dir,duration), videos/<page_dir>/<videoid>.mp4.
    Written into OUT.partial and renamed at the end, so an interrupted run leaves nothing that looks done.
    """
    out = Path(out)
    check_world(settings)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ArtvError(f"{out} exists and is not an empty folder", "give a new folder; nothing was changed")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "videos").mkdir(parents=True)
    try:
        rows, truths = [], []
        for index in range(settings.videos):
            video = ground_truth(design_video(index, settings), settings)
            videoid, page_dir = f"{index:06d}", f"{index // 1000:03d}"
            path = partial / "videos" / page_dir / f"{videoid}.mp4"
            with VideoWriter(path, settings.fps, quality=9) as writer:
                for frame in range(settings.frames):
                    writer.append(draw_frame(video, frame, settings))
            rows.append([videoid, video.caption, page_dir, _duration(settings.frames / settings.fps)])
            truths.append({"videoid": videoid, "page_dir": page_dir, **asdict(video)})
            if on_video is not None:
                on_video(index + 1, settings.videos)
        with open(partial / "results_synth.csv", "w", newline="") as handle:
            writer_csv = csv.writer(handle)
            writer_csv.writerow(["videoid", "name", "page_dir", "duration"])
            writer_csv.writerows(rows)
        with open(partial / "ground_truth.jsonl", "w") as handle:
            for truth in truths:
                handle.write(json.dumps(truth) + "\n")
        world = {
            "settings": asdict(settings),
            "colours": COLOURS | {c: ALL_COLOURS[c] for c in settings.colours},
            "background_tones": BACKGROUND_TONES,
            "shapes": list(settings.shapes),
            "patterns": PATTERNS,
            "directions": DIRECTIONS,
            "speeds": SPEEDS,
            "cameras": CAMERAS,
            "coordinates": "positions are object centres in pixels, x right and y down, per frame",
        }
        (partial / "synth.json").write_text(json.dumps(world, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()
    os.replace(partial, out)
    return out
