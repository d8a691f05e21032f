"""artv's own folder on this machine, for every layer that keeps something there."""

from __future__ import annotations

import os
from pathlib import Path


def artv_home() -> Path:
    """artv's own folder: $ARTV_HOME, else platformdirs' user cache folder (~/.cache/artv on Linux)."""
    home = os.environ.get("ARTV_HOME")
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("artv"))
