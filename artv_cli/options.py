"""Options shared by several commands, declared once."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class SchedulerName(str, Enum):
    ddim = "ddim"
    dpmpp = "dpm++"


class DtypeName(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"


Model = Annotated[
    str | None,
    typer.Option(
        help="Model folder, or a built-in name: default (embedded, trained), tiny-random, sd21-random, "
        "world64-random. (default: default)"
    ),
]
Frames = Annotated[int, typer.Option(help="Frames in the video, frame 0 included.")]
Fps = Annotated[float, typer.Option(help="Frames per second of the video file.")]
Size = Annotated[
    str | None,
    typer.Option(help="Output size, WIDTHxHEIGHT or one number for a square. (default: the model's size)"),
]
NegativePrompt = Annotated[
    str, typer.Option(help="What to steer away from (replaces the empty prompt of the text guidance).")
]
Steps = Annotated[
    int | None, typer.Option(help="Denoising steps per frame. (default: 25, or 12 with --fast)")
]
Scheduler = Annotated[
    SchedulerName | None,
    typer.Option(
        help="Sampler: DDIM, or DPM-Solver++ (good at fewer steps). (default: ddim; dpm++ with --fast)"
    ),
]
Fast = Annotated[
    bool,
    typer.Option(
        "--fast",
        help="Speed preset: the model's own measured one (the default model: about 2x faster, scores in "
        "docs/default-model.md), else DPM-Solver++ at 12 steps. Flags you give win.",
    ),
]
Compile = Annotated[
    bool, typer.Option("--compile", help="torch.compile the UNets: faster frames after a slow first one.")
]
MaskEvery = Annotated[
    int | None,
    typer.Option(
        help="Run the mask network every k-th step and reuse its mask (faster, approximate). "
        "(default: 1, or the model's --fast preset's)"
    ),
]
Seed = Annotated[int | None, typer.Option(help="Seed; the same seed gives the same video. (default: random)")]
GuidanceText = Annotated[
    float | None, typer.Option(help="Text guidance weight w_txt; 0 skips the branch. (default: model's, 6.5)")
]
GuidanceRef = Annotated[
    float | None, typer.Option(help="Reference guidance weight w_ref; 0 skips the branch. (default: 0.25)")
]
GuidanceAnchor = Annotated[
    float | None, typer.Option(help="Anchor guidance weight w_anc; 0 skips the branch. (default: 0.25)")
]
NoiseLevel = Annotated[
    int | None,
    typer.Option(
        help="Noise step t_test added to references and anchor (0 = clean). (default: model's, 200)"
    ),
]
ColourLock = Annotated[
    float | None,
    typer.Option(
        help="Pull each frame's median colour this far (0-1) towards the anchor's, against background drift;"
        " 0 = off. (default: the model's recommendation, else 0)"
    ),
]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")]
Dtype = Annotated[DtypeName, typer.Option(help="Weights' precision; auto = fp32 on CPU, bf16/fp16 on GPU.")]
Out = Annotated[
    Path | None,
    typer.Option(
        "--out", "-o", help="Output .mp4 path (an existing file needs --force). (default: a new name here)"
    ),
]
Quality = Annotated[float, typer.Option(help="Video quality from 1 to 10 (H.264 CRF 45 to 0).")]
FramesDir = Annotated[Path | None, typer.Option(help="Also write every frame as PNG into this folder.")]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout instead of the path.")]
Force = Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")]
