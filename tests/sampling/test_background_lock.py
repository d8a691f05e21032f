"""The background lock (`--background-lock`, step 7): pixels near the anchor's background at their place
are moved back to it; the subject is left alone."""

import numpy as np
import torch

from artv_cli.engine.sampling.colours import background_image, colour_targets, hold_background
from tests.sampling.test_subject_lock import frame


def test_the_target_is_the_anchor_with_its_subject_filled_by_the_background():
    anchor = frame((110, 110, 110), (220, 120, 30))
    anchor[:, :4] = (100, 104, 110)  # a faint band of the background's own stays
    image = background_image(anchor[None])[0]
    assert np.array_equal(image[28, 30], [110, 110, 110]) and np.array_equal(image[5, 1], [100, 104, 110])


def test_a_haze_near_the_background_is_undone_and_the_subject_moved_elsewhere_is_left_alone():
    """A pixel g off the anchor's background moves (1 - g / fade) of the way back (the fade: 40 here), so
    each frame removes most of a faint haze before it can build up; the subject is left where it is."""
    anchor = frame((110, 110, 110), (220, 120, 30))
    now = frame((110, 110, 110), (220, 120, 30), box=(40, 56, 8, 24))  # the subject has moved
    now[:, 56:] = (120, 112, 106)  # a faint orange haze at the right edge, 10 off the background
    now[:, :4] = (140, 114, 86)  # a stronger one at the left, 30 off
    now[39, 8:24] = (130, 112, 102)  # the subject's soft edge, as faint as the haze: kept
    image, targets = background_image(anchor[None]), colour_targets(anchor[None])
    held = hold_background(now[None], image, targets, 1.0)[0].astype(int)
    assert np.array_equal(held[0, 60], np.round([110 + 10 / 4, 110 + 2 / 4, 110 - 4 / 4]))  # 3/4 back
    assert np.array_equal(held[0, 1], np.round([140 - 30 / 4, 114 - 4 / 4, 86 + 24 / 4]))  # 1/4 back
    assert np.array_equal(held[38:58, 6:26], now[38:58, 6:26])  # the subject and 2 pixels round it
    assert np.array_equal(held[30, 30], [110, 110, 110])  # where the anchor's subject was: background
    half = hold_background(now[None], image, targets, 0.5)[0].astype(int)
    assert np.array_equal(half[0, 60], np.round([110 + 10 * 5 / 8, 110 + 2 * 5 / 8, 110 - 4 * 5 / 8]))


def test_a_subject_of_little_contrast_is_not_taken_for_a_stain_and_no_subject_means_no_lock():
    """The fade is half the anchor subject's contrast: an olive object 50 off an olive-grey ground keeps
    its colour where it moved; an anchor with no subject at all leaves every frame as it is."""
    anchor = frame((110, 110, 110), (160, 150, 110))
    now = frame((110, 110, 110), (160, 150, 110), box=(40, 56, 8, 24))
    held = hold_background(now[None], background_image(anchor[None]), colour_targets(anchor[None]), 1.0)[0]
    assert np.array_equal(held[40:56, 8:24], now[40:56, 8:24])
    plain = frame(110, 110)
    hazy = frame(110, 130)
    held = hold_background(hazy[None], background_image(plain[None]), colour_targets(plain[None]), 1.0)
    assert np.array_equal(held[0], hazy)


def test_the_default_model_keeps_an_animated_pictures_background_closer_with_the_lock():
    """The default model, animating an orange square on grey for 24 frames: with the background lock
    the pixels that should be background stay nearer the picture's than without it."""
    from artv_cli.engine.hub.registry import load_model, resolve_model
    from artv_cli.engine.sampling.loop import SampleSettings, render

    model = load_model(resolve_model("default"), torch.device("cpu"), torch.float32)
    picture = frame((110, 110, 110), (220, 120, 30), box=(24, 40, 24, 40))
    given = torch.from_numpy(picture).permute(2, 0, 1)[None].float() / 127.5 - 1

    def haze(lock):
        settings = SampleSettings(
            frames=24, steps=4, scheduler="dpm++", seed=1, guidance_ref=0, guidance_anchor=0,
            guidance_stop=0.5, colour_lock=1.0, subject_lock=1.0, background_lock=lock,
        )  # fmt: skip
        frames = np.stack(list(render(model, "an orange square moves left slowly", settings, given))[1:])
        gap = np.abs(frames.astype(int) - 110).max(axis=-1)
        return float(gap[gap < 40].mean())  # the background's pixels, wherever the square went

    free, held = haze(0.0), haze(1.0)
    assert held < 0.6 * free, (free, held)
