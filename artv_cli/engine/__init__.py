"""All model work of artv: ART-V's networks, model folders, the sampler and video output.

The engine never imports typer or rich and never prints. Its main names are importable from here,
lazily, so that `import artv_cli.engine.images` does not load diffusers.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ARTVConfig": "artv_cli.engine.model.config",
    "PRESETS": "artv_cli.engine.model.config",
    "ARTVModel": "artv_cli.engine.model.artv",
    "BaseModel": "artv_cli.engine.model.base",
    "Conditions": "artv_cli.engine.model.artv",
    "RenderRequest": "artv_cli.engine.sampling.request",
    "RenderState": "artv_cli.engine.sampling.loop",
    "SampleSettings": "artv_cli.engine.sampling.loop",
    "render": "artv_cli.engine.sampling.loop",
    "render_video": "artv_cli.engine.sampling.request",
    "VideoWriter": "artv_cli.engine.data.video",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'artv_cli.engine' has no attribute {name!r}")
