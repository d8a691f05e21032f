"""Does the background a model draws follow the tone word? (research probe of the base stage)

Frame 0 of `generate` for "a {red, blue, white} circle moves up slowly, on a plain {tone} background", for
each of the world's 6 tones (seeds 0-2), with the model's recommended sampler; the border's median
colour is the background drawn. Prints, per model, that colour for every prompt, the spread of the
per-tone mean colours (0-255: 0 means the tone word changes nothing) and the mean absolute error to
the asked tone.

    python bench/tone_probe.py MODEL [MODEL ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import world_eval  # noqa: E402 (bench/world_eval.py: the scored runs' sampler and renderer)

from artv_cli.engine.data.world import BACKGROUND_TONES  # noqa: E402
from artv_cli.engine.hub.registry import load_model, resolve_model  # noqa: E402


def probe(name: str) -> dict:
    model = load_model(resolve_model(name), torch.device("cpu"), torch.float32)
    drawn, errors = {}, []
    for tone, asked in BACKGROUND_TONES.items():
        borders = []
        for seed, colour in enumerate(("red", "blue", "white")):
            settings = world_eval.settings_for(model, argparse.Namespace(frames=1), 1, seed)
            frame = world_eval.make(model, f"a {colour} circle moves up slowly, on a plain {tone} background",
                                    settings)[0]  # fmt: skip
            border = np.concatenate([frame[:3].reshape(-1, 3), frame[-3:].reshape(-1, 3)])
            borders.append(np.median(border, 0))
        drawn[tone] = [[int(v) for v in b] for b in borders]
        errors.append(float(np.abs(np.array(borders) - np.array(asked)).mean()))
    means = np.array([np.mean(v, 0) for v in drawn.values()])
    return {
        "model": name,
        "drawn": drawn,
        "spread_over_tones": round(float(np.linalg.norm(means - means.mean(0), axis=1).mean()), 1),
        "mean_abs_error_to_tone": round(float(np.mean(errors)), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.models:
        print(json.dumps(probe(name)))


if __name__ == "__main__":
    main()
