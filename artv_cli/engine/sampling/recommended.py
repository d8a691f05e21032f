"""What a model folder says about how to sample it: its recommended steps and sampler, and its words.

Read from `artv_config.json` without loading any weights, so the checks before a render stay fast.
"""

from __future__ import annotations

import re


def sampling(request, recommended) -> tuple[int, str, str]:
    """Steps and scheduler: the user's flags, else the model folder's recommendation (`recommended`, its
    `model_config`; measured for that model), else the built-in default; `--fast` caps them at DPM-Solver++
    12 steps."""
    steps = recommended.steps if recommended is not None else None
    scheduler = recommended.scheduler if recommended is not None else None
    source = "model" if steps is not None or scheduler is not None else "built-in"
    if request.fast:
        steps, scheduler, source = min(steps or 12, 12), "dpm++", "fast"
    steps, scheduler = steps or 25, scheduler or "ddim"
    if request.steps is not None or request.scheduler is not None:
        source = "flags"
    return request.steps or steps, request.scheduler or scheduler, source


def unknown_words(prompt: str, config) -> list[str]:
    """A notice naming the prompt's words the model never saw in training (the render still runs).

    Only a model whose training recorded its captions' words (`extra["training_words"]`) can say.
    """
    known = set(config.extra.get("training_words", [])) if config is not None else set()
    if not known:
        return []
    words = list(dict.fromkeys(re.findall(r"[a-z]+", prompt.lower())))
    unseen = [w for w in words if w not in known]
    if not unseen:
        return []
    return [
        f"the model never saw {', '.join(repr(w) for w in unseen)} in training "
        f"(its captions used {len(known)} words): the video may not show them"
    ]


def model_config(ref):
    """The model folder's method settings, read without loading weights; None for random presets."""
    if ref.folder is None:
        return None
    from artv_cli.engine.model.config import ARTVConfig

    return ARTVConfig.load(ref.folder)
