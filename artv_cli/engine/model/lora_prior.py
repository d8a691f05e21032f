"""The prior term of `artv train --lora --trigger --prior-weight`: which captions lack a trigger word, and
the model run as its base (adapters off) to give the prediction the adapter is pulled towards on them."""

from __future__ import annotations

import contextlib

from artv_cli.engine.model.lora import parts_container


def without_trigger(captions, words) -> list[bool]:
    """For each caption: True when it holds none of the trigger `words` (whole words, any case)."""
    import re

    wanted = {word.lower() for word in words}
    return [not wanted & set(re.findall(r"[\w']+", caption.lower())) for caption in captions]


@contextlib.contextmanager
def adapters_off(model):
    """Run the model as its base inside the block (every LoRA layer switched off), then as before."""
    from peft.tuners.lora import LoraLayer

    layers = [m for m in parts_container(model, model.lora_parts).modules() if isinstance(m, LoraLayer)]
    was = [layer.disable_adapters for layer in layers]
    for layer in layers:
        layer._disable_adapters = True  # the flag alone: peft's enable_adapters also sets requires_grad
    try:
        yield model
    finally:
        for layer, off in zip(layers, was, strict=True):
            layer._disable_adapters = off
