"""How far the autoencoder's round trip moves a picture's colours: mean absolute error (0-255) over whole
frames and over the object's pixels, on the first 4 frames of each of a test set's first 32 videos.

A world drawn off the palette (`artv data synth --jitter 30`) shows whether the VAE snaps colours to the
palette it learned; issue 26's frame-0 target is a mean error of at most 6.

    python bench/vae_roundtrip.py --test test-jitter --models default runs/model --out roundtrip.json
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from world_eval import cases  # noqa: E402

from artv_cli.engine.hub.registry import load_model, resolve_model  # noqa: E402


def roundtrip(model, frames: np.ndarray) -> tuple[float, float]:
    """(whole-frame, object) mean absolute error of frames (T, H, W, 3) uint8 through the VAE."""
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.inference_mode():
        back = model.decode_latents(model.encode_images(x).float()).astype(float)
    error = np.abs(back - frames.astype(float))
    background = np.median(frames.reshape(len(frames), -1, 3), axis=1)
    objects = np.abs(frames.astype(float) - background[:, None, None, :]).sum(-1) > 60
    return float(error.mean()), float(error[objects].mean()) if objects.any() else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=Path, required=True, help="a test set of `artv data synth`")
    parser.add_argument("--models", nargs="+", default=["default"])
    parser.add_argument("--videos", type=int, default=32)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    report = {"test": str(args.test), "videos": args.videos, "models": {}}
    for name in args.models:
        model = load_model(resolve_model(name), torch.device("cpu"), torch.float32)
        rows = [roundtrip(model, np.asarray(case["frames"][:4])) for case in cases(args.test, args.videos)]
        whole, objects = np.array(rows).T
        report["models"][name] = {
            "mae": round(float(whole.mean()), 2),
            "object_mae": round(float(np.nanmean(objects)), 2),
        }
        print(f"{name}: mean absolute error {whole.mean():.2f}, on the object {np.nanmean(objects):.2f}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
