"""Pretrain a small text encoder to read the synthetic world's captions, then freeze it (research pilot).

The third-generation pilots freeze a *random* text encoder, so that training on still frames cannot wash
the direction words out. A random encoder keeps every word, but weakly: on `base0` the spread of the
encoder's states over the 6 background tones is 1.1 against a state norm of 8, and after 400,000 base
samples the background a model draws does not depend on the tone word at all. Stable Diffusion's encoder
is frozen too, but pretrained (CLIP). This script is our small stand-in for that pretraining: the same
CLIPTextModel is trained to say, from its per-token states, each attribute a caption names (colour,
shape, direction, speed, background tone, or "not said"), on captions drawn in the grammar's wording and
in people's phrasings (training phrasings only; the held-out ones stay held out), some with the look left
out. Each attribute is read by its own learned attention over the tokens, so the states must carry every
attribute, not one summary.

    python bench/text_parser.py --model base0 --out parser-encoder --steps 1500
    # then copy parser-encoder into a model folder's text_encoder/ and train with the encoder frozen

Prints the held-out accuracy per attribute (people's held-out phrasings) and the spread per attribute
(as `bench/direction_gap.py` reports it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, CLIPTextModel

from artv_cli.engine.data.captions import NOUNS, draw_phrasing, leave_out_look, phrase
from artv_cli.engine.data.world import BACKGROUND_TONES, COLOURS, DIRECTIONS, SHAPES, SPEEDS

ATTRIBUTES = {
    "colour": list(COLOURS),
    "shape": list(SHAPES),
    "direction": list(DIRECTIONS),
    "speed": list(SPEEDS),
    "tone": list(BACKGROUND_TONES),
}


def caption(rng: np.random.Generator, split: str) -> tuple[str, dict[str, int]]:
    """One caption and its labels (index into ATTRIBUTES[k], or len(...) for "not said")."""
    colour, shape = str(rng.choice(ATTRIBUTES["colour"])), str(rng.choice(ATTRIBUTES["shape"]))
    direction, speed = str(rng.choice(ATTRIBUTES["direction"])), str(rng.choice(ATTRIBUTES["speed"]))
    tone = str(rng.choice(ATTRIBUTES["tone"]))
    said = {"colour": colour, "shape": shape, "direction": direction, "speed": speed, "tone": tone}
    if split == "train" and rng.random() < 0.4:
        article = "an" if colour[0] in "aeiou" else "a"
        text = f"{article} {colour} {shape} moves {direction} {speed}, on a plain {tone} background"
    else:
        phrasing = draw_phrasing(rng, shape, direction, split)
        text = phrase(colour, shape, direction, speed, tone, phrasing)
        if phrasing.speed < 0:
            said["speed"] = None
        if phrasing.background < 0:
            said["tone"] = None
    if rng.random() < 0.3:
        text = leave_out_look(rng, text, colour)
    words = [w.strip(",.!") for w in text.lower().split()]
    if colour not in words:
        said["colour"] = None
    if not any(n in words for n in NOUNS[shape]):
        said["shape"] = None
    labels = {k: (ATTRIBUTES[k].index(v) if v is not None else len(ATTRIBUTES[k])) for k, v in said.items()}
    return text, labels


class Reader(torch.nn.Module):
    """Per attribute: a learned query attends over the token states, then a linear classifier."""

    def __init__(self, width: int):
        super().__init__()
        self.queries = torch.nn.Parameter(torch.randn(len(ATTRIBUTES), width) * width**-0.5)
        self.heads = torch.nn.ModuleList(torch.nn.Linear(width, len(v) + 1) for v in ATTRIBUTES.values())

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        scores = torch.einsum("qd,btd->bqt", self.queries, states) * states.shape[-1] ** -0.5
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        pooled = torch.einsum("bqt,btd->bqd", scores.softmax(-1), states)
        return [head(pooled[:, i]) for i, head in enumerate(self.heads)]


def batch(rng, tokenizer, size: int, split: str):
    texts, labels = zip(*(caption(rng, split) for _ in range(size)), strict=True)
    tokens = tokenizer(
        list(texts),
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    targets = {k: torch.tensor([lab[k] for lab in labels]) for k in ATTRIBUTES}
    return tokens.input_ids, tokens.attention_mask.bool(), targets


def spread(encoder, tokenizer) -> dict[str, float]:
    """Mean over positions of the states' spread when one attribute's word changes in a grammar caption."""
    out = {}
    base = {"colour": "red", "shape": "circle", "direction": "up", "speed": "slowly", "tone": "grey"}
    for attribute, values in ATTRIBUTES.items():
        texts = []
        for v in values:
            said = dict(base, **{attribute: v})
            texts.append(
                f"a {said['colour']} {said['shape']} moves {said['direction']} {said['speed']}, "
                f"on a plain {said['tone']} background"
            )
        ids = tokenizer(
            texts, padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt"
        ).input_ids
        with torch.no_grad():
            states = encoder(ids).last_hidden_state
        out[attribute] = round(float((states - states.mean(0, keepdim=True)).norm(dim=-1).mean()), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", type=Path, required=True, help="model folder whose text encoder to start from"
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.model / "tokenizer")
    encoder = CLIPTextModel.from_pretrained(args.model / "text_encoder")
    reader = Reader(encoder.config.hidden_size)
    params = list(encoder.parameters()) + list(reader.parameters())
    optimiser = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=args.lr, total_steps=args.steps, pct_start=0.05
    )
    rng, held = np.random.default_rng(args.seed), np.random.default_rng(args.seed + 1)
    before = spread(encoder.eval(), tokenizer)
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        encoder.train()
        ids, mask, targets = batch(rng, tokenizer, args.batch_size, "train")
        logits = reader(encoder(ids, attention_mask=None).last_hidden_state, mask)
        loss = sum(
            torch.nn.functional.cross_entropy(lg, targets[k])
            for lg, k in zip(logits, ATTRIBUTES, strict=True)
        )
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        schedule.step()
        if step % 100 == 0 or step == args.steps:
            print(
                f"step {step}/{args.steps} loss {loss.item():.4f} {time.perf_counter() - start:.0f} s",
                flush=True,
            )
    encoder.eval()
    ids, mask, targets = batch(held, tokenizer, 2048, "test")
    with torch.no_grad():
        logits = reader(encoder(ids).last_hidden_state, mask)
    accuracy = {
        k: round(float((lg.argmax(-1) == targets[k]).float().mean()), 4)
        for lg, k in zip(logits, ATTRIBUTES, strict=True)
    }
    report = {
        "steps": args.steps,
        "seconds": round(time.perf_counter() - start, 1),
        "held_out_accuracy": accuracy,
        "spread_before": before,
        "spread_after": spread(encoder, tokenizer),
    }
    encoder.save_pretrained(args.out)
    (args.out / "parser_report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
