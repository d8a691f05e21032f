"""The versions every output records (sidecars, training runs, checkpoints): one helper for all."""

from __future__ import annotations

import platform

PACKAGES = ("artv", "torch", "diffusers", "transformers", "accelerate", "imageio-ffmpeg")
"""Packages whose versions every record carries (None where one is not installed)."""


def version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(package)
    except PackageNotFoundError:
        return None


def versions() -> dict:
    """{package: version} for PACKAGES, and Python's."""
    return {package: version(package) for package in PACKAGES} | {"python": platform.python_version()}
