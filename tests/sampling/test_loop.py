"""The auto-regressive loop: frame counts, what is computed once, determinism."""

import numpy as np
import pytest
import torch

from artv_cli.engine.sampling.loop import SampleSettings, render


def count_calls(module):
    calls = []
    handle = module.register_forward_hook(lambda *args: calls.append(1))
    return calls, handle


def image():
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, 64, 64, generator=g) * 2 - 1


def test_animate_yields_the_asked_frames_starting_from_the_image(tiny_model):
    frames = list(render(tiny_model, "a ball", SampleSettings(frames=4, steps=2, seed=0), image=image()))
    assert len(frames) == 4
    assert all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
    expected0 = ((image()[0].permute(1, 2, 0) + 1) * 127.5).round().to(torch.uint8).numpy()
    assert np.array_equal(frames[0], expected0)  # the picture itself, not its autoencoder round trip


def test_work_done_once_per_frame_video_and_prompt_not_per_step(tiny_model):
    frames, steps = 4, 5
    adapter, h1 = count_calls(tiny_model.cond.adapter)
    mask_adapter, h2 = count_calls(tiny_model.mask_cond.adapter)
    anchor, h3 = count_calls(tiny_model.cond.anchor_stem)
    text, h4 = count_calls(tiny_model.text_encoder)
    unet, h5 = count_calls(tiny_model.unet)
    try:
        list(render(tiny_model, "a ball", SampleSettings(frames=frames, steps=steps), image=image()))
    finally:
        for h in (h1, h2, h3, h4, h5):
            h.remove()
    # adapter: once for the blank references of the guidance branch, then once per generated frame
    assert len(adapter) == len(mask_adapter) == 1 + (frames - 1)
    assert len(anchor) == 2  # the anchor and the blank anchor, once per video
    assert len(text) == 1  # prompt and empty prompt in one call, once per prompt
    assert len(unet) == (frames - 1) * steps  # all guidance branches in one forward per step


def test_branches_batched_and_zero_weights_skipped(tiny_model):
    settings = SampleSettings(frames=3, steps=2)
    from artv_cli.engine.sampling.loop import RenderState

    state = RenderState()
    list(render(tiny_model, "a ball", settings, image=image(), state=state))
    assert (
        state.counters["unet_rows"] == 2 * 2 * 4
    )  # frames 1, 2 x steps x (full, no text, no ref, no anchor)
    assert state.counters["mask_rows"] == 2 * 2 * 3  # the no-ref branch has its static path off
    settings = SampleSettings(frames=3, steps=2, guidance_text=0, guidance_ref=0, guidance_anchor=0)
    state = RenderState()
    list(render(tiny_model, "a ball", settings, image=image(), state=state))
    assert state.counters["unet_rows"] == 2 * 2 * 1  # only the full branch


def test_text_only_frame_zero_uses_blank_references_and_no_mask(tiny_model):
    from artv_cli.engine.sampling.loop import RenderState

    state = RenderState()
    frames = list(render(tiny_model, "a ball", SampleSettings(frames=1, steps=3), state=state))
    assert len(frames) == 1
    assert state.counters["mask_rows"] == 0  # the static path is off without references
    assert state.counters["unet_rows"] == 3 * 2  # full and no-text; no-ref and no-anchor are already blank
    assert state.anchor is not None and torch.equal(state.anchor, state.prev)  # frame 0 becomes the anchor


def test_same_seed_same_frames_other_seed_other_frames(tiny_model):
    def run(seed, **kw):
        return np.stack(
            list(render(tiny_model, "a ball", SampleSettings(frames=3, steps=3, seed=seed, **kw)))
        )

    first = run(7)
    assert np.array_equal(first, run(7))
    assert not np.array_equal(first, run(8))
    dpm = run(7, scheduler="dpm++")
    assert np.array_equal(dpm, run(7, scheduler="dpm++"))


def test_state_stays_two_latents_and_anchor(tiny_model):
    from artv_cli.engine.sampling.loop import RenderState

    state = RenderState()
    for _ in render(tiny_model, "a ball", SampleSettings(frames=6, steps=1), image=image(), state=state):
        pass
    assert state.frames_done == 6
    assert state.prev.shape == state.prev2.shape == state.anchor.shape == (1, 4, 8, 8)
    assert not torch.equal(state.prev, state.prev2)


def test_continuing_from_a_state_conditions_on_its_last_frames(tiny_model):
    """A later segment starts from the previous segment's last two latents (story builds on this)."""
    from artv_cli.engine.sampling.loop import RenderState

    state = RenderState()
    list(render(tiny_model, "a ball", SampleSettings(frames=3, steps=1), image=image(), state=state))
    prev = state.prev.clone()
    seen = []
    handle = tiny_model.cond.adapter.register_forward_hook(lambda m, args, out: seen.append(args[0].clone()))
    try:
        list(
            render(
                tiny_model, "the ball stops", SampleSettings(frames=4, steps=1, noise_level=0), state=state
            )
        )
    finally:
        handle.remove()
    assert state.frames_done == 4
    assert torch.equal(seen[-1][:, :4], prev)  # noise_level 0: the clean z^{i-1} went into the adapter


@pytest.mark.parametrize("size", [(64, 64), (96, 64)])
def test_sizes(tiny_model, size):
    width, height = size
    frames = list(render(tiny_model, "x", SampleSettings(frames=2, steps=1, width=width, height=height)))
    assert frames[1].shape == (height, width, 3)


def test_memory_does_not_grow_with_length(tiny_model):
    """Frames leave as they are made: the live tensors at frame 25 are those at frame 5."""
    import gc

    def live_tensors():
        gc.collect()
        return sum(1 for obj in gc.get_objects() if torch.is_tensor(obj))

    counts = {}
    for i, _ in enumerate(render(tiny_model, "a ball", SampleSettings(frames=26, steps=1), image=image())):
        if i in (5, 25):
            counts[i] = live_tensors()
    assert counts[25] == counts[5]


def test_progress_callback_reports_every_step(tiny_model):
    calls = []
    settings = SampleSettings(frames=3, steps=4)
    list(render(tiny_model, "a ball", settings, image=image(), on_step=lambda *a: calls.append(a)))
    assert [(f, s, t) for f, s, t, _ in calls] == [(f, s, 4) for f in (1, 2) for s in (1, 2, 3, 4)]


def test_state_is_current_when_a_frame_is_handed_out(tiny_model):
    from artv_cli.engine.sampling.loop import RenderState

    state = RenderState()
    for i, _ in enumerate(render(tiny_model, "a ball", SampleSettings(frames=5, steps=1), state=state)):
        assert state.frames_done == i + 1
        if i == 2:
            break
    assert state.frames_done == 3 and state.prev is not None


def test_negative_prompt_replaces_the_empty_prompt_of_the_text_branch(tiny_model):
    def run(**kw):
        return np.stack(list(render(tiny_model, "a ball", SampleSettings(frames=2, steps=2, seed=1, **kw))))

    assert np.array_equal(run(), run(negative_prompt=""))
    assert not np.array_equal(run(), run(negative_prompt="blurry, noisy"))
    assert np.array_equal(run(guidance_text=0), run(guidance_text=0, negative_prompt="blurry"))  # branch off


def test_engine_exports_its_main_names():
    import artv_cli.engine as engine

    assert engine.render is render and engine.SampleSettings is SampleSettings
    assert set(engine.__all__) >= {"ARTVModel", "render", "SampleSettings", "RenderState", "VideoWriter"}


def test_background_decoding_hands_out_the_same_frames_in_order(tiny_model):
    settings = dict(frames=5, steps=2, seed=4)
    inline = list(
        render(tiny_model, "a ball", SampleSettings(**settings, background_decode=False), image=image())
    )
    overlapped = list(
        render(tiny_model, "a ball", SampleSettings(**settings, background_decode=True), image=image())
    )
    assert len(overlapped) == 5
    assert all(np.array_equal(a, b) for a, b in zip(inline, overlapped, strict=True))


def test_mask_every_k_steps_runs_phi_mask_less_often(tiny_model):
    from artv_cli.engine.sampling.loop import RenderState

    base = dict(frames=3, steps=6, seed=2)
    every, sparse = RenderState(), RenderState()
    a = list(render(tiny_model, "a ball", SampleSettings(**base), image=image(), state=every))
    b = list(render(tiny_model, "a ball", SampleSettings(**base, mask_every=3), image=image(), state=sparse))
    assert every.counters["unet_rows"] == sparse.counters["unet_rows"]
    assert sparse.counters["mask_rows"] * 3 == every.counters["mask_rows"]
    assert np.array_equal(a[0], b[0]) and len(b) == 3
    calls, handle = count_calls(tiny_model.mask_unet)
    try:
        list(
            render(
                tiny_model, "a ball", SampleSettings(frames=2, steps=6, seed=2, mask_every=3), image=image()
            )
        )
    finally:
        handle.remove()
    assert len(calls) == 2  # steps 0 and 3 of the one generated frame


def test_a_frame_made_from_text_takes_its_own_steps(tiny_model):
    """first_frame_steps: frame 0 of a text-only video (blank references) is denoised with its own count
    of steps; frames with references, and every frame of an animation, with `steps`."""

    def steps_per_frame(**given) -> dict:
        seen: dict = {}
        on_step = lambda frame, step, total, preview: seen.__setitem__(frame, (step, total))  # noqa: E731
        list(render(tiny_model, "a ball", SampleSettings(frames=3, seed=1, **given), on_step=on_step))
        return seen

    assert steps_per_frame(steps=2, first_frame_steps=5) == {0: (5, 5), 1: (2, 2), 2: (2, 2)}
    assert steps_per_frame(steps=2) == {0: (2, 2), 1: (2, 2), 2: (2, 2)}
    seen: dict = {}
    settings = SampleSettings(frames=3, steps=2, first_frame_steps=5, seed=1)
    on_step = lambda frame, step, total, preview: seen.__setitem__(frame, total)  # noqa: E731
    list(render(tiny_model, "a ball", settings, image=image(), on_step=on_step))
    assert seen == {1: 2, 2: 2}  # frame 0 is the image: nothing made from text


def pixel_vae(model):
    """Give a model a VAE whose colours are plain to read: latent channels 0-2 are the colour of each 8x8
    block (60 per unit around 127.5), channel 3 is unused. The random tiny VAE decodes every latent to
    the same grey, so it cannot show a colour drift."""

    def decode(z):
        pixels = (127.5 + 60 * z[:, :3].float()).clamp(0, 255).round().to(torch.uint8)
        return pixels.repeat_interleave(8, 2).repeat_interleave(8, 3).permute(0, 2, 3, 1).numpy()

    def encode(pixels):
        blocks = torch.nn.functional.avg_pool2d((pixels.float() + 1) * 127.5, 8)
        return torch.cat([(blocks - 127.5) / 60, torch.zeros_like(blocks[:, :1])], dim=1)

    model.decode_latents, model.encode_images = decode, encode
    return model


@pytest.mark.parametrize("animate", [True, False])
def test_colour_lock_holds_every_frames_median_colour_at_the_anchors(animate):
    """With the lock at 1 every frame after the anchor has the anchor's median colour (to rounding), at
    0.5 frame 1 is pulled half the way; at 0 the random model drifts."""
    from artv_cli.engine.model.artv import ARTVModel
    from artv_cli.engine.sampling.colours import median_colours

    model = pixel_vae(ARTVModel.random("tiny", seed=0).eval())
    given = image() * 0.3 + torch.tensor([0.5, -0.5, 0.0]).view(1, 3, 1, 1) if animate else None

    def medians(lock):
        settings = SampleSettings(frames=5, steps=2, seed=1, colour_lock=lock)
        frames = list(render(model, "a ball", settings, given))
        return np.abs(median_colours(np.stack(frames[1:])) - median_colours(frames[0][None])).max(axis=1)

    free, locked, half = medians(0.0), medians(1.0), medians(0.5)
    assert free.max() > 8, free  # there is a drift to hold
    assert locked.max() <= 1.5, locked
    assert half[0] == pytest.approx(free[0] / 2, abs=1.5)  # frame 1 comes from the same noise


def test_the_picture_is_frame_0_and_the_lock_holds_its_own_colours_through_a_lossy_autoencoder():
    """An autoencoder that shifts every colour by 20 (as one trained on a palette does to colours off it):
    frame 0 is still the picture to the byte, and the colour lock holds the later frames at the picture's
    median colours, not at the autoencoder's version of them."""
    from artv_cli.engine.model.artv import ARTVModel
    from artv_cli.engine.sampling.colours import median_colours

    model = pixel_vae(ARTVModel.random("tiny", seed=0).eval())
    decode = model.decode_latents
    model.decode_latents = lambda z: np.clip(decode(z).astype(int) + 20, 0, 255).astype(np.uint8)
    given = image() * 0.3 + torch.tensor([0.5, -0.5, 0.0]).view(1, 3, 1, 1)
    picture = ((given[0].permute(1, 2, 0) + 1) * 127.5).round().to(torch.uint8).numpy()
    frames = list(render(model, "a ball", SampleSettings(frames=4, steps=2, seed=1, colour_lock=1.0), given))
    assert np.array_equal(frames[0], picture)
    shift = np.abs(median_colours(np.stack(frames[1:])) - median_colours(picture[None])).max()
    assert shift <= 1.5, shift
