"""Storyboards: a YAML file of chained prompts, checked against dataclasses and planned into segments.

Chaining follows METHOD.md ("Generation modes"): a segment's first frame is conditioned on the last two
frames of the one before; the anchor stays frame 0 unless a segment re-anchors. Each segment is written
as its own MP4 and the finished segments are joined (stream copy, no re-encoding) into the output after
every segment, with the render state saved beside them, so an interrupted story is playable up to its
last finished segment and `--resume` continues it to the same frames an uninterrupted run makes.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from artv_cli.engine.sampling.settings import FLAGS, SETTINGS, relative_to, with_render_settings
from artv_cli.errors import ArtvError

ANCHOR_POLICIES = ("first", "segment")


@dataclass
class Output:
    """Where the story goes."""

    path: str = "story.mp4"
    """The .mp4 to write (relative to the working folder; `--out` replaces it)."""
    quality: float = 8.0
    """Video quality 1-10."""
    frames_dir: str | None = None
    """Also write every frame as PNG into this folder."""
    gif: bool = False
    """Also write NAME.gif next to the video."""


@dataclass
@with_render_settings
class Segment:
    """One prompt of the story and how long it lasts; every render setting (engine/sampling/settings.py)
    is a key too, replacing the story's value for this segment."""

    prompt: str
    """What happens in this segment (base_prompt is put before it)."""
    frames: int | None = None
    """Length in frames (give this or seconds)."""
    seconds: float | None = None
    """Length in seconds at the story's fps."""
    negative_prompt: str | None = None
    """Replaces the story's negative prompt."""
    seed: int | None = None
    """Replaces the seed this segment would get (seed + index * seed_step)."""
    image: str | None = None
    """A keyframe: the segment starts from this image instead of continuing (path relative to the file)."""
    reanchor: bool | None = None
    """This segment's first frame becomes the anchor (default: yes with an image, else the anchor policy)."""
    transition: int = 0
    """Blend from the previous prompt's text embedding to this one over this many frames."""


@dataclass
@with_render_settings
class Storyboard:
    """A whole story: defaults for every segment, the output, and the segments; every render setting
    (engine/sampling/settings.py) is a key (null: the model's recommendation, else the built-in default)."""

    segments: list[Segment]
    """The prompts, in order."""
    model: str | None = None
    """Model folder or built-in name (None: the default model)."""
    size: str | int | None = None
    """WIDTHxHEIGHT or N (None: the model's size)."""
    fps: float = 8.0
    """Frames per second."""
    seed: int = 0
    """Seed of the first segment."""
    seed_step: int = 1
    """Segment i gets seed + i * seed_step unless it gives its own."""
    base_prompt: str = ""
    """Put before every segment's prompt (style, subject)."""
    negative_prompt: str = ""
    """What every segment steers away from."""
    anchor: str = "first"
    """Anchor policy: `first` (frame 0 anchors the whole story) or `segment` (every segment re-anchors)."""
    output: Output = field(default_factory=Output)


# ----- reading and checking -------------------------------------------------------------------------
_NUMBER = (int, float)
_TYPES: dict[str, tuple] = {
    "prompt": (str,),
    "frames": (int,),
    "seconds": _NUMBER,
    "negative_prompt": (str,),
    "seed": (int,),
    "seed_step": (int,),
    "image": (str,),
    "reanchor": (bool,),
    "transition": (int,),
    "model": (str,),
    "size": (str, int),
    "fps": _NUMBER,
    "base_prompt": (str,),
    "anchor": (str,),
    "path": (str,),
    "quality": _NUMBER,
    "frames_dir": (str,),
    "gif": (bool,),
}
_TYPES |= {
    name: (list, str)
    if SETTINGS[name].many
    else _NUMBER
    if SETTINGS[name].kind is float
    else (SETTINGS[name].kind,)
    for name in FLAGS
}
_TYPE_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false", list: "a list"}


def _lines(node: yaml.Node, path: tuple = (), found: dict | None = None) -> dict[tuple, int]:
    """Line number (1-based) of every key path in a composed YAML document."""
    found = {} if found is None else found
    found[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found[(*path, "@key", key.value)] = key.start_mark.line + 1
            _lines(value, (*path, key.value), found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), found)
    return found


def _name(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "storyboard"


class _Checker:
    def __init__(self, file: Path, lines: dict[tuple, int]):
        self.file, self.lines, self.errors = file, lines, []

    def error(self, path: tuple, message: str, key: bool = False) -> None:
        line = self.lines.get((*path[:-1], "@key", path[-1]) if key and path else path)
        if line is None:  # a missing key: point at its parent
            parent = path[:-1]
            while parent not in self.lines and parent:
                parent = parent[:-1]
            line = self.lines.get(parent, 1)
        self.errors.append((line, f"{self.file}:{line}: {_name(path)}: {message}"))

    def fields(self, data: Any, cls: type, path: tuple) -> dict:
        """The known, well-typed fields of a mapping; unknown keys and wrong types are errors."""
        if not isinstance(data, dict):
            self.error(
                path, f"expected a mapping of {cls.__name__.lower()} settings, got {type(data).__name__}"
            )
            return {}
        defaults = {f.name: f.default for f in fields(cls)}
        values = {}
        for key, value in data.items():
            if key not in defaults:
                self.error((*path, key), f"unknown key (known: {', '.join(sorted(defaults))})", key=True)
                continue
            if value is None and defaults[key] not in (None, MISSING):
                continue  # `key: null` is the same as leaving the key out: its default
            types = _TYPES.get(key)
            if types is None or value is None:
                values[key] = value
                continue
            ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
            if not ok:
                wanted = " or ".join(_TYPE_NAMES[t] for t in types)
                self.error((*path, key), f"expected {wanted}, got {value!r}")
                continue
            if key in SETTINGS and SETTINGS[key].many and isinstance(value, str):
                value = [value]  # one item may be written without the list
            values[key] = value
        return values


def load_storyboard(path: str | Path) -> Storyboard:
    """Read and check a storyboard; every problem is reported at once as FILE:LINE: key.path: message."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ArtvError(
            f"storyboard {path} does not exist", "give a .yaml file, such as storyboards/demo.yaml"
        )
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1"
        raise ArtvError(
            f"{path}:{where}: not valid YAML ({getattr(error, 'problem', error)})", "fix the YAML syntax"
        ) from None
    checker = _Checker(path, _lines(node) if node is not None else {})
    if data is None:
        data = {}
    if isinstance(data, dict) and data.get("command") == "story" and isinstance(data.get("storyboard"), dict):
        # the sidecar of a rendered story: render its resolved storyboard again
        data = data["storyboard"]
        checker.lines = {key[1:]: line for key, line in checker.lines.items() if key[:1] == ("storyboard",)}
    top = checker.fields(data, Storyboard, ())
    output = Output(**checker.fields(top.pop("output", None) or {}, Output, ("output",)))
    raw_segments = top.pop("segments", None)
    segments = []
    if not raw_segments:
        checker.error(("segments",), "missing: a storyboard needs at least one segment with a prompt")
    elif not isinstance(raw_segments, list):
        checker.error(("segments",), "expected a list of segments")
    else:
        for index, raw in enumerate(raw_segments):
            values = checker.fields(raw, Segment, ("segments", index))
            if not isinstance(raw, dict):
                continue
            prompt = raw.get("prompt")
            if prompt is None or (isinstance(prompt, str) and not prompt.strip()):
                checker.error(("segments", index, "prompt"), "missing: every segment needs a prompt")
            values.setdefault("prompt", "")
            segments.append(Segment(**values))
    board = Storyboard(segments=segments, output=output, **top)
    _check_values(board, checker, path.parent)
    if checker.errors:
        messages = [message for _, message in sorted(checker.errors, key=lambda e: e[0])]
        raise ArtvError(
            f"{len(messages)} problem{'s' if len(messages) > 1 else ''} in {path}:\n  "
            + "\n  ".join(messages),
            "fix them and run again (docs/storyboards.md describes every key)",
        )
    return board


def _check_values(board: Storyboard, checker: _Checker, base: Path) -> None:
    if board.fps is not None and board.fps <= 0:
        checker.error(("fps",), f"must be positive (got {board.fps})")
    for where, values in ((), board), *((("segments", i), seg) for i, seg in enumerate(board.segments)):
        for name in FLAGS:
            if SETTINGS[name].path and getattr(values, name):  # relative to the storyboard, as images are
                setattr(values, name, [relative_to(base, item) for item in getattr(values, name)])
            problem = SETTINGS[name].problem(getattr(values, name))
            if problem is not None:
                checker.error((*where, name), problem)
    if board.anchor not in ANCHOR_POLICIES:
        checker.error(("anchor",), f"must be one of {', '.join(ANCHOR_POLICIES)} (got {board.anchor!r})")
    if not str(board.output.path).lower().endswith(".mp4"):
        checker.error(("output", "path"), f"the video is written as MP4 (got {board.output.path!r})")
    if not 1 <= board.output.quality <= 10:
        checker.error(("output", "quality"), f"must be between 1 and 10 (got {board.output.quality})")
    for index, segment in enumerate(board.segments):
        where = ("segments", index)
        if segment.frames is None and segment.seconds is None:
            checker.error((*where, "frames"), "missing: give frames or seconds")
        elif segment.frames is not None and segment.seconds is not None:
            checker.error((*where, "seconds"), "give frames or seconds, not both")
        elif segment.frames is not None and segment.frames < 1:
            checker.error((*where, "frames"), f"must be at least 1 (got {segment.frames})")
        elif segment.seconds is not None and round(segment.seconds * (board.fps or 1)) < 1:
            checker.error(
                (*where, "seconds"), f"{segment.seconds} s at {board.fps} fps is not even one frame"
            )
        if segment.transition < 0:
            checker.error((*where, "transition"), f"must be 0 or more frames (got {segment.transition})")
        elif segment.transition and index == 0:
            checker.error((*where, "transition"), "the first segment has no previous prompt to blend from")
        if segment.image is not None:
            image = (base / segment.image).expanduser()
            if not image.is_file():
                checker.error((*where, "image"), f"no such file: {image}")
            else:
                from artv_cli.engine.data.images import load_image

                try:
                    load_image(image)
                except ArtvError as error:
                    checker.error((*where, "image"), error.message)


# ----- the plan -------------------------------------------------------------------------------------
@dataclass
@with_render_settings
class PlannedSegment:
    index: int
    prompt: str
    negative_prompt: str
    frames: int
    start: int  # first frame number in the whole video
    seed: int
    image: str | None  # absolute path
    reanchor: bool
    transition: int


def plan_segments(board: Storyboard, base: Path) -> list[PlannedSegment]:
    """Every segment with its values resolved: lengths in frames, seeds, prompts, anchor decisions."""
    planned, start = [], 0
    for index, segment in enumerate(board.segments):
        frames = segment.frames if segment.frames is not None else max(1, round(segment.seconds * board.fps))
        prompt = " ".join(p for p in (board.base_prompt.strip(), segment.prompt.strip()) if p)
        reanchor = segment.reanchor
        if reanchor is None:
            reanchor = segment.image is not None or (board.anchor == "segment" and index > 0)

        def pick(name: str, segment=segment):
            value = getattr(segment, name)
            return getattr(board, name) if value is None else value

        planned.append(
            PlannedSegment(
                index=index,
                prompt=prompt,
                negative_prompt=segment.negative_prompt
                if segment.negative_prompt is not None
                else board.negative_prompt,
                frames=frames,
                start=start,
                seed=segment.seed if segment.seed is not None else board.seed + index * board.seed_step,
                image=str((base / segment.image).resolve()) if segment.image else None,
                reanchor=bool(reanchor),
                transition=min(segment.transition, frames),
                **{name: pick(name) for name in FLAGS},
            )
        )
        start += frames
    return planned


def resolved(board: Storyboard, planned: list[PlannedSegment], size: tuple[int, int], model: str) -> dict:
    """The storyboard with every value made explicit, in the storyboard's own schema: the sidecar holds it,
    and `artv story VIDEO.json` renders the same video from it."""
    top = {
        "model": model,
        "size": f"{size[0]}x{size[1]}",
        "fps": board.fps,
        "seed": board.seed,
        "seed_step": board.seed_step,
        "base_prompt": "",  # already put before each segment's prompt below
        "negative_prompt": board.negative_prompt,
        **{name: getattr(board, name) for name in FLAGS},
        "anchor": board.anchor,
        "output": asdict(board.output),
    }
    segments = [
        {
            "prompt": p.prompt,
            "frames": p.frames,
            "negative_prompt": p.negative_prompt,
            "seed": p.seed,
            **{name: getattr(p, name) for name in FLAGS},
            "image": p.image,
            "reanchor": p.reanchor,
            "transition": p.transition,
        }
        for p in planned
    ]
    return top | {"segments": segments}
