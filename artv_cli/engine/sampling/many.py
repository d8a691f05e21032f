"""Several videos advanced together: the frame loop of `loop.render` with B videos in each forward.

The loop is the same for every video of the same settings (Sec. 3 and 4), so B videos can share one
forward per network and step: rows are the guidance branches of every video, branch-major. Each video
keeps its own generator and draws what a lone render draws, in the same order, so a video is the one
`render` makes up to float rounding of the larger matrix products (measured in the tests); `artv batch
--batch-size 1` uses `render` itself. Used by `artv batch --batch-size B` (docs/batch.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from diffusers.utils.torch_utils import randn_tensor

from artv_cli.engine.model.artv import ARTVModel, Conditions
from artv_cli.engine.model.masked import guided_epsilon
from artv_cli.engine.sampling.loop import (
    SampleSettings,
    augment,
    lock_colours,
    make_generator,
    make_scheduler,
    median_colours,
)


@torch.inference_mode()
def render_many(
    model: ARTVModel,
    prompts: list[str],
    settings: SampleSettings,
    seeds: list[int],
    negative_prompts: list[str] | None = None,
    images: torch.Tensor | None = None,
    text_cache: dict | None = None,
    on_step=None,
) -> Iterator[list[np.ndarray]]:
    """Yield, frame after frame, one (H, W, 3) uint8 frame per video. `settings` is shared (its seed
    and negative prompt are not used: `seeds` and `negative_prompts` are per video); `images` (B, 3, H,
    W) animates every video from its image, None makes frame 0 from text as `render` does."""
    device, count = model.device, len(prompts)
    negatives = negative_prompts or [""] * count
    generators = [make_generator(seed, device) for seed in seeds]
    h, w = settings.height // model.vae_scale_factor, settings.width // model.vae_scale_factor
    level = settings.noise_level

    def each(make):  # one draw per video, from its own generator, in the order a lone render draws
        return torch.cat([make(generator) for generator in generators])

    def augmented(z: torch.Tensor) -> torch.Tensor:
        return torch.cat([augment(model, z[v : v + 1], level, g) for v, g in enumerate(generators)])

    # 1. Text embeddings of every video, each distinct (prompt, negative) pair encoded once.
    cache = text_cache if text_cache is not None else {}
    for key in set(zip(prompts, negatives, strict=True)) - set(cache):
        cache[key] = model.encode_prompt(list(key)).chunk(2)
    text = torch.cat([cache[key][0] for key in zip(prompts, negatives, strict=True)])
    no_text = torch.cat([cache[key][1] for key in zip(prompts, negatives, strict=True)])

    # 2. Frame 0 from the images (animation); they are the anchors too.
    prev = prev2 = anchor = z_a = None
    if images is not None:
        prev = prev2 = anchor = model.encode_images(images).float()
        yield list(model.decode_latents(prev))
        z_a = augmented(anchor).to(model.dtype)
    blank = torch.zeros(count, 4, h, w, device=device)
    scheduler = make_scheduler(settings.scheduler, model)
    lock_to = None  # the anchors' median colours, for the colour lock

    for frame in range(1 if images is not None else 0, settings.frames):
        # 3. References of every video, augmented (Eq. 3); blank before frame 0 exists.
        has_refs, anchored = prev is not None, anchor is not None and model.config.use_anchor
        refs = torch.cat([augmented(prev), augmented(prev2)], dim=1) if has_refs else None

        # 4. The guidance branches (Sec. 4), branch-major: rows [branch][video].
        branches = [("full", has_refs, anchored, text)]
        if settings.guidance_text != 0:
            branches.append(("no_text", has_refs, anchored, no_text))
        if settings.guidance_ref != 0 and has_refs:
            branches.append(("no_ref", False, anchored, text))
        if settings.guidance_anchor != 0 and anchored:
            branches.append(("no_anchor", has_refs, False, text))
        ref_rows = torch.cat([refs if r else torch.cat([blank, blank], dim=1) for _, r, _, _ in branches])
        anchor_rows = torch.cat([z_a if a else blank for _, _, a, _ in branches]).to(model.dtype)
        ref_rows = ref_rows.to(model.dtype)
        rows = len(branches) * count
        use_mask = model.config.use_mask
        z_ref = prev if has_refs else blank
        cond = Conditions(
            text=torch.cat([t for _, _, _, t in branches]),
            features=model.cond.reference_features(ref_rows),
            mask_features=model.mask_cond.reference_features(ref_rows),
            tokens=model.cond.anchor_tokens(anchor_rows),
            mask_tokens=model.mask_cond.anchor_tokens(anchor_rows),
            noise_level=torch.full((rows,), level, device=device, dtype=torch.long),
            z_ref=z_ref.repeat(len(branches), 1, 1, 1),
            static=torch.tensor([r and use_mask for _, r, _, _ in branches for _v in range(count)]),
        )

        # 5. Denoise all videos' frame together (Eqs. 5-7, then the guided sum).
        steps = settings.steps if has_refs else settings.first_frame_steps or settings.steps
        scheduler.set_timesteps(steps, device=device)
        z = each(lambda g: randn_tensor((1, 4, h, w), generator=g, device=device, dtype=torch.float32))
        z = z * scheduler.init_noise_sigma
        mask_cache: dict = {}
        for step, t in enumerate(scheduler.timesteps):
            z_in = scheduler.scale_model_input(z, t).repeat(len(branches), 1, 1, 1)
            reuse = settings.mask_every > 1 and step % settings.mask_every != 0
            eps = model.predict_noise(z_in, t, cond, mask_cache=mask_cache, reuse_mask=reuse)
            parts = dict(zip([b[0] for b in branches], eps.chunk(len(branches)), strict=True))
            eps = guided_epsilon(
                parts["full"],
                parts.get("no_text"),
                parts.get("no_ref"),
                parts.get("no_anchor"),
                settings.guidance_text,
                settings.guidance_ref,
                settings.guidance_anchor,
            )
            z = scheduler.step(eps, t, z).prev_sample  # DDIM (eta 0) and DPM-Solver++ draw no noise
            if on_step is not None:
                on_step(frame, step + 1, steps, None)

        # 6. Colour lock, if asked (as in `render`): every frame's median colour towards its anchor's.
        locked = None
        if settings.colour_lock and anchor is not None:
            if lock_to is None:
                lock_to = median_colours(model.decode_latents(anchor))
            z, locked = lock_colours(model, z, lock_to, settings.colour_lock)

        # 7. Slide every video's window; text-only frame 0 becomes the anchor (as in `render`).
        prev2 = prev if has_refs else z
        prev = z
        if anchor is None:
            anchor = z
            z_a = augmented(z).to(model.dtype)
        yield list(locked if locked is not None else model.decode_latents(z))
