"""Captions of the synthetic world in many phrasings, and a parser that reads every one of them.

`artv data synth` describes each video in the world's grammar ("a red circle moves right slowly, on a
plain grey background") or, with `--captions varied`, in one of many phrasings: synonyms ("ball",
"heading", "towards the top"), other orders, speed or background left out, extra words ("a video of"),
capitals and punctuation. The ground truth stays exact: a phrasing only changes the words.

Phrasings are split in two disjoint sets by a hash of their shape (which synonym, which order, which
extra words): training captions use only `train` phrasings, and the people's-phrasing test prompts only
`test` ones, so a test prompt is worded in a way no training caption was, with words the model has seen.

Written by hand: no library writes captions with exact ground truth for a procedural world.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

from artv_cli.engine.data.world import ALL_COLOURS, BACKGROUND_TONES, COLOURS, DIRECTIONS, SHAPES, SPEEDS

NOUNS = {
    "circle": ("circle", "ball", "disc", "dot"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge"),
    "diamond": ("diamond", "rhombus", "lozenge"),
}
NEW_NOUNS = {"ring": ("ring", "hoop")}
"""Nouns of the shapes drawn only when asked (world.NEW_SHAPES): not among the world's words."""
VERBS = ("moves", "moving", "goes", "going", "heads", "heading", "drifts", "drifting", "travels", "slides")
DIRECTION_PHRASES = {
    "right": ("right", "to the right", "rightwards", "towards the right"),
    "left": ("left", "to the left", "leftwards", "towards the left"),
    "up": ("up", "upwards", "towards the top"),
    "down": ("down", "downwards", "towards the bottom"),
    "up and to the right": (
        "up and to the right",
        "to the upper right",
        "towards the top right",
        "up and right",
    ),
    "up and to the left": ("up and to the left", "to the upper left", "towards the top left", "up and left"),
    "down and to the right": (
        "down and to the right",
        "to the lower right",
        "towards the bottom right",
        "down and right",
    ),
    "down and to the left": (
        "down and to the left",
        "to the lower left",
        "towards the bottom left",
        "down and left",
    ),
}
SPEED_PHRASES = {
    "slowly": ("slowly", "slow", "gently", "at a slow pace"),
    "quickly": ("quickly", "fast", "rapidly", "at a fast pace"),
}
BACKGROUND_FORMS = (
    "on a plain {tone} background",
    "on {tone}",
    "over a {tone} background",
    "against a {tone} backdrop",
    "with a {tone} background",
)
PREFIXES = ("", "a video of ", "please show ", "show me ", "watch ")
ORDERS = ("subject-direction-speed", "subject-speed-direction", "background-first", "speed-first")
ENDINGS = ("", ".", "!")
HELD_OUT_PHRASINGS = 4
"""One phrasing in this many (by a hash of its shape) is kept for testing only."""

# Words the parser reads, each to the unit vector it adds (image coordinates: x right, y down).
_DIRECTION_WORDS = {
    "right": (1, 0), "rightwards": (1, 0),
    "left": (-1, 0), "leftwards": (-1, 0),
    "up": (0, -1), "upwards": (0, -1), "top": (0, -1), "upper": (0, -1),
    "down": (0, 1), "downwards": (0, 1), "bottom": (0, 1), "lower": (0, 1),
}  # fmt: skip
_SPEED_WORDS = {"slowly": "slowly", "slow": "slowly", "gently": "slowly",
                "quickly": "quickly", "fast": "quickly", "rapidly": "quickly"}  # fmt: skip
_SHAPE_WORDS = {word: shape for shape, words in (NOUNS | NEW_NOUNS).items() for word in words}
_WORD = re.compile(r"[a-z]+")


def vocabulary() -> set[str]:
    """Every word a caption of the world can contain, in any phrasing (the world tokenizer's words)."""
    words = {"a", "an", "and", "on", "plain", "background", "the", "camera", "pans", "zooms", "in", "out"}
    words |= {"striped", "checkered"}
    phrases = [
        *COLOURS,
        *BACKGROUND_TONES,
        *SHAPES,
        *DIRECTIONS,
        *SPEEDS,
        *VERBS,
        *PREFIXES,
        *BACKGROUND_FORMS,
    ]
    phrases += [
        p for table in (NOUNS, DIRECTION_PHRASES, SPEED_PHRASES) for group in table.values() for p in group
    ]
    for phrase in phrases:
        words.update(_WORD.findall(phrase.replace("{tone}", "")))
    return words


@dataclass(frozen=True)
class Phrasing:
    """The shape of one caption: which synonym, order and extra words (not the facts it states)."""

    noun: int
    verb: int
    direction: int
    speed: int  # -1: left out
    background: int  # -1: left out
    order: int
    prefix: int
    ending: int
    capitals: bool

    def split(self) -> str:
        """`test` for one phrasing in HELD_OUT_PHRASINGS, else `train` (capitals and endings aside)."""
        shape = (self.noun, self.verb, self.direction, self.speed, self.background, self.order, self.prefix)
        key = ",".join(str(v) for v in shape)
        return "test" if zlib.crc32(key.encode()) % HELD_OUT_PHRASINGS == 0 else "train"


def draw_phrasing(rng: np.random.Generator, shape: str, direction: str, split: str) -> Phrasing:
    """A random phrasing of the given split (redrawn until it belongs to it)."""
    while True:
        phrasing = Phrasing(
            noun=int(rng.integers(len((NOUNS | NEW_NOUNS)[shape]))),
            verb=int(rng.integers(len(VERBS))),
            direction=int(rng.integers(len(DIRECTION_PHRASES[direction]))),
            speed=int(rng.integers(-1, len(SPEED_PHRASES["slowly"]))),
            background=int(rng.integers(-1, len(BACKGROUND_FORMS))),
            order=int(rng.integers(len(ORDERS))),
            prefix=int(rng.integers(len(PREFIXES))),
            ending=int(rng.integers(len(ENDINGS))),
            capitals=bool(rng.random() < 0.2),
        )
        if phrasing.split() == split:
            return phrasing


def phrase(colour: str, shape: str, direction: str, speed: str, tone: str, phrasing: Phrasing) -> str:
    """One object on a plain background, said the way `phrasing` says it."""
    article = "an" if colour[0] in "aeiou" else "a"
    subject = f"{article} {colour} {(NOUNS | NEW_NOUNS)[shape][phrasing.noun]}"
    verb = VERBS[phrasing.verb]
    where = DIRECTION_PHRASES[direction][phrasing.direction]
    how = SPEED_PHRASES[speed][phrasing.speed] if phrasing.speed >= 0 else ""
    ground = BACKGROUND_FORMS[phrasing.background].format(tone=tone) if phrasing.background >= 0 else ""
    order = ORDERS[phrasing.order]
    if order == "subject-speed-direction" and how:
        text = f"{subject} {verb} {how} {where}"
    elif order == "speed-first" and how:
        text = f"{how}, {subject} {verb} {where}"
    else:
        text = f"{subject} {verb} {where} {how}".strip()
    if ground:
        text = f"{ground}, {text}" if order == "background-first" else f"{text}, {ground}"
    text = PREFIXES[phrasing.prefix] + text + ENDINGS[phrasing.ending]
    return text.upper() if phrasing.capitals else text


@dataclass
class FreeObject:
    """What a prompt in any phrasing asks of its one object; None where the prompt does not say."""

    colour: str | None
    shape: str | None
    direction: str | None
    speed: str | None
    background: str | None


def parse_free(prompt: str) -> FreeObject | None:
    """Read one object's colour, shape, direction, speed and background from a prompt in any phrasing.

    Returns None when the prompt names no colour, or two (the free parser reads one object).
    """
    words = _WORD.findall(prompt.lower())
    colours = [w for w in words if w in ALL_COLOURS]
    if len(set(colours)) != 1:
        return None
    shapes = [_SHAPE_WORDS[w] for w in words if w in _SHAPE_WORDS]
    speeds = [_SPEED_WORDS[w] for w in words if w in _SPEED_WORDS]
    tones = [w for w in words if w in BACKGROUND_TONES]
    x = sum(_DIRECTION_WORDS[w][0] for w in words if w in _DIRECTION_WORDS)
    y = sum(_DIRECTION_WORDS[w][1] for w in words if w in _DIRECTION_WORDS)
    direction = None
    if x or y:
        vector = np.array([np.sign(x), np.sign(y)], dtype=float)
        vector /= np.linalg.norm(vector)
        direction = max(DIRECTIONS, key=lambda d: float(np.dot(DIRECTIONS[d], vector)))
    return FreeObject(
        colour=colours[0],
        shape=shapes[0] if shapes else None,
        direction=direction,
        speed=speeds[0] if speeds else None,
        background=tones[0] if tones else None,
    )


UNNAMED_FORMS = {
    "colour": ("{shape}",),
    "shape": ("{colour} object", "{colour} shape", "{colour} thing"),
    "both": ("object", "shape", "thing"),
}
"""What is left of "a red circle" when its colour, its shape or both go unnamed."""


def leave_out_look(rng: np.random.Generator, caption: str, colour_word: str) -> str:
    """The caption with its object's colour, its shape or both left out ("the ball", "a red object", "it
    moves up"): the word after the colour is the shape's; a caption without the colour stays as it is."""
    words = caption.split(" ")
    colour = next((i for i, w in enumerate(words) if w.strip(",.!").lower() == colour_word), None)
    if colour is None or colour + 1 >= len(words):
        return caption
    noun = words[colour + 1]
    kind = str(rng.choice(list(UNNAMED_FORMS)))
    if kind == "both" and rng.random() < 0.4:  # "it moves right": the article goes too
        article = colour - 1 if colour > 0 and words[colour - 1].lower() in ("a", "an", "the") else colour
        tail = noun[len(noun.rstrip(",.!")) :]
        return " ".join(words[:article] + ["it" + tail] + words[colour + 2 :])
    form = str(rng.choice(UNNAMED_FORMS[kind]))
    tail = noun[len(noun.rstrip(",.!")) :]
    subject = form.format(colour=words[colour], shape=noun.rstrip(",.!")) + tail
    out = words[:colour] + subject.split(" ") + words[colour + 2 :]
    if colour > 0 and out[colour - 1].lower() in ("a", "an"):  # "an object", "a red thing"
        article = "an" if out[colour][0].lower() in "aeiou" else "a"
        out[colour - 1] = article.upper() if out[colour - 1].isupper() else article
    return " ".join(out)
