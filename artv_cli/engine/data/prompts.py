"""The prompt sets of the evaluation protocols: what `artv batch --protocol NAME` renders.

- `ucf101-fvd2048-16f`, `ucf101-is`: 2048 prompts, the 101 UCF-101 class names in turn (video k gets class
  k mod 101), each name split into lower-case words ("ApplyEyeMakeup" -> "apply eye makeup"), as
  zero-shot text-to-video papers prompt UCF-101 (ART-V Tab. 1 does not print its template; papers differ).
- `world-heldout`: the default model's world, 64 held-out prompts in the grammar's wording and 64 in
  people's phrasing (`artv data synth --split test`), scored by `artv eval --world` with no weights.
- `msrvtt-clipsim`: the MSR-VTT test captions are not shipped (their redistribution terms are unclear) and
  no download is defined yet: give them as a prompts file.
"""

from __future__ import annotations

import re
from importlib.resources import files

from artv_cli.errors import ArtvError

PROTOCOL_SETS = ("ucf101-fvd2048-16f", "ucf101-is", "world-heldout", "msrvtt-clipsim")
UCF101_VIDEOS = 2048
WORLD_HELDOUT = 64
"""Videos per wording in `world-heldout` (the default model's protocol, docs/default-model.md)."""


def ucf101_classes() -> list[str]:
    """The 101 class names of UCF-101, as the dataset spells them."""
    text = files("artv_cli").joinpath("data/ucf101-classes.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def class_prompt(name: str) -> str:
    """A class name as words: ApplyEyeMakeup -> apply eye makeup, YoYo -> yo yo."""
    return " ".join(re.findall(r"[A-Z][a-z]*|[a-z]+|\d+", name)).lower()


def world_heldout() -> list[str]:
    """The world's held-out prompts: 64 in the grammar's wording, then 64 in people's phrasing."""
    from artv_cli.engine.data.synth import SynthSettings, design_video, ground_truth

    prompts = []
    for captions in ("grammar", "varied"):
        settings = SynthSettings(videos=WORLD_HELDOUT, frames=16, seed=1, max_objects=1, cameras=("static",),
                                 patterns=("plain",), holdout=8, split="test", captions=captions)  # fmt: skip
        prompts += [ground_truth(design_video(i, settings), settings).caption for i in range(WORLD_HELDOUT)]
    return prompts


def protocol_prompts(name: str) -> list[str]:
    """The prompts of a protocol, in order: row k of the batch is prompt k."""
    if name in ("ucf101-fvd2048-16f", "ucf101-is"):
        classes = [class_prompt(c) for c in ucf101_classes()]
        return [classes[k % len(classes)] for k in range(UCF101_VIDEOS)]
    if name == "world-heldout":
        return world_heldout()
    if name == "msrvtt-clipsim":
        raise ArtvError(
            "the MSR-VTT test captions are not shipped with artv (their redistribution terms are unclear) "
            "and no download for them is defined yet",
            "get the test captions from the MSR-VTT release and give them as a file: "
            "artv batch msrvtt-test.txt --out msrvtt/",
        )
    raise ArtvError(f"unknown protocol {name!r}", f"use one of: {', '.join(PROTOCOL_SETS)}")
