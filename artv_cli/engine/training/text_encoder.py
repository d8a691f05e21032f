"""Pretrain the text encoder of a model built from scratch to read its world's captions, then freeze it.

ART-V keeps its text encoder frozen (METHOD.md), and Stable Diffusion's is a pretrained CLIP encoder. A
model with no pretrained base, such as the embedded default, has a random one: frozen, it keeps every
word but weakly (a base trained on it drew the same background whatever tone was asked); trained with the
UNet on still frames, it washed the direction words out (docs/default-model.md). This stage is our small
stand-in for CLIP's pretraining: the model's CLIPTextModel learns to say, from its per-token states,
each attribute a caption names (colour, shape, direction, speed, background tone, or "not said"), each
read by its own learned attention over the tokens, so the states must carry every attribute apart. The
captions are drawn fresh each step from the world the dataset was made from (its `synth.json`: wordings,
the share that leaves the look out, shapes), one object each. The later stages keep the result frozen
(they train the text encoder only with --train-text-encoder).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F

from artv_cli.engine.data.captions import NEW_NOUNS, NOUNS, draw_phrasing, leave_out_look, phrase
from artv_cli.engine.data.synth import GRAMMAR_SHARE
from artv_cli.engine.data.world import BACKGROUND_TONES, COLOURS, DIRECTIONS, SHAPES, SPEEDS
from artv_cli.errors import ArtvError

HELD_OUT_CAPTIONS = 2048
"""Captions of the held-out phrasings the report's accuracy is measured on."""


def world_attributes(settings: dict) -> dict[str, list[str]]:
    """What a caption of this world can say, per attribute."""
    return {
        "colour": list(COLOURS),
        "shape": list(settings.get("shapes") or SHAPES),
        "direction": list(DIRECTIONS),
        "speed": list(SPEEDS),
        "tone": list(BACKGROUND_TONES),
    }


def grammar_caption(said: dict[str, str]) -> str:
    """One object on a plain background in the grammar's own wording (as `artv data synth` writes it)."""
    article = "an" if said["colour"][0] in "aeiou" else "a"
    return (
        f"{article} {said['colour']} {said['shape']} moves {said['direction']} {said['speed']}, "
        f"on a plain {said['tone']} background"
    )


def labelled_caption(rng: np.random.Generator, settings: dict, split: str) -> tuple[str, dict[str, int]]:
    """One caption of the world and, per attribute, the index of what it says (len(values): not said)."""
    attributes = world_attributes(settings)
    said = {name: str(rng.choice(values)) for name, values in attributes.items()}
    if settings.get("captions", "grammar") == "grammar" or rng.random() < GRAMMAR_SHARE:
        text = grammar_caption(said)
    else:
        phrasing = draw_phrasing(rng, said["shape"], said["direction"], split)
        text = phrase(said["colour"], said["shape"], said["direction"], said["speed"], said["tone"], phrasing)
        if phrasing.speed < 0:
            said["speed"] = None
        if phrasing.background < 0:
            said["tone"] = None
    if rng.random() < float(settings.get("unnamed", 0.0)):
        text = leave_out_look(rng, text, said["colour"])
    words = [word.strip(",.!") for word in text.lower().split()]
    if said["colour"] not in words:
        said["colour"] = None
    if not any(noun in words for noun in (NOUNS | NEW_NOUNS)[said["shape"]]):
        said["shape"] = None
    labels = {
        name: (values.index(said[name]) if said[name] is not None else len(values))
        for name, values in attributes.items()
    }
    return text, labels


class Reader(torch.nn.Module):
    """Per attribute: a learned query attends over the token states, then a linear classifier."""

    def __init__(self, width: int, attributes: dict[str, list[str]]):
        super().__init__()
        self.queries = torch.nn.Parameter(torch.randn(len(attributes), width) * width**-0.5)
        self.heads = torch.nn.ModuleList(torch.nn.Linear(width, len(v) + 1) for v in attributes.values())

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        scores = torch.einsum("qd,btd->bqt", self.queries, states) * states.shape[-1] ** -0.5
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        pooled = torch.einsum("bqt,btd->bqd", scores.softmax(-1), states)
        return [head(pooled[:, i]) for i, head in enumerate(self.heads)]


def _batch(model, rng, settings: dict, size: int, split: str):
    texts, labels = zip(*(labelled_caption(rng, settings, split) for _ in range(size)), strict=True)
    length = min(model.config.max_text_tokens, model.text_encoder.config.max_position_embeddings)
    tokens = model.tokenizer(
        list(texts), padding="max_length", max_length=length, truncation=True, return_tensors="pt"
    )
    targets = {name: torch.tensor([label[name] for label in labels]) for name in labels[0]}
    return tokens.input_ids, tokens.attention_mask.bool(), targets


def word_spread(model, attributes: dict[str, list[str]]) -> dict[str, float]:
    """Per attribute: the mean over positions of the states' spread when only that word changes in a
    grammar caption (how loudly the encoder says it; bench/direction_gap.py reports the same)."""
    out = {}
    base = {name: values[0] for name, values in attributes.items()}
    for name, values in attributes.items():
        texts = [grammar_caption(dict(base, **{name: value})) for value in values]
        with torch.no_grad():
            states = model.text_encoder(model.tokenize(texts).to(model.device))[0].float()
        out[name] = round(float((states - states.mean(0, keepdim=True)).norm(dim=-1).mean()), 4)
    return out


def train_text_encoder(config, on_event=None):
    """Pretrain the model's text encoder on its world's captions (batch_size captions a step); export
    RUN/model with the new encoder and RUN/text_report.json (held-out accuracy, spread before and after)."""
    from artv_cli.engine.training.common import (
        draws,
        load_base,
        make_schedule,
        versions,
        write_json,
    )
    from artv_cli.engine.training.short_stage import ShortStage

    # 1. Check what needs no model: the run folder, the options this stage does not have, the world.
    stage = ShortStage(config, on_event, "text encoder")
    world_file = config.data / "synth.json"
    if not world_file.is_file():
        raise ArtvError(
            f"--stage text draws the captions of a synthetic world, and {config.data} has no synth.json",
            f"make one with `artv data synth {shlex.quote(str(config.data))}`, or leave the text encoder "
            "to the base stage (--stage base --train-text-encoder)",
        )
    settings = json.loads(world_file.read_text())["settings"]
    attributes = world_attributes(settings)
    accelerator = stage.accelerator()
    wording = "the grammar's wording" if settings.get("captions", "grammar") == "grammar" else (
        f"{GRAMMAR_SHARE:.0%} the grammar's wording, the rest people's phrasings")  # fmt: skip
    stage.emit("data", text=f"captions of the world of {config.data}: {wording}, "
               f"{float(settings.get('unnamed', 0)):.0%} with the look left out")  # fmt: skip

    # 2. The model: only its text encoder learns, with one reader per attribute on top (not exported).
    model = load_base(config.model, config.seed).to(accelerator.device)
    encoder = model.text_encoder.train().requires_grad_(True)
    reader = Reader(encoder.config.hidden_size, attributes).to(accelerator.device)
    spread_before = word_spread(model, attributes)
    trained = sum(p.numel() for p in encoder.parameters()) / 1e6
    stage.emit("model", text=f"{config.model}: text encoder {trained:.2f} M trained")
    params = [*encoder.parameters(), *reader.parameters()]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    schedule = make_schedule(config, optimizer)
    encoder, reader, optimizer = accelerator.prepare(encoder, reader, optimizer)
    stage.begin()
    write_json(config.out / "train_config.json", asdict(config) | {"versions": versions()})

    # 3. Steps: read every attribute of fresh captions of the training phrasings.
    for step in range(config.steps):
        encoder.train()
        ids, mask, targets = _batch(model, draws(config, step, 0, 0), settings, config.batch_size, "train")
        with accelerator.autocast():
            logits = reader(encoder(ids.to(accelerator.device))[0], mask.to(accelerator.device))
            loss = sum(
                F.cross_entropy(lg.float(), targets[name].to(accelerator.device))
                for lg, name in zip(logits, attributes, strict=True)
            )
        if not torch.isfinite(loss):
            raise ArtvError(
                f"the text loss became {loss.item()} at step {step + 1}", "run again with a lower --lr"
            )
        accelerator.backward(loss)
        if config.max_grad_norm > 0:
            accelerator.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if stage.step(float(loss.detach())):
            break

    # 4. The report: how well the frozen states say each attribute on held-out phrasings, how loudly.
    encoder = accelerator.unwrap_model(encoder).eval().requires_grad_(False)
    model.text_encoder = encoder
    ids, mask, targets = _batch(
        model, np.random.default_rng(config.seed + 1), settings, HELD_OUT_CAPTIONS, "test"
    )
    with torch.no_grad():
        logits = accelerator.unwrap_model(reader).eval()(
            encoder(ids.to(accelerator.device))[0].float(), mask.to(accelerator.device)
        )
    accuracy = {
        name: round(float((lg.argmax(-1).cpu() == targets[name]).float().mean()), 4)
        for lg, name in zip(logits, attributes, strict=True)
    }
    report = {
        "steps": stage.done,
        "held_out_accuracy": accuracy,
        "spread_before": spread_before,
        "spread_after": word_spread(model, attributes),
    }
    write_json(config.out / "text_report.json", report)
    stage.emit("notice", text="held-out captions read right: "
               + ", ".join(f"{name} {value:.0%}" for name, value in accuracy.items()))  # fmt: skip

    # 5. The export: the model as it came, with the new encoder (which later stages keep frozen).
    model.config.extra["text_training"] = {"run": str(config.out), "data": str(config.data), **report}
    return stage.finish(model, float(sum(p.double().sum().item() for p in encoder.parameters())))
