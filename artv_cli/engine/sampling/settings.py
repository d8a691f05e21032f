"""The render settings, declared once: one row per setting of the frame loop that a user may choose.

Everything that names a render setting is built from `SETTINGS`: the options of `animate`, `generate`,
`batch` and `story` (`artv_cli.options.render_settings`), the fields of `RenderRequest`, the storyboard's
keys (top level and per segment), the batch rows' columns, the story's command-line overrides, the range
checks and their messages, what a model folder may recommend and what a `--fast` preset may set, and
docs/cli.md (generated from the commands' help). `resolve` applies one order everywhere: the command
line, else the storyboard or the batch row, else the `--fast` preset (with `--fast`), else the model
folder's recommendation, else the built-in default.

Adding a render setting: a row here, the frame-loop step that uses it (`loop.SampleSettings` and
`loop.render`), a test and a CHANGELOG line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from artv_cli.errors import ArtvError


@dataclass(frozen=True)
class Setting:
    """One render setting: what it is, what it may be, and who may set it."""

    name: str
    """The Python name; the flag is `--name-with-dashes`, the storyboard key and batch column the name."""
    kind: type
    """int, float, str or bool."""
    default: object
    """The built-in default (None: decided by the frame loop, such as `first_frame_steps`)."""
    help: str
    """One line for `--help`, docs/cli.md and the storyboard's schema."""
    low: float | None = None
    """Smallest allowed value, if any."""
    high: float | None = None
    """Largest allowed value, if any."""
    choices: tuple[str, ...] | None = None
    """The allowed values of a closed choice."""
    model_key: str | None = None
    """The field of a model folder's artv_config.json that recommends a value (None: none may)."""
    fast: bool = False
    """Whether a model's `--fast` preset may set it."""
    flag: bool = True
    """Whether the render commands take it as an option (and a storyboard and a batch row as a key)."""
    example: str = ""
    """A good value, for the fix of an error message."""
    many: bool = False
    """A list of `kind` values (a repeatable option, a YAML list, a batch column split at `;`)."""
    path: bool = False
    """Its values are paths: relative ones in a storyboard or a prompts file are relative to that file."""
    check_item: Callable[[object], ArtvError | None] | None = None
    """What is wrong with one value of a list (None: nothing), such as a missing file, with its fix."""

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    def problem(self, value) -> str | None:
        """What is wrong with `value` (None: nothing)."""
        if value is None:
            return None
        if self.many:
            if isinstance(value, str) or not all(isinstance(item, self.kind) for item in value):
                return f"must be a list of {self.kind.__name__} (got {value!r})"
            errors = (self.check_item(item) for item in value) if self.check_item else ()
            error = next((e for e in errors if e is not None), None)
            return None if error is None else str(error).removeprefix(self.option + " ")
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(self.choices)} (got {value!r})"
        number = f"{value:g}" if isinstance(value, float) else str(value)
        if self.low is not None and self.high is not None and not self.low <= value <= self.high:
            return f"must be from {self.low:g} to {self.high:g} (got {number})"
        if self.low is not None and value < self.low:
            return f"must be at least {self.low:g} (got {number})"
        return None

    def check(self, value, where: str | None = None) -> None:
        """Refuse a bad value with the flag's (or `where`'s) name and a fix."""
        for item in value if self.many and self.check_item and value else ():  # an item's error has its fix
            error = self.check_item(item)
            if error is not None:
                raise ArtvError(error.message if where is None else f"{where} {error.message}", error.hint)
        problem = self.problem(value)
        if problem is not None:
            raise ArtvError(f"{where or self.option} {problem}", f"use {self.option} {self.example}".strip())


def _adapter_problem(value: str) -> ArtvError | None:
    from artv_cli.engine.model.lora import read_adapter

    try:
        read_adapter(value)
    except ArtvError as error:
        return error
    return None


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "steps", int, 25, "Denoising steps per frame.", low=1, model_key="steps", fast=True,
            example="25 (or 10-15 with --scheduler dpm++)",
        ),
        Setting(
            "scheduler", str, "ddim", "Sampler: ddim, or dpm++ (DPM-Solver++, good at fewer steps).",
            choices=("ddim", "dpm++"), model_key="scheduler", fast=True, example="dpm++",
        ),
        Setting(
            "guidance_text", float, 6.5, "Text guidance weight w_txt; 0 skips the branch.",
            model_key="guidance_text", fast=True, example="6.5",
        ),
        Setting(
            "guidance_ref", float, 0.25, "Reference guidance weight w_ref; 0 skips the branch.",
            model_key="guidance_ref", fast=True, example="0.25",
        ),
        Setting(
            "guidance_anchor", float, 0.25, "Anchor guidance weight w_anc; 0 skips the branch.",
            model_key="guidance_anchor", fast=True, example="0.25",
        ),
        Setting(
            "guidance_rescale", float, 0.0,
            "Rescale the guided noise towards the spread of the fully conditioned prediction (0-1; "
            "diffusers' guidance_rescale), against over-saturated frames at high guidance; 0 = off.",
            low=0, high=1, example="0.7",
        ),
        Setting(
            "guidance_stop", float, 1.0,
            "Share of each frame's steps, from the noisiest, that apply the guidance weights (0-1; "
            "diffusers' guider `stop`); the later steps use the fully conditioned prediction alone, "
            "which is faster. 1 = every step.",
            low=0, high=1, model_key="guidance_stop", fast=True, example="0.5",
        ),
        Setting(
            "noise_level", int, 200, "Noise step t_test added to references and anchor (0 = clean).",
            low=0, high=999, model_key="t_test", example="200",
        ),
        Setting(
            "colour_lock", float, 0.0,
            "Pull each frame's median colour this far (0-1) towards the anchor's, against background "
            "drift; 0 = off.",
            low=0, high=1, model_key="colour_lock", example="1, or 0 for off",
        ),
        Setting(
            "subject_lock", float, 0.0,
            "Pull each frame's subject colour (pixels far off its median colour) this far (0-1) towards "
            "the anchor's subject's, against the subject's colour drift; 0 = off.",
            low=0, high=1, model_key="subject_lock", example="1, or 0 for off",
        ),
        Setting(
            "background_lock", float, 0.0,
            "Pull each frame's background pixels (those near the anchor's background at the same place) "
            "this far (0-1) back to it, against haze and stains over long videos; for a still camera; "
            "0 = off.",
            low=0, high=1, model_key="background_lock", example="1, or 0 for off",
        ),
        Setting(
            "shape_lock", float, 0.0,
            "Redraw the written frames' subjects this far (0-1) as the anchor drew them, where the model "
            "moved them, against shapes that wear away (a square's corners); the model's own frames are "
            "kept, except that a subject the model lost is drawn on along its way and handed back to it; "
            "for a still camera and subjects that keep their look; 0 = off.",
            low=0, high=1, model_key="shape_lock", example="1, or 0 for off",
        ),
        Setting(
            "mask_every", int, 1,
            "Run the mask network every k-th step and reuse its mask (faster, approximate).",
            low=1, fast=True, example="2",
        ),
        Setting(
            "first_frame_steps", int, None,
            "Steps of a frame made from blank references (frame 0 of a text-only video).",
            low=1, fast=True, flag=False, example="12", model_key="first_frame_steps",
        ),
        Setting(
            "preview", bool, False,
            "Draw each finished frame in the terminal above the progress bar (kitty, iTerm2 or sixel "
            "pictures where the terminal draws them, else colour half blocks; ARTV_PICTURES=kitty|iterm|"
            "sixel|blocks chooses; off when stderr is not a terminal).",
        ),
        Setting(
            "lora", str, (),
            "LoRA adapter folder (of `artv train --lora`), PATH or PATH:SCALE (scale -2 to 2, default 1); "
            "repeat to stack adapters.",
            many=True, path=True, check_item=_adapter_problem, example="RUN/adapter:0.8",
        ),
    )
}  # fmt: skip
"""Every render setting, in the order `--help` lists them."""

FLAGS = tuple(name for name, s in SETTINGS.items() if s.flag)
"""The settings the render commands, storyboards and batch rows take."""
FAST_KEYS = tuple(name for name, s in SETTINGS.items() if s.fast)
"""What a model's `fast` preset may set."""


def recommended(config) -> dict:
    """What a model folder recommends (its ARTVConfig, read without weights; None: nothing)."""
    if config is None:
        return {}
    values = {name: getattr(config, s.model_key) for name, s in SETTINGS.items() if s.model_key}
    return {name: value for name, value in values.items() if value is not None}


def fast_preset(config) -> dict:
    """What `--fast` sets: the model's own measured preset (`fast` in its artv_config.json) over
    DPM-Solver++ at the model's recommended steps, at most 12."""
    steps = config.steps if config is not None else None
    preset = {"steps": min(steps or 12, 12), "scheduler": "dpm++"}
    return preset | (dict(config.fast) if config is not None else {})


def resolve(given: dict, config, fast: bool = False, text_only: bool = True) -> tuple[dict, dict]:
    """Every setting's value and where it came from: `given` (the user's values, None for not given:
    the command line over a storyboard or a batch row, merged by the caller), else the `--fast` preset,
    else the model folder's recommendation, else the built-in default.

    `first_frame_steps` (a preset's or the model's) is only for a text-only video (`text_only`), and
    only where the steps are not given: given steps are every frame's.
    """
    layers = [("model", recommended(config)), ("default", {n: s.default for n, s in SETTINGS.items()})]
    if fast:
        preset = fast_preset(config)
        if not text_only:
            preset.pop("first_frame_steps", None)
        layers.insert(0, ("fast", preset))
    values, sources = {}, {}
    for name in SETTINGS:
        value, source = given.get(name), "given"
        for layer, found in layers:
            if value is not None:
                break
            value, source = found.get(name), layer
        values[name], sources[name] = value, source
    if sources["first_frame_steps"] != "given" and (sources["steps"] == "given" or not text_only):
        values["first_frame_steps"], sources["first_frame_steps"] = None, "default"
    return values, sources


def with_render_settings(cls: type, which: tuple[str, ...] = FLAGS) -> type:
    """Give a class (before `@dataclass` makes it one) a field per render setting, default None (not
    given), typed from the table; fields it declares itself are left as they are."""
    annotations = cls.__dict__.get("__annotations__", {})
    for name in which:
        if name not in annotations:
            kind = SETTINGS[name].kind.__name__
            annotations[name] = f"list[{kind}] | None" if SETTINGS[name].many else f"{kind} | None"
            setattr(cls, name, None)
    cls.__annotations__ = annotations
    return cls


def relative_to(folder, item):
    """A path value given in a file (a storyboard, a prompts file), as it reads from `folder`; other values
    as they are."""
    from pathlib import Path

    if not isinstance(item, str) or item.startswith("~") or Path(item).is_absolute():
        return item
    return str(Path(folder) / item)
