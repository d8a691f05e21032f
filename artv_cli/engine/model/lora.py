"""LoRA adapters on an ART-V model, through peft: add one to train, save it, load and stack them, merge.

An adapter folder is peft's layout (`adapter_config.json`, `adapter_model.safetensors`) plus
`artv_adapter.json`: the base model it was trained on (its name and a fingerprint of its config and weights),
the parts it adapts, its data and steps, and its trigger words. The networks of the model are adapted in
place (peft's `inject_adapter_in_model` on a `ModuleDict` of the adapted parts), so the base weights are
neither copied nor changed; a model without adapters is the model as loaded, to the byte.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from artv_cli.errors import ArtvError

ADAPTER_META = "artv_adapter.json"
PEFT_CONFIG = "adapter_config.json"
PEFT_WEIGHTS = "adapter_model.safetensors"
PARTS = ("unet", "mask_unet", "cond", "mask_cond", "text_encoder")
"""What an adapter may adapt: Phi_dynamic, Phi_mask, their condition encoders, the text encoder."""
DEFAULT_PARTS = ("unet",)
TARGETS = {
    "unet": ("to_q", "to_k", "to_v", "to_out.0", "to_k_ip.0", "to_v_ip.0", "proj_in", "proj_out",
             "ff.net.0.proj", "ff.net.2", "conv1", "conv2"),
    "mask_unet": ("to_q", "to_k", "to_v", "to_out.0", "to_k_ip.0", "to_v_ip.0", "proj_in", "proj_out",
                  "ff.net.0.proj", "ff.net.2", "conv1", "conv2"),
    "text_encoder": ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
    "cond": ("anchor_proj", "block1", "block2"),
    "mask_cond": ("anchor_proj", "block1", "block2"),
}  # fmt: skip
"""The default layers per part: attention (text and anchor), the transformer's projections and the
ResNet blocks' convolutions, the text encoder's attention and MLP."""
SCALES = (-2.0, 2.0)
"""The scales `--lora PATH:SCALE` takes (1: as trained; 0: off; negative: away from it)."""
WHOLE_FILE_HASH = 256 * 2**20
"""Weights files up to this size are hashed whole for the fingerprint; larger ones by size, head and tail."""


@dataclass(frozen=True)
class AdapterSpec:
    """One `--lora` value: the adapter folder and its scale."""

    path: Path
    scale: float = 1.0

    @classmethod
    def parse(cls, text: str) -> AdapterSpec:
        """`PATH` or `PATH:SCALE` (a path that itself ends in `:number` needs the scale given)."""
        path, _, scale = str(text).rpartition(":")
        if path:
            try:
                value = float(scale)
            except ValueError:
                return cls(Path(text).expanduser(), 1.0)
            return cls(Path(path).expanduser(), value)
        return cls(Path(text).expanduser(), 1.0)

    def __str__(self) -> str:
        return f"{self.path}:{self.scale:g}"


def spec_problem(text: str) -> str | None:
    """What is wrong with a `--lora` value on its face (the scale), before any file is read."""
    spec = AdapterSpec.parse(text)
    if not math.isfinite(spec.scale) or not SCALES[0] <= spec.scale <= SCALES[1]:
        return f"scale of {spec.path} must be from {SCALES[0]:g} to {SCALES[1]:g} (got {spec.scale:g})"
    return None


def read_adapter(text: str) -> dict:
    """Check an adapter folder without a model: its files are there and whole. Returns its record for the
    sidecar: path, scale, sha256 of the weights, and its `artv_adapter.json`."""
    spec = AdapterSpec.parse(text)
    problem = spec_problem(text)
    if problem is not None:
        raise ArtvError(
            f"--lora {problem}", f"use --lora {spec.path}:1 (scales {SCALES[0]:g} to {SCALES[1]:g})"
        )
    folder = spec.path
    if not folder.is_dir() and len(folder.parts) == 1 and (adapters_home() / folder).is_dir():
        folder = adapters_home() / folder  # a named adapter
    if not folder.is_dir():
        raise ArtvError(
            f"--lora {folder}: no such adapter folder",
            "give a folder written by `artv train --lora` (it holds adapter_model.safetensors), or the name "
            f"of one in {adapters_home()}",
        )
    missing = [name for name in (PEFT_CONFIG, PEFT_WEIGHTS, ADAPTER_META) if not (folder / name).is_file()]
    if missing:
        raise ArtvError(
            f"--lora {folder}: not an artv adapter (no {', '.join(missing)})",
            "give the adapter folder of a run, RUN/adapter, written by `artv train --lora`",
        )
    try:
        meta = json.loads((folder / ADAPTER_META).read_text())
        json.loads((folder / PEFT_CONFIG).read_text())
        from safetensors import safe_open

        with safe_open(str(folder / PEFT_WEIGHTS), framework="pt") as weights:
            for key in weights.keys():  # noqa: SIM118 - a safe_open is not a dict; reads every tensor
                weights.get_tensor(key)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same advice
        raise ArtvError(
            f"--lora {folder}: the adapter's files are damaged ({type(error).__name__}: {error})",
            "train it again, or copy the folder again from where it was made",
        ) from None
    return {
        "path": str(folder),
        "scale": spec.scale,
        "sha256": sha256_file(folder / PEFT_WEIGHTS),
        "base": meta.get("base", {}),
        "trigger_words": meta.get("trigger_words", []),
    }


def sidecar_records(values) -> list[dict]:
    """What a sidecar says of the adapters a render used: path, sha256 and scale of each."""
    return [{k: r[k] for k in ("path", "sha256", "scale")} for r in map(read_adapter, values or ())]


def sha256_file(path: Path, limit: int | None = None) -> str:
    """sha256 of a file; with `limit`, of its size and its first and last `limit / 2` bytes."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if limit is None or size <= limit:
            for block in iter(lambda: handle.read(2**20), b""):
                digest.update(block)
        else:
            digest.update(str(size).encode())
            digest.update(handle.read(limit // 2))
            handle.seek(size - limit // 2)
            digest.update(handle.read())
    return digest.hexdigest()


def fingerprint(model) -> str:
    """Where a model's weights came from, as 16 hex digits: for a model folder, its artv_config.json and
    the weights files of every part an adapter may adapt; for a built-in random model, its preset and
    seed (the same weights every time). Independent of the device and dtype it runs in."""
    source = getattr(model, "source", None)
    digest = hashlib.sha256()
    if source is None or not Path(source).is_dir():
        digest.update(f"{source or model.name}".encode())
        return digest.hexdigest()[:16]
    folder = Path(source)
    digest.update((folder / "artv_config.json").read_bytes())
    for part in PARTS:
        for path in sorted((folder / part).glob("*.safetensors")):
            digest.update(sha256_file(path, WHOLE_FILE_HASH).encode())
    return digest.hexdigest()[:16]


def parts_container(model, parts):
    """The model parts named in `parts` (unet, text_encoder, masked_head...) as one module tree."""
    import torch

    return torch.nn.ModuleDict({part: getattr(model, part) for part in parts})


def _targets(parts, targets) -> str:
    """peft's target_modules as one regular expression over `PART.layer.name`."""
    import re

    names = []
    for part in parts:
        for target in targets or TARGETS[part]:
            names.append(rf"{part}\.(.*\.)?{re.escape(target)}")
    return "^(" + "|".join(rf"{name}" for name in names) + ")$"


def check_parts(parts) -> tuple[str, ...]:
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        raise ArtvError(f"--lora-parts {unknown[0]} is unknown", f"use some of: {', '.join(PARTS)}")
    return tuple(dict.fromkeys(parts))


def add_lora(model, rank: int, alpha: float | None, parts=DEFAULT_PARTS, targets=None, name="artv") -> int:
    """Put a new, trainable LoRA adapter of `rank` into the model's `parts` (peft's default initialisation:
    B = 0, so the model is unchanged until it trains); every other weight is frozen. Returns the number
    of adapter parameters."""
    from peft import LoraConfig, inject_adapter_in_model

    parts = check_parts(parts)
    config = LoraConfig(r=rank, lora_alpha=alpha or rank, target_modules=_targets(parts, targets))
    container = parts_container(model, parts)
    for net in model.networks():
        net.requires_grad_(False)
    try:
        inject_adapter_in_model(config, container, adapter_name=name)
    except ValueError as error:
        raise ArtvError(
            f"--lora-targets: {error}".splitlines()[0][:300],
            f"use layer names of the model's {', '.join(parts)} (default: {', '.join(TARGETS[parts[0]])})",
        ) from None
    model.lora_parts = parts
    model.lora_config = config
    return sum(p.numel() for n, p in container.named_parameters() if "lora_" in n)


def save_adapter(model, folder: Path, meta: dict, name: str = "artv") -> Path:
    """Write the adapter `name` in peft's layout plus artv_adapter.json, atomically."""
    import os
    import shutil

    from safetensors.torch import save_file

    container = parts_container(model, model.lora_parts)
    state = {  # peft's saved names: the adapter's name taken out (`...lora_A.weight`)
        key.replace(f".{name}.", "."): value.detach().float().cpu().contiguous()
        for key, value in container.state_dict().items()
        if ".lora_" in key and f".{name}." in key
    }
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_file(state, str(partial / PEFT_WEIGHTS))
    config = model.lora_config
    config.save_pretrained(str(partial))
    record = {
        "format": "artv-lora-1",
        "base": {"name": meta.pop("base_name"), "fingerprint": fingerprint(model)},
        "parts": list(model.lora_parts),
        "rank": config.r,
        "alpha": config.lora_alpha,
        "parameters": sum(v.numel() for v in state.values()),
    } | meta
    (partial / ADAPTER_META).write_text(json.dumps(record, indent=2, default=str) + "\n")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(partial, folder)
    return folder


def use_adapters(model, values) -> list[dict]:
    """Make the model run with exactly these adapters (`PATH[:SCALE]` each), loading each once per model
    (kept under a name from its sha256) and setting the scales; no values: none active, the model as
    loaded. Each adapter is checked against the model before it is used: the base it was trained on
    (fingerprint), the layers it adapts, the shapes of its weights. Returns the adapters' records."""
    records = [read_adapter(value) for value in values]
    loaded = model.__dict__.setdefault("adapters", {})  # sha256 -> peft adapter name
    for record in records:
        if record["sha256"] not in loaded:
            _load(model, record)
            loaded[record["sha256"]] = f"a{record['sha256'][:16]}"
    names = [loaded[r["sha256"]] for r in records]
    scales: dict[str, float] = {}
    for record, name in zip(records, names, strict=True):
        scales[name] = scales.get(name, 0.0) + record["scale"]  # the same adapter twice adds its scales
    if loaded:
        from peft.tuners.lora import LoraLayer

        for module in parts_container(model, PARTS).modules():
            if isinstance(module, LoraLayer):
                active = [n for n in scales if n in module.lora_A]
                module.set_adapter(active, inference_mode=True)
                module.enable_adapters(bool(active))
                for n in active:
                    module.set_scale(n, scales[n])
    return records


def check_all(model, sets) -> None:
    """Load and check, against the model, every adapter of a story's segments or a batch's rows (each a
    list of `PATH[:SCALE]`, or None), before any frame is rendered; none is left active."""
    for values in dict.fromkeys(tuple(v) for v in sets if v):
        use_adapters(model, values)
    use_adapters(model, ())


def _load(model, record: dict) -> None:
    from peft import LoraConfig, inject_adapter_in_model
    from safetensors.torch import load_file

    folder = Path(record["path"])
    meta = json.loads((folder / ADAPTER_META).read_text())
    parts = tuple(meta.get("parts", DEFAULT_PARTS))
    config = LoraConfig.from_pretrained(str(folder))
    state = load_file(str(folder / PEFT_WEIGHTS))
    name = f"a{record['sha256'][:16]}"
    container = parts_container(model, check_parts(parts))
    base = meta.get("base", {})
    fix = (
        f"use it with the model it was trained on ({base.get('name', 'unknown')}), or train one on this "
        "model: artv train --lora 8 --model MODEL ..."
    )
    try:
        inject_adapter_in_model(config, container, adapter_name=name)
    except ValueError:
        raise ArtvError(
            f"--lora {folder}: model {model.name} has none of the layers the adapter adapts "
            f"({', '.join(parts)})",
            fix,
        ) from None
    expected = {k: v.shape for k, v in container.state_dict().items() if f".{name}." in k}
    names = {
        k: k.replace(".lora_A.", f".lora_A.{name}.").replace(".lora_B.", f".lora_B.{name}.") for k in state
    }
    given = {names[k]: v.shape for k, v in state.items()}
    wrong = [k for k, shape in given.items() if k in expected and tuple(expected[k]) != tuple(shape)]
    unknown = [k for k in given if k not in expected]
    if wrong or unknown or len(given) != len(expected):
        _unload(model, name, parts)
        saved = {key: peft_key for peft_key, key in names.items()}  # the names as the file has them
        if wrong:
            what = (f"{saved[wrong[0]]} is {tuple(given[wrong[0]])}, the model's layer takes "
                    f"{tuple(expected[wrong[0]])}")  # fmt: skip
        elif unknown:
            what = f"the model has no layer {saved[unknown[0]]}"
        else:
            what = f"it holds {len(given)} weights, the model's layers take {len(expected)}"
        raise ArtvError(f"--lora {folder} does not fit model {model.name}: {what}", fix)
    if base.get("fingerprint") and base["fingerprint"] != fingerprint(model):
        _unload(model, name, parts)
        raise ArtvError(
            f"--lora {folder} was trained on {base.get('name')} (fingerprint {base['fingerprint']}), "
            f"not on model {model.name} (fingerprint {fingerprint(model)})",
            fix,
        )
    container.load_state_dict(
        {key: state[peft_key] for peft_key, key in names.items()}, strict=False, assign=False
    )  # every adapter weight was matched above; the base weights are not touched
    device, dtype = model.device, model.dtype
    for module in container.modules():  # the adapter's weights where the model is, in its dtype
        for attribute in ("lora_A", "lora_B"):
            layers = getattr(module, attribute, None)
            if layers is not None and name in layers:
                layers[name].to(device=device, dtype=dtype)


def _unload(model, name: str, parts) -> None:
    import warnings

    from peft.tuners.tuners_utils import BaseTunerLayer

    with warnings.catch_warnings():  # peft notes which adapter is active instead: none is, here
        warnings.simplefilter("ignore")
        for module in parts_container(model, parts).modules():
            if isinstance(module, BaseTunerLayer) and name in module.lora_A:
                module.delete_adapter(name)


def merge(model) -> None:
    """Bake the active adapters (at their scales) into the weights and take the adapter layers out: the
    model is then a plain ART-V model again."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    container = parts_container(model, PARTS)
    for parent in list(container.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, BaseTunerLayer):
                if not child.disable_adapters and child.active_adapters:
                    child.merge(safe_merge=True, adapter_names=list(child.active_adapters))
                setattr(parent, child_name, child.get_base_layer())
    model.__dict__.pop("adapters", None)


def adapters_home() -> Path:
    """Where named adapters live: `--lora NAME` finds $ARTV_HOME/adapters/NAME."""
    from artv_cli.paths import artv_home

    return artv_home() / "adapters"


def find_adapters(*folders: Path, depth: int = 3) -> list[dict]:
    """Adapter folders under `folders` (at most `depth` levels down), each with its artv_adapter.json."""
    found = {}
    for top in folders:
        if not top.is_dir():
            continue
        for level in range(depth + 1):
            for meta in top.glob("/".join(["*"] * level + [ADAPTER_META])):
                try:
                    record = json.loads(meta.read_text())
                except (OSError, ValueError):
                    continue
                size = sum(p.stat().st_size for p in meta.parent.iterdir() if p.is_file())
                found[meta.parent.resolve()] = record | {"folder": str(meta.parent), "bytes": size}
    return list(found.values())
