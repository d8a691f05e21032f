"""Score videos of the synthetic world (`artv data synth`) against their prompts, exactly and without weights.

A prompt in the world's grammar names each object's colour, shape, direction and speed, and the camera.
The scorer finds each object by its colour, tracks its centre, classifies its shape from its silhouette,
and checks the motion against what the prompt implies (camera motion included). Per object it reports
colour, shape and direction checks and how far the object's colour and size drift from the first frame.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from artv_cli.engine.synth import COLOURS, DIRECTIONS, SHAPES, SPEEDS, camera_pose

COLOUR_TOLERANCE = 50  # largest per-channel difference from the palette colour that still counts
MIN_AREA = 0.001  # of the frame: smaller blobs are noise
_DIRECTION_WORDS = "|".join(sorted(DIRECTIONS, key=len, reverse=True))  # longest first: "up and to the left"
_OBJECT = re.compile(
    rf"an? ({'|'.join(COLOURS)}) ({'|'.join(SHAPES)}) moves ({_DIRECTION_WORDS}) ({'|'.join(SPEEDS)})"
)
_CAMERA = re.compile(r"the camera (pans|zooms) (left|right|up|down|in|out)")


@dataclass
class PromptObject:
    colour: str
    shape: str
    direction: str
    speed: str


@dataclass
class WorldPrompt:
    objects: list[PromptObject]
    camera: str = "static"
    camera_direction: str | None = None


def parse_prompt(prompt: str) -> WorldPrompt | None:
    """The objects and camera a prompt states, or None if it is not in the synthetic world's grammar."""
    subject = prompt.split(", on ")[0]
    parts = subject.split(" and a")
    objects = []
    for number, part in enumerate(parts):
        text = part if number == 0 else "a" + part
        match = _OBJECT.fullmatch(text.strip())
        if match is None:
            return None
        objects.append(PromptObject(*match.groups()))
    camera = _CAMERA.search(prompt)
    if camera is None:
        return WorldPrompt(objects)
    kind = "pan" if camera.group(1) == "pans" else "zoom"
    return WorldPrompt(objects, kind, camera.group(2))


@dataclass
class _Track:
    centres: list[tuple[float, float] | None] = field(default_factory=list)
    areas: list[float] = field(default_factory=list)
    colours: list[np.ndarray | None] = field(default_factory=list)
    shapes: list[str] = field(default_factory=list)


def classify_shape(mask: np.ndarray) -> str | None:
    """circle, square, triangle or diamond from a silhouette; None if it touches the frame's border."""
    rows, cols = np.nonzero(mask)
    if len(rows) < 20:
        return None
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    if top == 0 or left == 0 or bottom == mask.shape[0] - 1 or right == mask.shape[1] - 1:
        return None
    fill = len(rows) / ((bottom - top + 1) * (right - left + 1))
    if fill > 0.9:
        return "square"
    if fill > 0.66:
        return "circle"
    widths = mask[top : bottom + 1].sum(axis=1).astype(float)
    third = max(1, len(widths) // 3)
    upper, lower = widths[:third].mean(), widths[-third:].mean()
    return "triangle" if upper < 0.6 * lower else "diamond"


class WorldScorer:
    """Feed a video's frames in order, then `result()` for its checks."""

    def __init__(self, prompt: WorldPrompt):
        self.prompt = prompt
        self.tracks = [_Track() for _ in prompt.objects]
        self.size: tuple[int, int] | None = None

    def add(self, frame: np.ndarray) -> None:
        self.size = frame.shape[:2]
        pixels = frame.astype(np.int16)
        for obj, track in zip(self.prompt.objects, self.tracks, strict=True):
            mask = (
                np.abs(pixels - np.array(COLOURS[obj.colour], dtype=np.int16)).max(axis=-1)
                <= COLOUR_TOLERANCE
            )
            area = mask.mean()
            track.areas.append(float(area))
            if area < MIN_AREA:
                track.centres.append(None)
                track.colours.append(None)
                continue
            rows, cols = np.nonzero(mask)
            track.centres.append((float(cols.mean()) + 0.5, float(rows.mean()) + 0.5))
            track.colours.append(frame[mask].astype(np.float64).mean(axis=0))
            shape = classify_shape(mask)
            if shape is not None:
                track.shapes.append(shape)

    def _expected_motion(
        self, obj: PromptObject, first: int, last: int, start: tuple[float, float]
    ) -> np.ndarray:
        """Image displacement (pixels) from frame `first` to `last` that the prompt implies."""
        frames = len(self.tracks[0].centres)
        height, width = self.size
        ux, uy = DIRECTIONS[obj.direction]
        per_frame = SPEEDS[obj.speed] / max(1, frames - 1)
        cam0 = camera_pose(self.prompt.camera, self.prompt.camera_direction, first, frames)
        # the object's world position at `first`, from where it is seen
        wx = (start[0] / width - 0.5) / cam0[2] + cam0[0]
        wy = (start[1] / height - 0.5) / cam0[2] + cam0[1]
        wx += ux * per_frame * (last - first)
        wy += uy * per_frame * (last - first)
        cam1 = camera_pose(self.prompt.camera, self.prompt.camera_direction, last, frames)
        end = ((wx - cam1[0]) * cam1[2] + 0.5) * width, ((wy - cam1[1]) * cam1[2] + 0.5) * height
        return np.array(end) - np.array(start)

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
            record["shape_ok"] = found and record["shape_seen"] == obj.shape
            record["direction_ok"] = False
            record["motion_px"] = record["expected_motion_px"] = None
            if found:
                first, last = seen[0], seen[-1]
                moved = np.array(track.centres[last]) - np.array(track.centres[first])
                expected = self._expected_motion(obj, first, last, track.centres[first])
                record["motion_px"] = [round(float(v), 2) for v in moved]
                record["expected_motion_px"] = [round(float(v), 2) for v in expected]
                if np.linalg.norm(expected) < 2:  # the prompt implies almost no visible motion: not checkable
                    record["direction_ok"] = None
                else:
                    cosine = moved @ expected / (np.linalg.norm(moved) * np.linalg.norm(expected) + 1e-9)
                    far_enough = np.linalg.norm(moved) >= 0.3 * np.linalg.norm(expected)
                    record["direction_ok"] = bool(cosine >= math.cos(math.radians(45)) and far_enough)
                colours = [track.colours[i] for i in seen]
                record["colour_drift"] = round(float(np.linalg.norm(colours[-1] - colours[0])), 3)
                record["area_ratio"] = round(track.areas[last] / track.areas[first], 4)
            checks = [record["colour_ok"], record["shape_ok"], record["direction_ok"]]
            record["checks_passed"] = sum(1 for c in checks if c)
            record["checks"] = sum(1 for c in checks if c is not None)
            objects.append(record)
        passed = sum(o["checks_passed"] for o in objects)
        total = sum(o["checks"] for o in objects)
        return {"objects": objects, "accuracy": passed / total if total else None, "all_ok": passed == total}


def summarise(results: list[dict]) -> dict:
    """Dataset-level prompt-following accuracy and appearance drift from per-video results."""
    objects = [o for r in results for o in r["objects"]]

    def rate(key: str) -> float | None:
        values = [o[key] for o in objects if o[key] is not None]
        return round(float(np.mean(values)), 4) if values else None

    drifts = [o["colour_drift"] for o in objects if o.get("colour_drift") is not None]
    return {
        "videos": len(results),
        "accuracy": round(float(np.mean([r["accuracy"] for r in results if r["accuracy"] is not None])), 4)
        if results
        else None,
        "all_ok_rate": round(float(np.mean([r["all_ok"] for r in results])), 4) if results else None,
        "colour_accuracy": rate("colour_ok"),
        "shape_accuracy": rate("shape_ok"),
        "direction_accuracy": rate("direction_ok"),
        "mean_colour_drift": round(float(np.mean(drifts)), 3) if drifts else None,
    }
