"""Does the text encoder read the shape a prompt asks for? For each prompt of a world_eval report's row,
the prompt's encoding beside the four captions in the grammar's wording that differ from its content only
in the shape: the one nearest (cosine of the whole token sequence) is the encoder's reading. Beside it,
the shape the row's video drew, so a miss can be put on the encoder (read wrong) or on the UNet (read
right, drawn wrong):

    python bench/world_eval.py --model M --test T --people P --videos 64 --frames 1 --modes generate \
        --out frame0.json
    python bench/text_shapes.py --model M --report frame0.json --row "generate frame 0 (people)"
"""

import argparse
import json
from pathlib import Path

import torch

from artv_cli.engine.evaluation.worldscore import parse_prompt
from artv_cli.engine.hub.registry import load_model, resolve_model

SHAPES = ("circle", "square", "triangle", "diamond")


def grammar(obj: dict, background: str, shape: str) -> str:
    speed = f" {obj['speed']}" if obj["speed"] else ""
    return f"a {obj['colour']} {shape} moves {obj['direction']}{speed}, on a plain {background} background"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--report", type=Path, required=True, help="a bench/world_eval.py JSON report")
    parser.add_argument("--row", required=True, help="its row, such as 'generate frame 0 (people)'")
    args = parser.parse_args()
    videos = json.loads(args.report.read_text())["rows"][args.row]["videos"]
    model = load_model(resolve_model(args.model), torch.device("cpu"), torch.float32)
    scored = read = drawn = both = 0
    with torch.inference_mode():
        for video in videos:
            obj = video["objects"][0]
            if parse_prompt(video["prompt"]) is None or not obj["shape"]:
                continue
            scored += 1
            captions = [grammar(obj, video["background"], shape) for shape in SHAPES]
            codes = model.encode_prompt([video["prompt"], *captions]).reshape(len(SHAPES) + 1, -1)
            nearest = SHAPES[int(torch.nn.functional.cosine_similarity(codes[:1], codes[1:]).argmax())]
            read += nearest == obj["shape"]
            drawn += obj["shape_seen"] == obj["shape"]
            both += nearest == obj["shape"] and obj["shape_seen"] == obj["shape"]
            if nearest != obj["shape"] or obj["shape_seen"] != obj["shape"]:
                print(
                    f"asked {obj['shape']:8} read {nearest:8} drawn {obj['shape_seen']!s:8} {video['prompt']}"
                )
    print(f"{scored} prompts: the encoder reads the asked shape in {read}, the video draws it in {drawn}")
    print(f"both in {both}")


if __name__ == "__main__":
    main()
