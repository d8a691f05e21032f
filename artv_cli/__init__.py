"""artv: auto-regressive text-to-video generation with diffusion models (ART-V)."""

__version__ = "0.1.0"
