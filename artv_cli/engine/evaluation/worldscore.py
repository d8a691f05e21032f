"""Score videos of the synthetic world (`artv data synth`) against their prompts, exactly and without weights.

A prompt in the world's grammar names each object's colour, shape, direction and speed, the background
and the camera; a prompt in any other phrasing of the world's words (engine/captions.py) is read for one
object. The scorer finds each object by its colour, tracks its centre, classifies its shape from its
silhouette, and checks the motion against what the prompt implies (camera motion included). Per object it
reports colour, shape, direction and speed checks, the asked background against the frame's border, how
often the object is found with its colour and shape while the world says it is in view, and how far the
object's and background's colours drift from the first frame.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from artv_cli.engine.data.captions import parse_free
from artv_cli.engine.data.synth import BACKGROUND_TONES, DIRECTIONS, SPEEDS, camera_pose
from artv_cli.engine.data.world import ALL_COLOURS, ALL_SHAPES

COLOUR_TOLERANCE = 50  # largest per-channel difference from the palette colour that still counts
BACKGROUND_TOLERANCE = 40  # largest per-channel difference of the border's median from the asked tone
MIN_AREA = 0.001  # of the frame: smaller blobs are noise
_DIRECTION_WORDS = "|".join(sorted(DIRECTIONS, key=len, reverse=True))  # longest first: "up and to the left"
_OBJECT = re.compile(
    rf"an? ({'|'.join(ALL_COLOURS)}) ({'|'.join(ALL_SHAPES)}) moves ({_DIRECTION_WORDS}) ({'|'.join(SPEEDS)})"
)
_CAMERA = re.compile(r"the camera (pans|zooms) (left|right|up|down|in|out)")
_PLAIN = re.compile(rf"on a plain ({'|'.join(BACKGROUND_TONES)}) background")


@dataclass
class PromptObject:
    colour: str
    shape: str | None
    direction: str | None
    speed: str | None  # None: the prompt does not say


@dataclass
class WorldPrompt:
    objects: list[PromptObject]
    camera: str = "static"
    camera_direction: str | None = None
    background: str | None = None  # the asked plain background tone; None: not said, or not plain


def parse_prompt(prompt: str) -> WorldPrompt | None:
    """The objects, background and camera a prompt states, or None if it is not of the synthetic world.

    The grammar's own wording (one or two objects, any background, a camera) is read exactly; any other
    phrasing is read for one object on a plain background under a still camera (`captions.parse_free`).
    """
    subject = prompt.split(", on ")[0]
    parts = subject.split(" and a")
    objects = []
    for number, part in enumerate(parts):
        text = part if number == 0 else "a" + part
        match = _OBJECT.fullmatch(text.strip())
        if match is None:
            return _parse_free(prompt)
        objects.append(PromptObject(*match.groups()))
    plain = _PLAIN.search(prompt)
    background = plain.group(1) if plain else None
    camera = _CAMERA.search(prompt)
    if camera is None:
        return WorldPrompt(objects, background=background)
    kind = "pan" if camera.group(1) == "pans" else "zoom"
    return WorldPrompt(objects, kind, camera.group(2), background)


def _parse_free(prompt: str) -> WorldPrompt | None:
    found = parse_free(prompt)
    if found is None or found.shape is None and found.direction is None:
        return None
    return WorldPrompt(
        [PromptObject(found.colour, found.shape, found.direction, found.speed)], background=found.background
    )


@dataclass
class _Track:
    centres: list[tuple[float, float] | None] = field(default_factory=list)
    areas: list[float] = field(default_factory=list)
    colours: list[np.ndarray | None] = field(default_factory=list)
    shapes: list[str] = field(default_factory=list)
    frame_shapes: list[str | None] = field(
        default_factory=list
    )  # per frame; None: not found or at the border


def classify_shape(mask: np.ndarray) -> str | None:
    """circle, square, triangle, diamond or ring from a silhouette; None if it touches the frame's border."""
    rows, cols = np.nonzero(mask)
    if len(rows) < 20:
        return None
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    if top == 0 or left == 0 or bottom == mask.shape[0] - 1 or right == mask.shape[1] - 1:
        return None
    fill = len(rows) / ((bottom - top + 1) * (right - left + 1))
    middle_row, middle_col = (top + bottom) // 2, (left + right) // 2
    if fill < 0.75 and not mask[middle_row - 1 : middle_row + 2, middle_col - 1 : middle_col + 2].any():
        return "ring"  # the only shape with a hole: its centre is background
    if fill > 0.9:
        return "square"
    if fill > 0.66:
        return "circle"
    widths = mask[top : bottom + 1].sum(axis=1).astype(float)
    third = max(1, len(widths) // 3)
    upper, lower = widths[:third].mean(), widths[-third:].mean()
    return "triangle" if upper < 0.6 * lower else "diamond"


class WorldScorer:
    """Feed a video's frames in order, then `result()` for its checks.

    `clip_frames` is the clip length the world's speeds are stated for (a speed is a distance over a
    clip: 16 for the default model's world); None takes the video's own length, as the dataset does.
    """

    def __init__(self, prompt: WorldPrompt, clip_frames: int | None = None):
        self.prompt = prompt
        self.clip_frames = clip_frames
        self.tracks = [_Track() for _ in prompt.objects]
        self.size: tuple[int, int] | None = None
        self.borders: list[np.ndarray] = []  # median colour of each frame's border pixels

    def add(self, frame: np.ndarray) -> None:
        self.size = frame.shape[:2]
        pixels = frame.astype(np.int16)
        border = np.concatenate([frame[0], frame[-1], frame[1:-1, 0], frame[1:-1, -1]]).astype(np.float64)
        background = np.median(border, axis=0)
        self.borders.append(background)
        for obj, track in zip(self.prompt.objects, self.tracks, strict=True):
            target = np.array(ALL_COLOURS[obj.colour], dtype=np.int16)
            distance = np.abs(pixels - target).max(axis=-1)
            core = distance <= COLOUR_TOLERANCE
            area = core.mean()
            track.areas.append(float(area))
            if area < MIN_AREA:
                track.centres.append(None)
                track.colours.append(None)
                track.frame_shapes.append(None)
                continue
            # The silhouette: pixels nearer the object's colour than the background's (the half-way
            # threshold), so soft edges from a decoder neither grow nor shrink the shape.
            to_background = np.abs(pixels - background.astype(np.int16)).max(axis=-1)
            silhouette = (distance < to_background) & (distance <= 2 * COLOUR_TOLERANCE) | core
            rows, cols = np.nonzero(silhouette)
            track.centres.append((float(cols.mean()) + 0.5, float(rows.mean()) + 0.5))
            track.colours.append(frame[core].astype(np.float64).mean(axis=0))
            shape = classify_shape(silhouette)
            track.frame_shapes.append(shape if shape is not None else "border")
            if shape is not None:
                track.shapes.append(shape)

    def _frames_per_clip(self) -> int:
        return self.clip_frames or len(self.tracks[0].centres)

    def _speed_px(self, speed: str) -> float:
        """Pixels per frame of a speed word, at this video's size."""
        return SPEEDS[speed] * self.size[1] / max(1, self._frames_per_clip() - 1)

    def _expected_motion(
        self, obj: PromptObject, first: int, last: int, start: tuple[float, float], speed: str
    ) -> np.ndarray:
        """Image displacement (pixels) from frame `first` to `last` that the prompt implies."""
        frames = len(self.tracks[0].centres)
        height, width = self.size
        ux, uy = DIRECTIONS[obj.direction]
        per_frame = SPEEDS[speed] / max(1, self._frames_per_clip() - 1)
        cam0 = camera_pose(self.prompt.camera, self.prompt.camera_direction, first, frames)
        # the object's world position at `first`, from where it is seen
        wx = (start[0] / width - 0.5) / cam0[2] + cam0[0]
        wy = (start[1] / height - 0.5) / cam0[2] + cam0[1]
        wx += ux * per_frame * (last - first)
        wy += uy * per_frame * (last - first)
        cam1 = camera_pose(self.prompt.camera, self.prompt.camera_direction, last, frames)
        end = ((wx - cam1[0]) * cam1[2] + 0.5) * width, ((wy - cam1[1]) * cam1[2] + 0.5) * height
        return np.array(end) - np.array(start)

    def _seen_speed(self, obj: PromptObject, track: _Track) -> str | None:
        """The speed whose implied motion is nearer the seen one (first to last frame seen); None where it
        cannot be read (seen once, or no direction asked)."""
        seen = [i for i, c in enumerate(track.centres) if c is not None]
        if len(seen) < 2 or not obj.direction:
            return None
        first, last = seen[0], seen[-1]
        moved = np.array(track.centres[last]) - np.array(track.centres[first])
        gaps = {
            s: float(np.linalg.norm(moved - self._expected_motion(obj, first, last, track.centres[first], s)))
            for s in SPEEDS
        }
        return min(gaps, key=gaps.get)

    def _view_speed(self, obj: PromptObject, track: _Track) -> str:
        """The speed the in-view frames are counted at: the asked one; not asked, the one the object was
        seen to move at (an object that "moves down" quickly and leaves has not been lost), else slowly."""
        return obj.speed or self._seen_speed(obj, track) or "slowly"

    def _in_view(self, obj: PromptObject, track: _Track, first: int, speed: str) -> list[int]:
        """The frames from `first` on where the world says the object is in view (its asked path from where
        it is first seen, at least about a radius inside the frame); none under a moving camera."""
        height, width = self.size
        start = np.array(track.centres[first])
        step = np.array(DIRECTIONS[obj.direction]) * self._speed_px(speed) if obj.direction else np.zeros(2)
        margin = 0.12 * width  # about an object's radius: half out of view is out of view
        in_view = []
        for i in range(first, len(track.centres)):
            x, y = start + step * (i - first)
            if margin <= x <= width - margin and margin <= y <= height - margin:
                in_view.append(i)
        return in_view if self.prompt.camera == "static" else []

    def _identity(self, obj: PromptObject, track: _Track, first: int, speed: str) -> tuple[float | None, int]:
        """Share of the frames, while the world says the object is in view, where it is found with its
        colour and (away from the border) its shape; and how many frames that is."""
        in_view = self._in_view(obj, track, first, speed)
        if not in_view:
            return None, 0
        good = [
            track.frame_shapes[i] is not None
            and (obj.shape is None or track.frame_shapes[i] in (obj.shape, "border"))
            for i in in_view
        ]
        return float(np.mean(good)), len(in_view)

    def look_kept(self, index: int, tolerance: float = 20) -> float | None:
        """Share of the in-view frames where object `index` is found with its own colour of the first
        frame it is seen in (every channel within `tolerance`, 0-255) and, away from the border, its
        shape: the object kept as it was drawn, not snapped to a palette colour. None if never seen."""
        parts = self.look_parts(index, tolerance)
        return None if parts is None else parts["kept"]

    def look_parts(self, index: int, tolerance: float = 20) -> dict | None:
        """`look_kept` ("kept") and its parts over the same in-view frames: the share where the object is
        found; of those, the share with its colour within `tolerance` and the share with its shape; and
        the median worst-channel difference from its first colour there; and the share of the later frames
        found whose colour is nearer the palette colour of its name than its first colour (a denoiser that
        draws the named colour instead of the picture's). None if never seen."""
        obj, track = self.prompt.objects[index], self.tracks[index]
        seen = [i for i, c in enumerate(track.centres) if c is not None]
        if not seen:
            return None
        in_view = self._in_view(obj, track, seen[0], self._view_speed(obj, track))
        if not in_view:
            return None
        own = track.colours[seen[0]]
        found = [i for i in in_view if track.colours[i] is not None]
        difference = {i: float(np.abs(track.colours[i] - own).max()) for i in found}
        shape = {
            i: track.frame_shapes[i] is not None
            and (obj.shape is None or track.frame_shapes[i] in (obj.shape, "border"))
            for i in found
        }
        nearer = []
        if obj.colour in ALL_COLOURS:  # a prompt that names no colour has no palette colour to be near
            palette = np.array(ALL_COLOURS[obj.colour], dtype=float)
            nearer = [
                float(np.abs(track.colours[i] - palette).max()) < difference[i] for i in found if i > seen[0]
            ]
        return {
            "kept": sum(difference[i] <= tolerance and shape[i] for i in found) / len(in_view),
            "found": len(found) / len(in_view),
            "colour": float(np.mean([d <= tolerance for d in difference.values()])) if found else None,
            "shape": float(np.mean(list(shape.values()))) if found else None,
            "colour_difference": float(np.median(list(difference.values()))) if found else None,
            "palette_nearer": float(np.mean(nearer)) if nearer else None,
        }

    def result(self) -> dict:
        objects = []
        for obj, track in zip(self.prompt.objects, self.tracks, strict=True):
            seen = [i for i, c in enumerate(track.centres) if c is not None]
            found = len(seen) >= max(2, len(track.centres) // 2)
            record = {
                "colour": obj.colour,
                "shape": obj.shape,
                "direction": obj.direction,
                "speed": obj.speed,
            }
            record["colour_ok"] = found
            votes = Counter(track.shapes).most_common()  # ties go to the shape seen first: deterministic
            record["shape_seen"] = votes[0][0] if votes else None
            record["shape_ok"] = (found and record["shape_seen"] == obj.shape) if obj.shape else None
            record["direction_ok"] = False if obj.direction else None
            record["speed_ok"] = False if obj.speed else None
            record["speed_seen"] = None
            record["moving"] = False
            record["identity"] = None
            record["motion_px"] = record["expected_motion_px"] = None
            if found:
                first, last = seen[0], seen[-1]
                speed = obj.speed or "slowly"  # not said: the slower speed is the least to expect
                moved = np.array(track.centres[last]) - np.array(track.centres[first])
                distance = float(np.linalg.norm(moved))
                record["motion_px"] = [round(float(v), 2) for v in moved]
                slow_travel = self._speed_px("slowly") * (last - first)
                record["moving"] = bool(distance >= 0.5 * slow_travel and distance >= 1.0)
                record["speed_seen"] = self._seen_speed(obj, track)
                if obj.speed and record["speed_seen"]:
                    record["speed_ok"] = record["speed_seen"] == obj.speed
                if obj.direction:
                    expected = self._expected_motion(obj, first, last, track.centres[first], speed)
                    record["expected_motion_px"] = [round(float(v), 2) for v in expected]
                    if np.linalg.norm(expected) < 2:  # the prompt implies almost no visible motion
                        record["direction_ok"] = None
                    else:
                        cosine = moved @ expected / (distance * np.linalg.norm(expected) + 1e-9)
                        far_enough = distance >= 0.3 * np.linalg.norm(expected)
                        record["direction_ok"] = bool(cosine >= math.cos(math.radians(45)) and far_enough)
                view_speed = obj.speed or record["speed_seen"] or "slowly"  # as _view_speed, read once
                identity, frames_in_view = self._identity(obj, track, first, view_speed)
                record["identity"] = None if identity is None else round(identity, 4)
                record["frames_in_view"] = frames_in_view
                colours = [track.colours[i] for i in seen]
                record["colour_drift"] = round(float(np.linalg.norm(colours[-1] - colours[0])), 3)
                record["area_ratio"] = round(track.areas[last] / track.areas[first], 4)
            checks = [record["colour_ok"], record["shape_ok"], record["direction_ok"], record["speed_ok"]]
            record["checks_passed"] = sum(1 for c in checks if c)
            record["checks"] = sum(1 for c in checks if c is not None)
            objects.append(record)
        background = self._background()
        passed = sum(o["checks_passed"] for o in objects) + (1 if background["background_ok"] else 0)
        total = sum(o["checks"] for o in objects) + (0 if background["background_ok"] is None else 1)
        return {
            "objects": objects,
            **background,
            "accuracy": passed / total if total else None,
            "all_ok": passed == total,
        }

    def _background(self) -> dict:
        """The asked tone against frame 0's border, and the border's colour shift from frame 0 (0-255)."""
        first = self.borders[0]
        shifts = [float(np.linalg.norm(b - first)) for b in self.borders]
        asked = self.prompt.background
        ok = None
        if asked is not None:
            ok = bool(np.abs(first - np.array(BACKGROUND_TONES[asked])).max() <= BACKGROUND_TOLERANCE)
        return {
            "background": asked,
            "background_ok": ok,
            "background_shift": round(shifts[-1], 3),
            "background_shift_max": round(max(shifts), 3),
        }


def summarise(results: list[dict]) -> dict:
    """Dataset-level prompt-following accuracy and drift from per-video results (None where not asked)."""
    objects = [o for r in results for o in r["objects"]]

    def rate(values: list) -> float | None:
        values = [v for v in values if v is not None]
        return round(float(np.mean(values)), 4) if values else None

    drifts = [o["colour_drift"] for o in objects if o.get("colour_drift") is not None]
    return {
        "videos": len(results),
        "accuracy": rate([r["accuracy"] for r in results]),
        "all_ok_rate": rate([r["all_ok"] for r in results]),
        "colour_accuracy": rate([o["colour_ok"] for o in objects]),
        "shape_accuracy": rate([o["shape_ok"] for o in objects]),
        "direction_accuracy": rate([o["direction_ok"] for o in objects]),
        "speed_accuracy": rate([o["speed_ok"] for o in objects]),
        "slow_moving_rate": rate([o["moving"] for o in objects if o["speed"] == "slowly"]),
        "background_accuracy": rate([r.get("background_ok") for r in results]),
        "identity_rate": rate([o.get("identity") for o in objects]),
        "mean_colour_drift": round(float(np.mean(drifts)), 3) if drifts else None,
        "max_background_shift": round(max(r["background_shift_max"] for r in results), 3)
        if results
        else None,
    }
