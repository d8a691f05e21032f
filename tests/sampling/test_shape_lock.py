"""The shape lock (`--shape-lock`, step 7): each frame's subjects redrawn as the anchor drew them, where the
model moved them; the model's own frames, which the next ones are made from, are left as they were."""

import numpy as np
import torch

from artv_cli.engine.evaluation.worldscore import classify_shape
from artv_cli.engine.sampling.colours import background_image
from artv_cli.engine.sampling.shapes import hold_shape, subject_sprites
from tests.sampling.test_subject_lock import frame

GREY, ORANGE = (110, 110, 110), (220, 120, 30)


def disc(centre, radius, colour=ORANGE, background=GREY, size=64):
    """A frame with a soft-edged disc: what the model draws of a square whose corners it wore away."""
    yy, xx = np.mgrid[:size, :size] + 0.5
    cover = np.clip(radius + 0.5 - np.hypot(xx - centre[0], yy - centre[1]), 0, 1)[..., None]
    return (cover * colour + (1 - cover) * np.array(background)).round().astype(np.uint8)


def locked(anchor, now, strength=1.0):
    held, _ = hold_shape(now[None], subject_sprites(anchor[None]), background_image(anchor[None]), strength)
    return held[0]


def centre(pixels, colour=ORANGE):
    """The subject's silhouette (nearer its colour than the background's) and its centre, each pixel
    weighted by how far it lies from the background to the subject (soft edges count in part)."""
    mask = np.abs(pixels.astype(int) - colour).max(axis=-1) < np.abs(pixels.astype(int) - GREY).max(axis=-1)
    towards = np.subtract(colour, GREY)
    weight = np.clip((pixels - np.array(GREY)) @ towards / (towards @ towards), 0, 1)
    rows, cols = np.mgrid[: pixels.shape[0], : pixels.shape[1]] + 0.5
    return mask, (weight * cols).sum() / weight.sum(), (weight * rows).sum() / weight.sum()


def test_a_rounded_square_is_redrawn_square_where_the_model_moved_it_and_the_rest_is_left_alone():
    anchor = frame(GREY, ORANGE, box=(20, 36, 24, 40))  # a 16-pixel square centred at (32, 28)
    now = disc((37.6, 25.3), 8.5)  # moved (+5.6, -2.7) and rounded
    now[60:, :] = (130, 110, 90)  # a stain far away: not the lock's
    held = locked(anchor, now)
    mask, x, y = centre(held[:60])  # the stain is not the subject
    assert classify_shape(mask) == "square" and classify_shape(centre(now[:60])[0]) == "circle"
    assert abs(x - 37.6) < 0.15 and abs(y - 25.3) < 0.15
    assert np.array_equal(held[60:], now[60:])
    assert np.array_equal(held[25, 37], ORANGE)  # the anchor's own colour, not the model's soft one
    half = locked(anchor, now, 0.5).astype(int)  # half way from the model's frame to the redrawn one
    assert np.abs(half - (now.astype(int) + held) / 2).max() <= 1


def test_the_anchors_soft_edge_leaves_no_outline_where_the_subject_moved_away_from():
    """The background the lock draws behind the subject is the anchor's with the subject and its soft
    edge (the pixels within EDGE of it, some under SUBJECT_GAP off) filled: the faint ring an anti-aliased
    disc has did stay behind, and a scorer read the subject with its ring as a diamond or a triangle."""
    anchor = disc((32, 32), 8.3)
    ring = (np.abs(anchor.astype(int) - GREY).max(axis=-1) > 0) & (
        np.abs(anchor.astype(int) - GREY).max(axis=-1) < 40
    )
    assert ring.sum() > 20  # the disc has a soft edge the subject's SUBJECT_GAP does not take in
    image = background_image(anchor[None])[0]
    assert np.abs(image - GREY).max() == 0
    now = disc((44, 40), 8.3)  # moved well off its start: the frame shows no ring there
    held = locked(anchor, now)
    start = np.zeros((64, 64), bool)
    start[20:45, 20:45] = True
    start &= (
        np.hypot(*(np.mgrid[:64, :64] + 0.5 - np.array([40, 44])[:, None, None])) > 12
    )  # off the disc now
    assert np.abs(held[start].astype(int) - GREY).max() <= 1
    assert classify_shape(centre(held)[0]) == "circle"


def test_a_square_the_model_drew_as_half_a_triangle_is_drawn_square_again_where_it_is():
    anchor = frame(GREY, ORANGE, box=(20, 36, 24, 40))
    now = frame(GREY, GREY)
    rows, cols = np.mgrid[:64, :64]
    now[(rows >= 30) & (rows < 46) & (cols >= 10) & (cols < 26) & (cols - 10 <= rows - 30)] = ORANGE
    held = locked(anchor, now)
    mask = np.abs(held.astype(int) - ORANGE).max(axis=-1) < 50
    assert classify_shape(mask) == "square"
    found = np.nonzero(mask)
    assert found[0].min() >= 28 and found[0].max() <= 47 and found[1].min() >= 8 and found[1].max() <= 27


def test_a_fraction_of_a_pixel_is_kept_so_a_slow_subject_keeps_moving():
    """Steps of a slow object are a fraction of a pixel: a place rounded to whole pixels would hold it."""
    anchor = disc((32, 32), 7)
    for shift in (0.3, -0.4):
        _, x, y = centre(locked(anchor, disc((32 + shift, 32 - shift), 7)))
        assert abs(x - (32 + shift)) < 0.05 and abs(y - (32 - shift)) < 0.05


def tracked(anchor, frames):
    """The lock over a video's frames in turn, with one anchor's sprites (their track carries over)."""
    sprites, image = subject_sprites(anchor[None]), background_image(anchor[None])
    return [hold_shape(now[None], sprites, image, 1.0) for now in frames]


def test_a_subject_leaving_the_frame_is_drawn_part_out_and_once_gone_is_not_drawn_back():
    anchor = frame(GREY, ORANGE, box=(20, 36, 24, 40))
    on = frame(GREY, ORANGE, box=(20, 36, 44, 60))  # moved 20 to the right
    leaving = frame(GREY, ORANGE, box=(20, 36, 54, 64))  # 10 more: 10 of its 16 columns still in view
    faint = frame(GREY, ORANGE, box=(20, 36, 62, 64))  # under a quarter of it shows, and its next step is out
    gone = frame(GREY, GREY)
    frames = [on, leaving, faint, gone]
    for (held, lost), now in zip(tracked(anchor, frames), frames, strict=True):
        assert np.array_equal(held[0], now) and not lost.any()  # placed part out, not pulled back in


def test_a_subject_the_model_lost_is_drawn_on_at_its_last_step_and_given_back_to_the_model():
    """A subject the model let fade (or shrank to a speck) in the middle of the frame is drawn where its
    last step takes it, and the frame is marked for the model's references."""
    anchor = frame(GREY, ORANGE, box=(20, 36, 24, 40))
    moved = frame(GREY, ORANGE, box=(20, 36, 27, 43))  # 3 to the right
    speck = frame(GREY, GREY)
    speck[27:29, 34:36] = ORANGE  # what the model left of it
    (first, lost_first), (second, lost_second), (third, _) = tracked(
        anchor, [moved, speck, frame(GREY, GREY)]
    )
    assert np.array_equal(first[0], moved) and not lost_first.any()
    assert lost_second.tolist() == [True]
    assert np.array_equal(second[0], frame(GREY, ORANGE, box=(20, 36, 30, 46)))  # 3 more, the speck taken in
    assert np.array_equal(third[0], frame(GREY, ORANGE, box=(20, 36, 33, 49)))


def test_each_subject_is_its_own_sprite_found_by_its_own_colour():
    """Two subjects that move apart are each drawn where their own colour went; a white box is not taken
    for a darker piece of the same hue that lies between it and the background."""
    anchor = frame(GREY, ORANGE, box=(8, 20, 8, 20))
    anchor[40:52, 40:52] = (240, 240, 240)
    anchor[40:52, 30:33] = (170, 170, 170)  # a dim strip beside the white box, a piece of its own
    now = frame(GREY, ORANGE, box=(10, 22, 12, 24))
    now[36:48, 44:56] = (240, 240, 240)
    now[40:52, 30:33] = (170, 170, 170)
    held = locked(anchor, now)
    assert np.array_equal(held, now)  # every piece already is as the anchor drew it, where it went


def test_the_shape_lock_changes_the_frames_shown_and_not_the_models_own():
    """Its redrawing stays out of the references: the model's frames, and so its motion, are the same
    with the lock as without it (a redrawn sprite would erase the model's cues of its own motion)."""
    from artv_cli.engine.hub.registry import load_model, resolve_model
    from artv_cli.engine.sampling.loop import RenderState, SampleSettings, render

    model = load_model(resolve_model("default"), torch.device("cpu"), torch.float32)
    picture = frame(GREY, ORANGE, box=(24, 36, 24, 36))
    given = torch.from_numpy(picture).permute(2, 0, 1)[None].float() / 127.5 - 1

    def run(lock):
        settings = SampleSettings(
            frames=8, steps=4, scheduler="dpm++", seed=3, guidance_ref=0, guidance_anchor=0,
            guidance_stop=0.5, colour_lock=1.0, subject_lock=1.0, background_lock=1.0, shape_lock=lock,
        )  # fmt: skip
        state = RenderState()
        frames = np.stack(list(render(model, "an orange square moves right slowly", settings, given, state)))
        return frames, state

    (free, free_state), (held, held_state) = run(0.0), run(1.0)
    assert torch.equal(free_state.prev, held_state.prev) and torch.equal(free_state.prev2, held_state.prev2)
    assert not np.array_equal(free, held)
    shapes = [classify_shape(centre(f)[0]) for f in held]
    assert shapes == ["square"] * len(held), shapes
    moved = centre(held[-1])[1] - centre(held[0])[1]
    assert abs(moved - (centre(free[-1])[1] - centre(free[0])[1])) < 1.0  # the model's motion, kept
