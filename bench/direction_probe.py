"""Does the text steer the motion? The same first frame and seed, the prompt's direction swapped for each
of the 8, and how far the object's centre moved after a few frames of `animate`.

A model that follows the text moves the object along each asked direction (mean cosine near 1); one that
ignores it moves it the same way whatever is asked (mean cosine near 0, the same shift on every row).

It also says how much the text encoder's output tells the 8 directions apart, against the colours: the
mean distance between the encodings of the 8 prompts that differ only in the direction, as a share of
that between prompts that differ only in the colour (`--text-only` prints that alone, in a second).

    python bench/direction_probe.py --model artv_cli/models/world64 --test test-grammar --cases 3
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from world_eval import cases, make, settings_for  # noqa: E402

from artv_cli.engine.data.synth import DIRECTIONS  # noqa: E402
from artv_cli.engine.data.world import COLOURS  # noqa: E402
from artv_cli.engine.hub.registry import load_model, resolve_model  # noqa: E402


def centre(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The centre (x, y) of the pixels far from the background colour; NaN when there are none."""
    ys, xs = np.nonzero(np.abs(frame.astype(float) - background).sum(-1) > 60)
    return np.array([xs.mean(), ys.mean()]) if len(xs) else np.array([np.nan, np.nan])


def spread(model, prompts: list[str]) -> float:
    """Mean pairwise distance between the text encoder's outputs (all token positions) for `prompts`."""
    with torch.inference_mode():
        codes = model.encode_prompt(prompts).flatten(1).float()
    return float(torch.pdist(codes).mean())


def text_spread(model, head: str, tail: str) -> dict:
    """How far apart the encodings of the 8 directions are, and those of the colours, for one caption."""
    directions = spread(model, [f"{head}{d} quickly{tail}" for d in DIRECTIONS])
    colour = next((c for c in COLOURS if f" {c} " in f" {head} "), None)
    colours = (
        spread(
            model,
            [
                f" {head}".replace(f" {colour} ", f" {c} ", 1).strip() + f"right quickly{tail}"
                for c in COLOURS
            ],
        )
        if colour
        else float("nan")
    )
    return {
        "directions": round(directions, 3),
        "colours": round(colours, 3),
        "ratio": round(directions / colours, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--test", type=Path, required=True, help="a test set of `artv data synth`")
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--scheduler", choices=["ddim", "dpm++"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--text-only", action="store_true", help="only the text encoder's spreads (no video)")
    args = parser.parse_args()
    args.guidance_text = args.guidance_ref = args.guidance_anchor = None
    model = load_model(resolve_model(str(args.model)), torch.device("cpu"), torch.float32)
    report = {"model": str(args.model), "frames": args.frames, "seeds": args.seeds, "cases": []}
    for case in cases(args.test, args.cases):
        first = case["frames"][0]
        border = np.concatenate([first[0], first[-1], first[:, 0], first[:, -1]])
        background = np.median(border, 0)
        caption = case["caption"]
        head = caption[: caption.index(" moves ") + len(" moves ")]
        tail = caption[caption.index(",") :] if "," in caption else ""
        text = text_spread(model, head, tail)
        print(
            f"{caption}\n  text encoding spread: directions {text['directions']:.2f}, colours "
            f"{text['colours']:.2f} (ratio {text['ratio']:.2f})"
        )
        if args.text_only:
            report["cases"].append({"caption": caption, "text_spread": text})
            continue
        rows = []
        for direction, unit in DIRECTIONS.items():
            prompt = f"{head}{direction} quickly{tail}"
            shifts = []
            for seed in range(args.seeds):
                video = make(model, prompt, settings_for(model, args, args.frames, seed), first)
                shifts.append(centre(video[-1], background) - centre(video[0], background))
            shift = np.nanmean(shifts, 0)
            unit = np.array(unit, float)
            cosine = float(shift @ unit / (np.linalg.norm(shift) * np.linalg.norm(unit) + 1e-9))
            rows.append(
                {"direction": direction, "shift_px": shift.round(2).tolist(), "cosine": round(cosine, 3)}
            )
            print(f"  {direction:22s} shift {shift.round(2)} cos {cosine:+.2f}")
        mean = float(np.nanmean([r["cosine"] for r in rows]))
        shift_spread = float(np.nanstd([r["shift_px"] for r in rows], axis=0).mean())
        print(f"  mean cosine {mean:+.2f}; spread of the shifts over directions {shift_spread:.2f} px")
        report["cases"].append(
            {
                "caption": caption,
                "rows": rows,
                "mean_cosine": round(mean, 3),
                "shift_spread_px": round(shift_spread, 3),
                "text_spread": text,
            }
        )
    ratios = [c["text_spread"]["ratio"] for c in report["cases"]]
    report["text_ratio"] = round(float(np.nanmean(ratios)), 3)
    print(f"text encoding: directions apart {report['text_ratio']:.2f}x as far as colours (mean)")
    if not args.text_only:
        report["mean_cosine"] = round(float(np.nanmean([c["mean_cosine"] for c in report["cases"]])), 3)
        print(f"mean cosine over {len(report['cases'])} first frames: {report['mean_cosine']:+.2f}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
