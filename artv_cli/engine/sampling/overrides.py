"""Planning a storyboard render: the command line over the file over the model's defaults."""

from __future__ import annotations

from pathlib import Path

import yaml

from artv_cli.engine.sampling.settings import FLAGS
from artv_cli.engine.sampling.storyboard import Storyboard

OVERRIDABLE = ("model", "size", "seed", *FLAGS)
"""Story settings the command line can set (`artv story FILE --steps 8 ...`)."""


def yaml_keys(path: str | Path) -> set[str]:
    """The top-level settings a storyboard file gives itself (a sidecar's embedded storyboard included)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    if isinstance(data, dict) and data.get("command") == "story" and isinstance(data.get("storyboard"), dict):
        data = data["storyboard"]
    return {key for key, value in data.items() if value is not None} if isinstance(data, dict) else set()


def apply_overrides(board: Storyboard, given: dict, yaml_keys: set[str]) -> dict[str, str]:
    """Command line over YAML over the model's own defaults; returns where each setting came from.

    `given` holds the command line's values (None: not given); a command-line value also replaces the
    segments' own, so `--steps 8` drafts the whole story at 8 steps.
    """
    source = {name: "storyboard" if name in yaml_keys else "model default" for name in OVERRIDABLE}
    for name in OVERRIDABLE:
        value = given.get(name)
        if value is None:
            continue
        setattr(board, name, value)
        source[name] = "command line"
        for segment in board.segments:
            if hasattr(segment, name):
                setattr(segment, name, None)
    return source
