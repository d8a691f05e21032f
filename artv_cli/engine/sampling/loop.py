"""The auto-regressive sampler: one frame at a time from the previous two and the anchor (Sec. 3, Eq. 1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
from diffusers.utils.torch_utils import randn_tensor

from artv_cli.engine.model.artv import ARTVModel, Conditions, to_frames
from artv_cli.engine.model.lora import use_adapters
from artv_cli.engine.model.masked import add_noise, guided_epsilon
from artv_cli.engine.sampling.colours import background_image, colour_targets, lock_colours
from artv_cli.engine.sampling.shapes import hold_shape, subject_sprites

OnStep = Callable[[int, int, int, "np.ndarray | None"], None]
"""on_step(frame, step, total_steps, preview): progress of the frame being denoised."""


def make_scheduler(name: str, model: ARTVModel):
    """A fresh diffusers scheduler on the model's training schedule; ART-V always hands it epsilon."""
    config = dict(model.scheduler.config)
    config["prediction_type"] = "epsilon"  # eps_hat is an epsilon, whatever the base predicts (METHOD.md)
    if name == "ddim":
        return DDIMScheduler.from_config(config)
    if name == "dpm++":
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2)
    raise ValueError(f"unknown scheduler {name!r}: expected 'ddim' or 'dpm++'")


def make_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """The one source of randomness of a render: same seed, same device, same frames."""
    return torch.Generator(device=device).manual_seed(seed)


@dataclass
class SampleSettings:
    """Knobs of one render (the sidecar records them)."""

    frames: int = 16
    """Frames in the video, frame 0 included."""
    width: int = 64
    """Width in pixels."""
    height: int = 64
    """Height in pixels."""
    steps: int = 25
    """Denoising steps per frame."""
    first_frame_steps: int | None = None
    """Steps of a frame made from blank references (frame 0 of a text-only video: a whole picture from
    text, which fewer steps serve worse); None: `steps`."""
    scheduler: str = "ddim"
    """`ddim` or `dpm++` (DPM-Solver++ multistep)."""
    guidance_text: float = 6.5
    """w_txt of Sec. 4; 0 skips the no-text branch."""
    guidance_ref: float = 0.25
    """w_ref of Sec. 4; 0 skips the no-reference branch."""
    guidance_anchor: float = 0.25
    """w_anc of Sec. 4; 0 skips the no-anchor branch."""
    guidance_rescale: float = 0.0
    """phi of diffusers' `rescale_noise_cfg`: the guided eps rescaled to the full branch's spread; 0 = off."""
    guidance_stop: float = 1.0
    """Share of each frame's steps, from the noisiest, that compute the guidance branches; the later
    steps use the full branch alone (diffusers' guider `stop`; 1 = every step)."""
    noise_level: int = 200
    """t_test: augmentation step of references and anchor (Sec. 3.3); 0 keeps them clean."""
    seed: int = 0
    """Seed of every random draw of the render."""
    negative_prompt: str = ""
    """Text of the no-text guidance branch: what the video should move away from ("" = unconditional)."""
    mask_every: int = 1
    """Run Phi_mask every k-th step and reuse its mask in between (1 = every step; a speed knob)."""
    colour_lock: float = 0.0
    """Pull each new frame's median colour this far (0-1) towards the anchor's (0 = off; step 7)."""
    subject_lock: float = 0.0
    """Pull each new frame's subject colour this far (0-1) towards the anchor's subject's (0 = off; 7)."""
    background_lock: float = 0.0
    """Pull each new frame's background pixels this far (0-1) back to the anchor's (0 = off; step 7)."""
    shape_lock: float = 0.0
    """Redraw each new frame's subjects this far (0-1) as the anchor's, where the model moved them (0 = off;
    step 7, shapes.py)."""
    preview: bool = False
    """Hand each finished frame to `on_step` with its frame's last step (the command draws it; step 9)."""
    lora: tuple[str, ...] | list[str] = ()
    """LoRA adapters, `PATH[:SCALE]` each, stacked (step 0); none: the model as loaded."""
    background_decode: bool | None = None
    """Decode frame i to pixels while frame i+1 is denoised (None: on CUDA only, where it overlaps)."""


@dataclass
class RenderState:
    """What the loop carries between frames: the two references, the anchor and the frame count."""

    prev: torch.Tensor | None = None  # (1, 4, h, w) z^{i-1}; None before frame 0 exists
    prev2: torch.Tensor | None = None  # (1, 4, h, w) z^{i-2}
    anchor: torch.Tensor | None = None  # (1, 4, h, w) z_a; None means a blank anchor
    anchor_colours: np.ndarray | None = None  # (B, 2, 4) the anchor's median and subject colours (colours.py)
    anchor_background: np.ndarray | None = None  # (B, H, W, 3) the background lock's target (colours.py)
    anchor_pixels: np.ndarray | None = None  # (B, H, W, 3) uint8 the anchor, for the shape lock's sprites
    anchor_sprites: list | None = None  # the shape lock's sprites of anchor_pixels (shapes.py), once
    frames_done: int = 0
    counters: dict = field(default_factory=lambda: {"unet_rows": 0, "mask_rows": 0})  # network rows run


def augment(model: ARTVModel, z: torch.Tensor, level: int, generator: torch.Generator) -> torch.Tensor:
    """Corrupt a reference or the anchor to noise step `level` with fresh noise (Eq. 3, Sec. 3.3)."""
    if level == 0:
        return z
    noise = randn_tensor(z.shape, generator=generator, device=z.device, dtype=torch.float32)
    alpha_bar = model.alphas_cumprod[level]
    return add_noise(z.float(), noise, alpha_bar)


def _rows(parts: list, count: int) -> torch.Tensor | list[torch.Tensor]:
    """Per-branch conditions, each (count or 1, ...), into one batch of rows (branch-major); a blank
    condition computed once for one video is repeated for every video."""
    if isinstance(parts[0], torch.Tensor):
        return torch.cat([p.expand(count, *p.shape[1:]) if len(p) < count else p for p in parts])
    return [_rows(list(level), count) for level in zip(*parts, strict=True)]


def _first_rows(cond: Conditions, count: int) -> Conditions:
    """The first branch's rows of batched conditions (the full branch: rows [0, count))."""
    return Conditions(
        **{
            name: [v[:count] for v in value] if isinstance(value, list) else value[:count]
            for name, value in vars(cond).items()
            if value is not None
        }
    )


@torch.inference_mode()
def render(
    model: ARTVModel,
    prompt: str | list[str],
    settings: SampleSettings,
    image: torch.Tensor | None = None,
    state: RenderState | None = None,
    on_step: OnStep | None = None,
    reanchor: bool = False,
    transition: tuple[str, int] | None = None,
    text_cache: dict | None = None,
    seeds: list[int] | None = None,
    negative_prompts: list[str] | None = None,
) -> Iterator[np.ndarray] | Iterator[list[np.ndarray]]:
    """Yield the frames (H, W, 3) uint8 of a video, one at a time, as they are made.

    With `image` (1, 3, H, W) in [-1, 1], frame 0 is that image (animation); with neither image nor
    state, ART-V makes frame 0 itself from blank references and anchor (text only, Sec. 4.1); with a
    `state`, the video continues from it (the next segment of a story). Memory does not grow with length:
    only the two reference latents and the anchor are kept.

    Several videos of the same settings advance together when `prompt` is a list (B prompts, as diffusers'
    pipelines take a list of generators): `seeds` and `negative_prompts` are then per video (the
    settings' own are not used), `image` is (B, 3, H, W) or None, and each step yields a list of B
    frames. Every network runs once per step for all videos and guidance branches; each video draws
    from its own generator what it would draw alone, in the same order, so a video is the one rendered
    alone up to float rounding of the larger products (tests/sampling/test_many.py).

    For storyboards: `reanchor` makes this call's first frame the anchor (an image given with a state
    replaces the references and, with `reanchor`, the anchor too); `transition=(previous_prompt, K)`
    blends the text embedding from the previous prompt to this one over the first K frames made.
    `text_cache` (a dict kept by the caller) reuses the text embeddings of a prompt already seen (batch).
    """
    several = not isinstance(prompt, str)
    prompts = list(prompt) if several else [prompt]
    count = len(prompts)
    negatives = list(negative_prompts) if several and negative_prompts else [settings.negative_prompt] * count
    device = model.device
    background = (
        settings.background_decode if settings.background_decode is not None else device.type == "cuda"
    )
    decoder = ThreadPoolExecutor(max_workers=1) if background else None
    pending = None  # the previous frames' decode, running while the next are denoised
    generators = [make_generator(seed, device) for seed in (seeds if several else [settings.seed])]
    state = state or RenderState()
    h, w = settings.height // model.vae_scale_factor, settings.width // model.vae_scale_factor
    level = torch.full((1,), settings.noise_level, device=device, dtype=torch.long)

    def augmented(z: torch.Tensor) -> torch.Tensor:  # each video's noise from its own generator (Eq. 3)
        return torch.cat(
            [augment(model, z[v : v + 1], settings.noise_level, g) for v, g in enumerate(generators)]
        )

    def frames_of(pixels: np.ndarray, index: int | None = None):  # one frame, or one per video
        handed = list(pixels) if several else pixels[0]
        if index is not None and settings.preview and on_step is not None:  # its last step, with the frame
            on_step(index, last_steps[index], last_steps[index], handed)
        return handed

    last_steps: dict[int, int] = {}  # each generated frame's steps, for the preview's progress call

    # 0. Adapters: exactly the asked LoRA adapters, at their scales, run in the networks (each loaded once
    #    per model and checked against it; none asked: the model as loaded, to the byte).
    use_adapters(model, settings.lora)

    # 1. Encode the prompt, once per (prompt, negative prompt) pair: the prompt, and the negative (by
    #    default empty) prompt of the no-text branch.
    cache = text_cache if text_cache is not None else {}
    keys = [(p, n, tuple(settings.lora)) for p, n in zip(prompts, negatives, strict=True)]  # an adapter
    for key in dict.fromkeys(keys):  # may adapt the text encoder
        if key not in cache:
            cache[key] = tuple(model.encode_prompt(list(key[:2])).chunk(2))
    text = torch.cat([cache[key][0] for key in keys])
    no_text = torch.cat([cache[key][1] for key in keys])
    text_before = model.encode_prompt([transition[0]]) if transition and transition[1] > 0 else None
    made = 0  # frames made by this call (the transition counts them)

    # 2. Frame 0 from the image, if one is given (z^0 = VAE(image)): it is also the anchor (Sec. 3.4).
    #    The video's frame 0 is the picture itself, as given (fitted to the size), not its autoencoder
    #    round trip; the colour lock holds later frames to the picture's own colours.
    if image is not None:
        z0 = model.encode_images(image).float()
        picture = to_frames(image)
        state.prev, state.prev2 = z0, z0
        if state.anchor is None or reanchor:
            state.anchor, state.anchor_colours = z0, colour_targets(picture)
            state.anchor_background = background_image(picture)
            state.anchor_pixels, state.anchor_sprites = picture, None
            reanchor = False  # done: the image is the anchor
        state.frames_done += 1
        yield frames_of(picture)

    # 3. Anchor tokens, once per video: the augmented anchor, and a blank one for the no-anchor branch.
    blank = torch.zeros(1, 4, h, w, device=device)
    tokens = {
        "blank": (
            model.cond.anchor_tokens(blank.to(model.dtype)),
            model.mask_cond.anchor_tokens(blank.to(model.dtype)),
        )
    }
    if state.anchor is not None:
        z_a = augmented(state.anchor).to(model.dtype)
        tokens["anchor"] = (model.cond.anchor_tokens(z_a), model.mask_cond.anchor_tokens(z_a))
    blank_refs = torch.zeros(1, 8, h, w, device=device, dtype=model.dtype)
    features = {
        "blank": (model.cond.reference_features(blank_refs), model.mask_cond.reference_features(blank_refs))
    }
    scheduler = make_scheduler(settings.scheduler, model)

    while state.frames_done < settings.frames:
        frame = state.frames_done

        # 4. The references, once per frame: z^{i-1} and z^{i-2} augmented at t_test (Eq. 3, Sec. 3.3).
        has_refs, has_anchor = state.prev is not None, state.anchor is not None
        anchored = has_anchor and model.config.use_anchor  # a model trained without the anchor never sees one
        if has_refs:
            refs = torch.cat([augmented(state.prev), augmented(state.prev2)], dim=1).to(
                model.dtype
            )  # (B, 8, h, w)
            features["refs"] = (model.cond.reference_features(refs), model.mask_cond.reference_features(refs))

        # 5. Assemble the guidance branches, batched into one forward per network (Sec. 4), rows
        #    [branch][video]. A branch with weight 0, or whose condition is already blank (frame 0 of a
        #    text-only video), is not computed.
        refs_key, anchor_key = ("refs" if has_refs else "blank"), ("anchor" if anchored else "blank")
        text_now = text
        if text_before is not None and made < transition[1]:  # blend from the previous prompt (storyboards)
            text_now = torch.lerp(text_before, text, (made + 1) / (transition[1] + 1))
        branches = {"full": (text_now, refs_key, anchor_key)}
        if settings.guidance_text != 0:
            branches["no_text"] = (no_text, refs_key, anchor_key)
        if settings.guidance_ref != 0 and has_refs:
            branches["no_ref"] = (text_now, "blank", anchor_key)
        if settings.guidance_anchor != 0 and anchored:
            branches["no_anchor"] = (text_now, refs_key, "blank")
        rows = list(branches.values())
        n_rows = len(rows) * count
        z_ref = state.prev if has_refs else blank.expand(count, -1, -1, -1)
        cond = Conditions(
            text=torch.cat([r[0] for r in rows]),
            features=_rows([features[r[1]][0] for r in rows], count),
            mask_features=_rows([features[r[1]][1] for r in rows], count),
            tokens=_rows([tokens[r[2]][0] for r in rows], count),
            mask_tokens=_rows([tokens[r[2]][1] for r in rows], count),
            noise_level=level.expand(n_rows),
            z_ref=z_ref.repeat(len(rows), 1, 1, 1),
            refs=_rows([refs if r[1] == "refs" else blank_refs for r in rows], count)
            if model.config.concat_refs
            else None,  # only a model that reads its references at its input needs them batched
            static=torch.tensor(
                [r[1] == "refs" and model.config.use_mask for r in rows for _ in range(count)]
            ),
        )

        # 6. Denoise the frame from pure noise (set_timesteps also resets a multistep solver's history):
        #    eps_hat = m * eps_static + (1 - m) * eps_dynamic (Eqs. 5-7), then the guided sum (Sec. 4).
        steps = settings.steps if has_refs else settings.first_frame_steps or settings.steps
        last_steps[frame] = steps
        scheduler.set_timesteps(steps, device=device)
        z = torch.cat(
            [randn_tensor((1, 4, h, w), generator=g, device=device, dtype=torch.float32) for g in generators]
        )
        z = z * scheduler.init_noise_sigma
        mask_cache: dict = {}
        guided_steps = round(settings.guidance_stop * steps) if len(rows) > 1 else steps
        for step, t in enumerate(scheduler.timesteps):
            if step == guided_steps:  # past the guidance's stop: the full branch alone, its rows first
                cond, rows, n_rows = _first_rows(cond, count), rows[:1], count
                mask_cache.clear()
            z_in = scheduler.scale_model_input(z, t).repeat(len(rows), 1, 1, 1)  # rows [branch][video]
            reuse = settings.mask_every > 1 and step % settings.mask_every != 0 and "mask" in mask_cache
            eps = model.predict_noise(z_in, t, cond, mask_cache=mask_cache, reuse_mask=reuse)
            state.counters["unet_rows"] += n_rows
            if not reuse:
                state.counters["mask_rows"] += int(cond.static.sum())  # a CPU tensor: no device sync
            parts = dict(zip(list(branches)[: len(rows)], eps.chunk(len(rows)), strict=True))
            eps = guided_epsilon(
                parts["full"],
                parts.get("no_text"),
                parts.get("no_ref"),
                parts.get("no_anchor"),
                settings.guidance_text,
                settings.guidance_ref,
                settings.guidance_anchor,
            )
            if settings.guidance_rescale:  # the guided sum keeps the full branch's spread, per video
                from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import rescale_noise_cfg

                eps = rescale_noise_cfg(eps, parts["full"], guidance_rescale=settings.guidance_rescale)
            z = scheduler.step(eps, t, z).prev_sample  # DDIM (eta 0) and DPM-Solver++ draw no noise
            if on_step is not None and not (settings.preview and step + 1 == steps):  # preview: step 9
                on_step(frame, step + 1, steps, None)

        # 7. Colour locks, if asked: shift the decoded frame's median colour this far towards the anchor's
        #    (the background's, when the subject is smaller than half the frame), and its subject's colour
        #    towards the anchor's subject's, and encode it back, so colours do not drift (colours.py).
        #    The background lock then moves pixels near the anchor's background at their place back to it.
        #    The shape lock last redraws the anchor's subjects where the model moved them (shapes.py).
        locked = None
        locks = (settings.colour_lock, settings.subject_lock, settings.background_lock, settings.shape_lock)
        if any(locks) and has_anchor:
            if state.anchor_pixels is None:  # an anchor the loop made (or an older story's): decoded once
                state.anchor_pixels = model.decode_latents(state.anchor)
            if state.anchor_colours is None:
                state.anchor_colours = colour_targets(state.anchor_pixels)
            if state.anchor_background is None and (settings.background_lock or settings.shape_lock):
                state.anchor_background = background_image(state.anchor_pixels)
            if state.anchor_sprites is None and settings.shape_lock:
                state.anchor_sprites = subject_sprites(state.anchor_pixels)
            z, locked = lock_colours(model, z, state.anchor_colours, *locks[:3], state.anchor_background)
            # the shape lock changes the frame written only: z, the next frames' reference, stays the model's,
            # except where it drew back a subject the model lost
            if settings.shape_lock:
                locked, lost = hold_shape(
                    locked, state.anchor_sprites, state.anchor_background, settings.shape_lock
                )
                if lost.any():
                    drawn = torch.from_numpy(locked[lost]).permute(0, 3, 1, 2).float() / 127.5 - 1
                    z[torch.from_numpy(lost)] = model.encode_images(drawn).to(z)

        # 8. Slide the window: the new frame becomes z^{i-1}; text-only frame 0 (or a storyboard segment's
        #    first frame, re-anchoring) becomes the anchor too. The state is complete before the frame
        #    leaves, so a consumer that stops here can resume.
        state.prev2 = state.prev if has_refs else z
        state.prev = z
        if not has_anchor or (reanchor and made == 0):
            state.anchor, state.anchor_colours, state.anchor_background = z, None, None
            state.anchor_pixels, state.anchor_sprites = None, None
            z_a = augmented(z).to(model.dtype)
            tokens["anchor"] = (model.cond.anchor_tokens(z_a), model.mask_cond.anchor_tokens(z_a))
        state.frames_done += 1
        made += 1

        # 9. Hand the frame to the writer, decoded to pixels; the loop itself stays in latent space. With a
        #    background decoder, frame i is decoded while frame i+1 is denoised, and handed over after it.
        #    With `preview`, the frame's last progress call carries it (the command draws it).
        if locked is not None:  # already decoded by the colour lock
            if pending is not None:
                yield frames_of(pending.result(), frame - 1)
                pending = None
            yield frames_of(locked, frame)
            continue
        if decoder is None:
            yield frames_of(model.decode_latents(z), frame)
            continue
        if pending is not None:
            yield frames_of(pending.result(), frame - 1)
        pending = decoder.submit(_decode, model, z)
    if pending is not None:
        yield frames_of(pending.result(), state.frames_done - 1)
    if decoder is not None:
        decoder.shutdown()


@torch.inference_mode()  # inference mode is per thread: the background decoder needs its own
def _decode(model: ARTVModel, z: torch.Tensor) -> np.ndarray:
    return model.decode_latents(z)
