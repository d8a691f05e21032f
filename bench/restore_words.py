"""Give a trained text encoder back the words a single frame cannot show (direction and speed).

The base stage trains the text encoder on single frames, where nothing moves, and it learns to leave the
direction and speed words out (`bench/direction_probe.py --text-only`: 0.23x as far apart as the colours,
against 1.22x for a random encoder). The ART-V stage then has nothing in the text to read the motion from.

This trains a copy of the model's text encoder towards

    E(p) = E0(p) + scale * (R(p) - mean of R over the 16 prompts that differ from p only in the direction
                            and the speed)

E0 the model's own encoder (what its UNet already reads: colour, shape, background), R a reference encoder
that keeps the direction (by default the world's random initialisation). Prompts are captions of the world
in the training phrasings (`artv_cli.engine.data.captions`). Everything else in the model folder is copied
unchanged; train it on with `artv train --model OUT` (the text encoder frozen, as by default).

    python bench/restore_words.py --model artv_cli/models/world64 --out restored --steps 1000
"""

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from artv_cli.engine.data.captions import DIRECTION_PHRASES, SPEED_PHRASES, Phrasing, draw_phrasing, phrase
from artv_cli.engine.data.world import BACKGROUND_TONES, COLOURS, DIRECTIONS, SHAPES, SPEEDS
from artv_cli.engine.hub.registry import load_model, resolve_model

GROUP = len(DIRECTIONS) * len(SPEEDS)


def phrasings(rng: np.random.Generator, split: str, shape: str) -> list[tuple[str, str, Phrasing]]:
    """One phrasing of a caption about `shape` with each direction and speed: (direction, speed, phrasing).

    For `train`, redrawn until all 16 phrasings are training ones (swapping the direction can land on a
    held-out phrasing), so the people's-phrasing test set stays unseen.
    """
    while True:
        phrasing = draw_phrasing(rng, shape, "right", split)
        said = [
            (direction, speed, dataclasses.replace(
                phrasing,
                direction=phrasing.direction % len(DIRECTION_PHRASES[direction]),
                speed=phrasing.speed % len(SPEED_PHRASES[speed]) if phrasing.speed >= 0 else -1,
            ))
            for direction in DIRECTIONS for speed in SPEEDS
        ]  # fmt: skip
        if split != "train" or all(p.split() == "train" for _, _, p in said):
            return said


def group(rng: np.random.Generator, split: str) -> list[str]:
    """One caption's colour, shape and background, in `phrasings`' 16 ways."""
    colour, shape = str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES))
    tone = str(rng.choice(list(BACKGROUND_TONES)))
    return [phrase(colour, shape, d, v, tone, p) for d, v, p in phrasings(rng, split, shape)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="the model whose text encoder is restored")
    parser.add_argument("--reference", default="world64-random", help="an encoder that keeps the words")
    parser.add_argument("--out", type=Path, required=True, help="a new model folder")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=8, help="caption groups (of 16 prompts) per step")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.out.exists():
        sys.exit(f"error: {args.out} exists\n  fix: give a new folder with --out")
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cpu = torch.device("cpu")
    ref = resolve_model(args.model)
    if ref.folder is None:
        sys.exit(f"error: {args.model} is a random preset\n  fix: give a trained model folder with --model")
    model = load_model(ref, cpu, torch.float32)
    reference = load_model(resolve_model(args.reference), cpu, torch.float32)
    own, keeps = model.text_encoder, reference.text_encoder
    trained = type(own)(own.config)
    trained.load_state_dict(own.state_dict())
    trained.train()

    def targets(prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = model.tokenize(prompts)
        with torch.no_grad():
            kept = keeps(ids)[0].unflatten(0, (-1, GROUP))
            motion = (kept - kept.mean(1, keepdim=True)).flatten(0, 1)
            return ids, own(ids)[0] + args.scale * motion

    def error(encoder, ids, target) -> float:
        """Squared error against the targets, as a share of their variance."""
        with torch.no_grad():
            return float(((encoder(ids)[0] - target) ** 2).mean() / ((target - target.mean(0)) ** 2).mean())

    held_ids, held_target = targets([p for _ in range(16) for p in group(rng, "test")])
    optimizer = torch.optim.AdamW(trained.parameters(), lr=args.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.steps)
    start, report = time.perf_counter(), {"error_before": round(error(own, held_ids, held_target), 4)}
    print(f"held-out error before: {report['error_before']:.4f} (the model's own encoder)", flush=True)
    for step in range(1, args.steps + 1):
        ids, target = targets([p for _ in range(args.groups) for p in group(rng, "train")])
        loss = ((trained(ids)[0] - target) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 200 == 0 or step == args.steps:
            trained.eval()
            held = error(trained, held_ids, held_target)
            trained.train()
            print(f"step {step}/{args.steps}  held-out error {held:.4f}  {time.perf_counter() - start:.0f} s")
    trained.eval()
    report |= {
        "error_after": round(error(trained, held_ids, held_target), 4),
        "seconds": round(time.perf_counter() - start, 1),
        "settings": {k: str(v) for k, v in vars(args).items()},
    }
    shutil.copytree(ref.folder, args.out)
    trained.save_pretrained(args.out / "text_encoder")
    (args.out / "restore_words.json").write_text(json.dumps(report, indent=1) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
