"""What a model folder says about how to sample it: its recommended steps and sampler, and its words.

Read from `artv_config.json` without loading any weights, so the checks before a render stay fast.
"""

from __future__ import annotations

import re

from artv_cli.engine.sampling.settings import FAST_KEYS, resolve


def sampling(request, config) -> tuple[int, str, str]:
    """Steps and scheduler of a request (`settings.resolve`: the user's flags, else the `--fast` preset,
    else the model folder's recommendation, else the built-in default) and where they came from:
    `flags`, `fast`, `model` or `built-in`."""
    values, sources = resolve({"steps": request.steps, "scheduler": request.scheduler}, config, request.fast)
    picked = {sources["steps"], sources["scheduler"]}
    source = next(
        (name for key, name in (("given", "flags"), ("fast", "fast"), ("model", "model")) if key in picked),
        "built-in",
    )
    return values["steps"], values["scheduler"], source


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
    from artv_cli.engine.model.config import CONFIG_NAME, ARTVConfig
    from artv_cli.errors import ArtvError

    config = ARTVConfig.load(ref.folder)
    odd = sorted(set(config.fast) - set(FAST_KEYS))
    if odd:
        raise ArtvError(
            f'{ref.folder / CONFIG_NAME}: unknown key(s) {", ".join(odd)} in "fast"',
            f"a speed preset may set only {', '.join(FAST_KEYS)}: remove the others",
        )
    return config
