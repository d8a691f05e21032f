"""What a model folder says about how to sample it: its recommended steps and sampler, and its words.

Read from `artv_config.json` without loading any weights, so the checks before a render stay fast.
"""

from __future__ import annotations

import re


def sampling(request, recommended) -> tuple[int, str, str]:
    """Steps and scheduler: the user's flags, else the model folder's recommendation (`recommended`, its
    `model_config`; measured for that model), else the built-in default. `--fast` takes the model's speed
    preset (its `fast`), else caps them at DPM-Solver++ 12 steps."""
    steps = recommended.steps if recommended is not None else None
    scheduler = recommended.scheduler if recommended is not None else None
    source = "model" if steps is not None or scheduler is not None else "built-in"
    if request.fast:
        preset = fast_preset(recommended)
        steps, scheduler, source = preset["steps"], preset["scheduler"], "fast"
    steps, scheduler = steps or 25, scheduler or "ddim"
    if request.steps is not None or request.scheduler is not None:
        source = "flags"
    return request.steps or steps, request.scheduler or scheduler, source


def fast_preset(recommended) -> dict:
    """What `--fast` sets: the model's own measured preset (`fast` in its artv_config.json) over
    DPM-Solver++ at the model's steps, at most 12."""
    steps = recommended.steps if recommended is not None else None
    preset = {"steps": min(steps or 12, 12), "scheduler": "dpm++"}
    return preset | (dict(recommended.fast) if recommended is not None else {})


def guidance_defaults(method, fast: bool) -> dict:
    """What a render uses where the user gives no value: the model's guidance weights and Phi_mask every
    step, or with `fast`, its speed preset's values where the preset has them."""
    values = dict(
        guidance_text=method.guidance_text,
        guidance_ref=method.guidance_ref,
        guidance_anchor=method.guidance_anchor,
        mask_every=1,
    )
    if fast:
        values |= {k: v for k, v in method.fast.items() if k in values}
    return values


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
