"""Several videos in one frame loop (`render` given a list of prompts) make the videos `render` makes alone,
to one level."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from artv_cli.engine.data.images import load_image
from artv_cli.engine.sampling.loop import SampleSettings, render

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "red-ball.png"


@pytest.mark.parametrize(
    ("animate", "lock", "first"), [(False, 0.0, None), (False, 0.0, 5), (True, 0.0, None), (True, 1.0, None)]
)
def test_videos_advanced_together_match_each_video_made_alone(tiny_model, animate, lock, first):
    settings = SampleSettings(
        frames=4, width=64, height=64, steps=3, scheduler="dpm++", colour_lock=lock, first_frame_steps=first
    )
    prompts, seeds, negatives = ["a red ball", "a blue box", "a red ball"], [3, 4, 5], ["", "blur", ""]
    image = load_image(EXAMPLE).fitted(64, 64) if animate else None
    images = image.repeat(3, 1, 1, 1) if animate else None
    cache: dict = {}
    frames = render(
        tiny_model, prompts, settings, images, text_cache=cache, seeds=seeds, negative_prompts=negatives
    )
    together = list(frames)
    assert len(together) == 4 and all(len(frame) == 3 for frame in together)
    assert len(cache) == 2  # (prompt, negative) pairs: "a red ball" twice is encoded once
    for v in range(3):
        own = replace(settings, seed=seeds[v], negative_prompt=negatives[v])
        alone = list(render(tiny_model, prompts[v], own, image=image))
        worst = max(
            int(np.abs(a.astype(int) - b[v].astype(int)).max()) for a, b in zip(alone, together, strict=True)
        )
        # float rounding of larger products, not another video; the colour lock can add one level more
        # (its shift is the median's, which a pixel's rounding can move by one)
        assert worst <= (2 if lock else 1), (v, worst)
    assert not np.array_equal(together[-1][0], together[-1][2])  # same prompt, other seed: another video
