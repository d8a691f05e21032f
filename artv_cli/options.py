"""Options shared by several commands, declared once."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from artv_cli.engine.sampling.settings import FLAGS, SETTINGS


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
Seed = Annotated[int | None, typer.Option(help="Seed; the same seed gives the same video. (default: random)")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")]
Dtype = Annotated[DtypeName, typer.Option(help="Weights' precision; auto = fp32 on CPU, bf16/fp16 on GPU.")]
Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Output: .mp4 (H.264), .gif, .webm (VP9), or a name without extension for a folder of PNG "
        "frames; an existing one needs --force. (default: a new .mp4 here)",
    ),
]
Quality = Annotated[
    float,
    typer.Option(
        help="Quality from 1 to 10: H.264's and VP9's constant quality, a GIF's palette (32 to 256 colours)."
    ),
]
FramesDir = Annotated[Path | None, typer.Option(help="Also write every frame as PNG into this folder.")]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout instead of the path.")]
Force = Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")]


def _default_text(name: str) -> str:
    setting = SETTINGS[name]
    if setting.many:
        return "(repeatable; default: none)"
    if setting.kind is bool:
        return f"(default: {'on' if setting.default else 'off'})"
    text = f"{setting.default:g}" if isinstance(setting.default, float) else str(setting.default)
    if setting.model_key:
        text = f"the model's recommendation, else {text}"
    if setting.fast:
        text += "; with --fast, the model's speed preset"
    return f"(default: {text})"


def _choice(name: str) -> type:
    """A closed choice as an Enum (typer lists its values in --help)."""
    choices = SETTINGS[name].choices
    return Enum(f"{name.title().replace('_', '')}Choice", {c.replace("+", "p"): c for c in choices}, type=str)


def _type(name: str) -> type:
    setting = SETTINGS[name]
    if setting.many:
        return list[setting.kind]
    return _choice(name) if setting.choices else setting.kind


SETTING_OPTIONS = {
    name: Annotated[
        _type(name) | None,
        typer.Option(
            SETTINGS[name].option
            + (f"/--no-{SETTINGS[name].option[2:]}" if SETTINGS[name].kind is bool else ""),
            help=f"{SETTINGS[name].help} {_default_text(name)}",
        ),
    ]
    for name in FLAGS
}
"""An option per render setting of engine/sampling/settings.py."""


def render_settings(command):
    """Give a command an option per render setting (the table in engine/sampling/settings.py); they
    reach it as keyword arguments, choices as their values, None where not given."""
    import functools
    import inspect

    signature = inspect.signature(command, eval_str=True)  # the command's own options, resolved
    own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    added = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=SETTING_OPTIONS[name]
        )
        for name in FLAGS
        if name not in signature.parameters
    ]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        for name in FLAGS:
            if isinstance(kwargs.get(name), Enum):
                kwargs[name] = kwargs[name].value
            if SETTINGS[name].many:  # not given: None (the storyboard's or the row's, else none)
                kwargs[name] = list(kwargs.get(name) or []) or None
        return command(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=own + added)
    wrapper.__annotations__ = {**command.__annotations__, **{p.name: p.annotation for p in added}}
    return wrapper
