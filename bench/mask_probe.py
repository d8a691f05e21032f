"""Where does Phi_mask copy? The mask m of Eq. 7 (1: copy the previous frame, 0: Phi_dynamic draws) on
the object's latent cells and on the background's, for a test video's true next frame noised to step t.

ART-V's split of labour is that the mask copies what stays and leaves what moves to Phi_dynamic, which
reads the words. If m is high on the moving object at the first step (both references frame 0), the
object is copied where it was and the direction in the text cannot show, however well Phi_dynamic reads
it. Object cells are the latent cells holding any pixel of the object in the previous or the next frame
(pixels far from the frame's median colour: plain backgrounds); the rest is background.

    python bench/mask_probe.py --model artv_cli/models/world64 --test test-anywhere --videos 32
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from world_eval import cases  # noqa: E402

from artv_cli.engine.data.datasets import to_pixels  # noqa: E402
from artv_cli.engine.hub.registry import load_model, resolve_model  # noqa: E402
from artv_cli.engine.model.artv import Conditions  # noqa: E402
from artv_cli.engine.model.masked import add_noise  # noqa: E402
from artv_cli.engine.sampling.loop import augment  # noqa: E402


def object_cells(frames: np.ndarray, factor: int, threshold: float = 60.0) -> torch.Tensor:
    """(h, w) bool: latent cells with an object pixel in any of `frames` (far from each frame's median)."""
    found = np.zeros(frames.shape[1:3], bool)
    for frame in frames.astype(float):
        found |= np.abs(frame - np.median(frame.reshape(-1, 3), 0)).sum(-1) > threshold
    h, w = found.shape
    return torch.from_numpy(found.reshape(h // factor, factor, w // factor, factor).any((1, 3)))


@torch.inference_mode()
def mask_means(model, frames, caption, target: int, steps, seed: int) -> dict:
    """Mean m on object and background cells of frame `target` from its two previous frames (frame 0 for
    both at target 1), at each diffusion step; the anchor is frame 0."""
    z = model.encode_images(to_pixels(frames[: target + 1])).float()
    generator = torch.Generator().manual_seed(seed)
    level = model.config.t_test
    prev, prev2, anchor = (augment(model, z[i : i + 1], level, generator) for i in
                           (target - 1, max(target - 2, 0), 0))  # fmt: skip
    refs = torch.cat([prev, prev2], 1)
    cond = Conditions(
        text=model.encode_prompt([caption]),
        features=model.cond.reference_features(refs),
        mask_features=model.mask_cond.reference_features(refs),
        tokens=model.cond.anchor_tokens(anchor),
        mask_tokens=model.mask_cond.anchor_tokens(anchor),
        noise_level=torch.full((1,), level, dtype=torch.long),
        z_ref=z[target - 1 : target],
        static=torch.ones(1, dtype=torch.bool),
        refs=refs,
    )
    cells = object_cells(frames[target - 1 : target + 1], model.vae_scale_factor)
    out = {}
    for step in steps:
        t = torch.tensor([step])
        z_t = add_noise(z[target : target + 1], torch.randn(z[:1].shape, generator=generator),
                        model.alphas_cumprod[t].view(-1, 1, 1, 1))  # fmt: skip
        m = model._mask(z_t, t, cond)[0].mean(0)  # (h, w), the channel mean
        out[step] = (float(m[cells].mean()), float(m[~cells].mean()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--test", type=Path, required=True, help="a test set of `artv data synth`")
    parser.add_argument("--videos", type=int, default=32)
    parser.add_argument("--steps", default="100,400,800", help="diffusion steps of the noisy target")
    parser.add_argument("--later", type=int, default=8, help="the later frame compared with frame 1")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = load_model(resolve_model(str(args.model)), torch.device("cpu"), torch.float32)
    steps = [int(s) for s in args.steps.split(",")]
    table = {target: {s: [] for s in steps} for target in (1, args.later)}
    for number, case in enumerate(cases(args.test, args.videos)):
        for target in table:
            for step, pair in mask_means(
                model, case["frames"], case["caption"], target, steps, number
            ).items():
                table[target][step].append(pair)
    report = {"model": str(args.model), "test": str(args.test), "videos": args.videos, "rows": []}
    print("| frame | diffusion step | m on the object | m on the background |\n| --- | --- | --- | --- |")
    for target, by_step in table.items():
        for step, pairs in by_step.items():
            obj, bg = np.mean(pairs, 0)
            report["rows"].append(
                {"frame": target, "step": step, "object": round(obj, 3), "background": round(bg, 3)}
            )
            print(f"| {target} | {step} | {obj:.3f} | {bg:.3f} |")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
