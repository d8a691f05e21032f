"""Does the text tell the first step which way to go? The training loss of frame 1 (both references are
frame 0, Sec. 4.1), with the test video's caption and with each of the 7 other directions swapped in.
(`--word colour` swaps the colour instead: the check that the measure sees text that a model does use.)

For every test video, the same noise and diffusion steps are used for all 8 captions; the direction whose
caption gives the lowest loss is the model's pick. A model that reads the direction from the text picks
the right one far above chance (1 in 8) and has a clear loss gap; one that ignores it has a gap near 0
and picks at chance. This is the training objective itself, so it shows a checkpoint starting to use the
text long before the rendered motion does, and it takes seconds, not minutes:

    python bench/direction_gap.py --model artv_cli/models/world64 --test test-anywhere --videos 32
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
from artv_cli.engine.data.synth import DIRECTIONS  # noqa: E402
from artv_cli.engine.data.world import COLOURS  # noqa: E402
from artv_cli.engine.hub.registry import load_model, resolve_model  # noqa: E402
from artv_cli.engine.model.artv import Conditions  # noqa: E402
from artv_cli.engine.model.masked import add_noise  # noqa: E402
from artv_cli.engine.sampling.loop import augment  # noqa: E402


def asked(caption: str, names) -> str | None:
    """The name (a direction or colour of the world) in a caption of the grammar's wording; the longest
    that fits, so "up and to the left" is not read as "up"."""
    found = [d for d in names if f" {d} " in f" {caption.replace(',', ' ')} "]
    return max(found, key=len) if found else None


@torch.inference_mode()
def first_step_losses(
    model, frames: np.ndarray, captions: list[str], steps: list[int], seed: int
) -> np.ndarray:
    """(len(captions),) mean epsilon loss of frame 1 from frame 0, the same noise for every caption."""
    z = model.encode_images(to_pixels(frames[:2])).float()
    z0, z1 = z[:1], z[1:2]
    generator = torch.Generator().manual_seed(seed)
    level = torch.full((1,), model.config.t_test, dtype=torch.long)
    # both references are frame 0, each augmented with its own noise, and so is the anchor (Eq. 3)
    prev, prev2, anchor = (augment(model, z0, model.config.t_test, generator) for _ in range(3))
    refs = torch.cat([prev, prev2], 1)
    n = len(captions)
    text = model.encode_prompt(captions)
    cond = Conditions(
        text=text,
        features=[f.expand(n, -1, -1, -1) for f in model.cond.reference_features(refs)],
        mask_features=[f.expand(n, -1, -1, -1) for f in model.mask_cond.reference_features(refs)],
        tokens=model.cond.anchor_tokens(anchor).expand(n, -1, -1),
        mask_tokens=model.mask_cond.anchor_tokens(anchor).expand(n, -1, -1),
        noise_level=level.expand(n),
        z_ref=z0.expand(n, -1, -1, -1),
        static=torch.ones(n, dtype=torch.bool),
        refs=refs.expand(n, -1, -1, -1),
    )
    losses = np.zeros(n)
    for step in steps:
        noise = torch.randn(z1.shape, generator=generator)
        t = torch.tensor(step)
        z_t = add_noise(z1, noise, model.alphas_cumprod[t]).expand(n, -1, -1, -1)
        eps = model.predict_noise(z_t, t, cond)
        losses += ((eps - noise) ** 2).mean((1, 2, 3)).numpy()
    return losses / len(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--test", type=Path, required=True, help="a test set of `artv data synth`")
    parser.add_argument("--videos", type=int, default=32)
    parser.add_argument("--steps", default="20,50,100,200,400", help="diffusion steps the loss is taken at")
    parser.add_argument("--draws", type=int, default=2, help="noise draws per video")
    parser.add_argument(
        "--word",
        choices=["direction", "colour"],
        default="direction",
        help="which word to swap; colour is the check that the measure sees text a model does use",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    words = list(DIRECTIONS if args.word == "direction" else COLOURS)
    model = load_model(resolve_model(str(args.model)), torch.device("cpu"), torch.float32)
    steps = [int(s) for s in args.steps.split(",")]
    rows = []
    for number, case in enumerate(cases(args.test, args.videos)):
        caption = case["caption"]
        word = asked(caption, words)
        if word is None or caption.count(" moves ") != 1:  # one object: its word is the one swapped
            continue
        names = [word, *(d for d in words if d != word)]
        captions = [f" {caption}".replace(f" {word} ", f" {d} ", 1).strip() for d in names]
        losses = np.mean(
            [
                first_step_losses(model, case["frames"], captions, steps, number * 100 + k)
                for k in range(args.draws)
            ],
            0,
        )
        picked = names[int(np.argmin(losses))]
        gap = float(np.mean(losses[1:]) - losses[0]) / float(np.mean(losses))
        rows.append({"caption": caption, "picked": picked, "right": picked == word, "gap": round(gap, 5)})
        print(f"{caption}\n  picked {picked}; loss gap (others - asked) {100 * gap:+.2f} % of the loss")
    report = {
        "model": str(args.model),
        "test": str(args.test),
        "word": args.word,
        "choices": len(words),
        "steps": steps,
        "videos": len(rows),
        "picked_right": round(float(np.mean([r["right"] for r in rows])), 3) if rows else None,
        "mean_gap": round(float(np.mean([r["gap"] for r in rows])), 5) if rows else None,
        "rows": rows,
    }
    print(
        f"{len(rows)} videos: the asked {args.word} has the lowest loss in "
        f"{100 * report['picked_right']:.0f} % (chance {100 / len(words):.0f} %); "
        f"mean gap {100 * report['mean_gap']:+.2f} % of the loss"
    )
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
