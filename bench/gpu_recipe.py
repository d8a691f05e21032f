"""Steps 3-4 of docs/default-model.md's recipe (base stage, then ART-V) on a lent GPU, in a fixed budget.

How the shipped default model's base and ART-V stages were trained (2026-11-26, one H200). The lent machine
has no ffmpeg and no internet, so the world's training videos travel decoded (uint8, zlib: 18 MB for 3000
videos) and `decode` reads them from there; everything else is the trainer's own code (`engine.training`)
with the recipe's settings. Each stage is timed for 30 steps first, then given the steps that fit its
share of the budget (a cosine schedule needs its total up front), with `time_limit` as the guard.

    # here: pack the frames, and lay out the folder that travels (CARRY)
    python bench/gpu_recipe.py --pack ~/runs/world CARRY/world-frames.npz
    mkdir -p CARRY/world && cp ~/runs/world/{results_synth.csv,ground_truth.jsonl,synth.json} CARRY/world/
    cp -r ~/runs/vae3/model CARRY/vae-model   # its UNets may be left out: they are world64's seed-0 ones
    # there: diffusers etc. installed, then
    python bench/gpu_recipe.py --carry CARRY --budget 500 --out OUT

Going on from a trained ART-V model (no base stage), sending back its trained weights in fp16 (16 MB, which
fits what the lent machine returns), then rebuilding the model folder here:

    python bench/gpu_recipe.py --carry CARRY --continue-from artv_cli/models/world64 --fp16-weights \
        --first-step-share 0.5 --motion-weight 4 --artv-lr 2e-4 --budget 430 --out OUT
    python bench/gpu_recipe.py --unpack artv_cli/models/world64 OUT/artv-fp16.safetensors NEW_MODEL

The third generation's run (docs/research/third-generation.md): the VAE refitted on the world first, a
random text encoder kept frozen, and two ART-V settings trained side by side from the same base:

    python bench/gpu_recipe.py --carry CARRY --budget 420 --vae-seconds 55 --frozen-text \
        --variants '[{"first_step_share": 0.5}, {"first_step_share": 0.5, "motion_weight": 4}]'
    python bench/gpu_recipe.py --frozen-text --unpack artv_cli/models/world64 OUT/artv0-fp16.safetensors m0

The fourth attempt's recipe (docs/research/third-generation.md, "An autoencoder without normalisation"):
a fresh `AutoencoderTiny` fitted there, and the text encoder pretrained here by `artv train --stage text`
carried and kept frozen (`--text-encoder`, also given to `--unpack`):

    cp -r RUNS/text/model/text_encoder CARRY/text_encoder
    python bench/gpu_recipe.py --carry CARRY --budget 540 --vae-seconds 90 --new-vae tiny --vae-lr 2e-3 \
        --vae-colours 0.3 --text-encoder CARRY/text_encoder --base-share 0.4 --first-step-share 0.5 \
        --fp16-weights --warm-unet --out OUT
    python bench/gpu_recipe.py --text-encoder RUNS/text/model/text_encoder \
        --unpack RUNS/vae-tiny/model OUT/artv-fp16.safetensors NEW_MODEL

`--unpack` also takes a training checkpoint's `model.safetensors` (its raw weights, not the EMA), to
score a run that is still going: `--unpack m0 long/checkpoints/step-00000600/model.safetensors ck600`.
"""

import argparse
import csv
import json
import os
import shutil
import sys
import tarfile
import time
import types
from pathlib import Path

T0 = time.time()
ap = argparse.ArgumentParser()
ap.add_argument("--budget", type=float, default=500)
ap.add_argument("--work", type=Path, default=Path("/tmp/artv-gpu"))
ap.add_argument("--carry", type=Path, default=Path(__file__).resolve().parent)
ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/artv-gpu-out")))
ap.add_argument("--max-videos", type=int, default=0)
ap.add_argument("--base-batch", type=int, default=256)
ap.add_argument("--artv-batch", type=int, default=128)
ap.add_argument("--base-share", type=float, default=0.45)
ap.add_argument("--workers", type=int, default=4)
ap.add_argument("--cal-steps", type=int, default=30)
ap.add_argument("--force-stub", action="store_true")
ap.add_argument(
    "--continue-from", type=Path, help="an ART-V model folder: skip the base stage, train ART-V on"
)
ap.add_argument("--artv-lr", type=float, default=3e-4)
ap.add_argument("--first-step-share", type=float, default=0.25)
ap.add_argument("--motion-weight", type=float, default=0.0)
ap.add_argument(
    "--fp16-weights", action="store_true", help="send back the trained weights in fp16, not the tar"
)
ap.add_argument(
    "--unpack",
    nargs=3,
    type=Path,
    metavar=("MODEL", "WEIGHTS", "DEST"),
    help="here: DEST = MODEL with WEIGHTS (an --fp16-weights file) put in, and the config of the "
    "artv-meta.tar beside WEIGHTS if there is one",
)
ap.add_argument(
    "--vae-seconds", type=float, default=0, help="first refit the VAE (from world64's) on the world this long"
)
ap.add_argument("--new-vae", choices=("tiny", "kl"), help="the VAE stage fits a fresh one of this design")
ap.add_argument(
    "--warm-unet",
    action="store_true",
    help="after the VAE stage, the base starts from the shipped model's UNet, not a fresh one (on the CPU it "
    "reached the random start's frame-0 scores with half the samples: docs/research/third-generation.md)",
)
ap.add_argument("--vae-lr", type=float, default=3e-4)
ap.add_argument("--vae-colours", type=float, default=0.0, help="the VAE stage's --vae-colours")
ap.add_argument(
    "--text-encoder",
    type=Path,
    help="a text_encoder folder (e.g. from `artv train --stage text`) to put in and keep frozen; with "
    "--unpack, the one to put back (it is not sent)",
)
ap.add_argument(
    "--frozen-text",
    action="store_true",
    help="a fresh random text encoder, frozen through the base and ART-V stages (the paper's frozen encoder)",
)
ap.add_argument(
    "--variants",
    default="",
    help="JSON list of ART-V settings to train side by side from the same base at equal samples, each "
    'sent back in fp16 (e.g. \'[{"first_step_share": 0.5}, {"first_step_share": 0.5, "motion_weight": 4}]\')',
)
ap.add_argument("--ema", action="store_true", help="--unpack a checkpoint's EMA weights, not its raw ones")
ap.add_argument("--pack", nargs=2, type=Path, metavar=("DATA", "NPZ"), help="decode DATA's videos into NPZ")
args = ap.parse_args()
args.frozen_text = args.frozen_text or args.text_encoder is not None
if args.unpack:
    from safetensors.torch import load_file, save_file

    model, weights, dest = args.unpack
    shutil.copytree(model, dest)
    parts = {}
    loaded = load_file(weights)
    ema_file = weights.parent / "custom_checkpoint_1.pkl"
    if args.ema and not ema_file.is_file():
        sys.exit(f"--ema: {ema_file} is missing (a run with --ema-decay 0 keeps no EMA weights)")
    if args.ema:  # a training checkpoint's EMA weights, in the parameters' order
        import torch

        from artv_cli.engine.model.artv import ARTVModel

        shadow = torch.load(ema_file, map_location="cpu", weights_only=False)["shadow_params"]
        base = ARTVModel.load(model)
        names = [f"{part}.{name}" for part in ("unet", "mask_unet", "cond", "mask_cond")
                 for name, _ in getattr(base, part).named_parameters()]  # fmt: skip
        assert len(names) == len(shadow) and set(names) <= set(loaded), (len(names), len(shadow))
        loaded |= dict(zip(names, shadow, strict=True))
        print("EMA weights of", ema_file)
    for key, tensor in loaded.items():
        name, _, rest = key.partition(".")
        parts.setdefault(name, {})[rest] = tensor.float().contiguous()
    for name, tensors in parts.items():
        file = next((dest / name).glob("*.safetensors"))
        old = load_file(file)
        assert set(old) == set(tensors), (name, set(old) ^ set(tensors))
        save_file(tensors, file, metadata={"format": "pt"})
    if (weights.parent / "vae.safetensors").is_file():  # a run that refitted the VAE sends it beside
        shutil.copy(weights.parent / "vae.safetensors", next((dest / "vae").glob("*.safetensors")))
        if (weights.parent / "vae-config.json").is_file():  # its class and scaling factor
            shutil.copy(weights.parent / "vae-config.json", dest / "vae" / "config.json")
        parts["vae"] = None
    if args.text_encoder:  # the frozen encoder was not sent: it is the one carried there
        shutil.rmtree(dest / "text_encoder")
        shutil.copytree(args.text_encoder, dest / "text_encoder")
        parts["text_encoder"] = None
    elif args.frozen_text:  # the frozen encoder was not sent: it is world64's random seed-0 one
        from artv_cli.engine.model.artv import ARTVModel

        shutil.rmtree(dest / "text_encoder")
        ARTVModel.random("world64", seed=0).text_encoder.save_pretrained(dest / "text_encoder")
        parts["text_encoder"] = None
    meta = weights.with_name(weights.name.replace("-fp16.safetensors", "-meta.tar"))
    if meta != weights and meta.is_file():
        with tarfile.open(meta) as tar:
            for member in tar.getmembers():
                if member.name.startswith("artv/model/"):
                    member.name = member.name[len("artv/model/") :]
                    tar.extract(member, dest)
    print("unpacked", sorted(parts), "into", dest)
    sys.exit(0)
if args.pack:
    import numpy as np

    from artv_cli.engine.data.datasets import FrameSpec, decode, scan

    catalogue = scan(args.pack[0])
    spec = FrameSpec(width=64, height=64, stride=1, fps=None, max_frames=None)
    packed = np.stack([np.asarray(decode(item.path, spec)) for item in catalogue.items])
    args.pack[1].parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.pack[1], frames=packed, keys=np.array([item.key for item in catalogue.items]))
    sys.exit(0)
args.out.mkdir(parents=True, exist_ok=True)


def log(*parts):
    print(f"[{time.time() - T0:7.1f}s]", *parts, flush=True)


try:
    if args.force_stub:
        raise ImportError
    import imageio_ffmpeg  # noqa: F401
except ImportError:  # no ffmpeg here: frames come from the pack; writing a video would fail loudly

    def _none(*a, **k):
        raise RuntimeError("no ffmpeg on this machine")

    stub = types.ModuleType("imageio_ffmpeg")
    stub.read_frames = stub.write_frames = stub.get_ffmpeg_exe = _none
    sys.modules["imageio_ffmpeg"] = stub
    log("imageio_ffmpeg: stub (frames come from the pack)")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
torch.backends.cudnn.benchmark = True
cuda = torch.cuda.is_available()
log(
    "torch",
    torch.__version__,
    "cuda",
    cuda,
    torch.cuda.get_device_name(0) if cuda else "cpu",
    "ffmpeg",
    shutil.which("ffmpeg"),
)

# 1. The data folder: the tables of `artv data synth`, the videos as placeholders, frames from the pack.
shutil.rmtree(args.work, ignore_errors=True)
data = args.work / "world"
data.mkdir(parents=True)
for f in (args.carry / "world").iterdir():
    shutil.copy(f, data)
table = next(data.glob("results_*.csv"))
with open(table, newline="", encoding="utf-8") as handle:
    rows = list(csv.DictReader(handle))
if args.max_videos:
    rows = rows[: args.max_videos]
    with open(table, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
for row in rows:
    (data / "videos" / row["page_dir"]).mkdir(parents=True, exist_ok=True)
    (data / "videos" / row["page_dir"] / f"{row['videoid']}.mp4").touch()
with np.load(args.carry / "world-frames.npz") as pack:
    frames = {str(k): a for k, a in zip(pack["keys"], pack["frames"], strict=True)}
log("frames", len(frames), "videos in the pack;", len(rows), "rows")

import artv_cli.engine.training.latents as latents  # noqa: E402


def decode_from_pack(path, spec):
    assert (spec.width, spec.height, spec.stride, spec.fps) == (64, 64, 1, None), spec
    return frames[Path(path).stem]


latents.decode = decode_from_pack
import artv_cli.engine.training.autoencoder as autoencoder  # noqa: E402

autoencoder.decode = decode_from_pack

# 2. The VAE stage's model folder: carried without its UNets, which are the seed-0 random ones of world64.
from artv_cli.engine.model.artv import ARTVModel  # noqa: E402
from artv_cli.engine.training.trainer import TrainConfig, train  # noqa: E402

vae_model = args.work / "vae" / "model"
if args.vae_seconds and not args.continue_from:  # made below, by the VAE stage
    pass
elif not args.continue_from:
    shutil.copytree(args.carry / "vae-model", vae_model)
    fresh = ARTVModel.random("world64", seed=0)
    for name in ("unet", "mask_unet"):
        if not (vae_model / name / "diffusion_pytorch_model.safetensors").is_file():
            getattr(fresh, name).save_pretrained(vae_model / name)
    check = ARTVModel.load(vae_model)
    log(
        "vae model ready; unet checksum",
        round(sum(float(p.detach().double().sum()) for p in check.unet.parameters()), 6),
    )
    del fresh, check


class Events:
    def __init__(self, label):
        self.label, self.times = label, {}

    def __call__(self, kind, info):
        if kind == "step":
            self.times[info["step"]] = time.time()
            if info["step"] % 250 == 0 or info["step"] == info["total"]:
                log(
                    self.label,
                    f"step {info['step']}/{info['total']} loss {info['loss']:.4f} "
                    f"{info['steps_per_s']:.2f} steps/s {info['samples_per_s']:.0f} samples/s",
                )
        elif kind == "cache":
            if info["done"] % 1000 == 0 or info["done"] == info["total"]:
                log(self.label, "cache", info["done"], "/", info["total"])
        else:
            log(self.label, kind, {k: v for k, v in info.items() if k != "paths"})

    def rate(self, first=10):  # steps/s after the first ones (start-up); fewer skipped in a short timing
        steps = sorted(self.times)
        last = steps[-1]
        first = first if first in self.times and first < last else steps[len(steps) // 2]
        return (last - first) / (self.times[last] - self.times[first])


def config(stage, model, out, steps, batch, lr, warmup, **extra):
    return TrainConfig(
        data=data,
        model=str(model),
        out=out,
        steps=steps,
        batch_size=batch,
        lr=lr,
        warmup_steps=warmup,
        lr_schedule="cosine",
        cache=True,
        cache_dir=args.work / "latents",
        train_text_encoder=not args.frozen_text,
        validation_videos=0,
        checkpoint_every=10**9,
        keep_checkpoints=1,
        log_every=25,
        workers=args.workers,
        stage=stage,
        **extra,
    )


BASE = dict(lr=5e-4, warmup=100)
ARTV = dict(
    lr=args.artv_lr,
    warmup=100,
    drop_ref=0.3,
    drop_anchor=0.3,
    first_step_share=args.first_step_share,
    motion_weight=args.motion_weight,
)
RESERVE = 20  # the end: tar, split, copy


def timed(stage, model, batch, settings, label):
    events = Events(label)
    out = args.work / f"cal-{stage}"
    train(config(stage, model, out, args.cal_steps, batch, **{**settings, "warmup": 10}), events)
    rate = events.rate()
    log(label, f"timing: {rate:.2f} steps/s at batch {batch}")
    shutil.rmtree(out, ignore_errors=True)
    return rate


def full(stage, model, batch, settings, seconds, rate, label, name=None, steps=None):
    steps = steps or max(50, int(rate * seconds * 0.92))
    out = args.work / (name or stage)
    log(label, f"{steps} steps in about {seconds:.0f} s")
    result = train(
        config(stage, model, out, steps, batch, **settings, time_limit=seconds * 1.08 / 60), Events(label)
    )
    log(label, "done", {k: v for k, v in result.__dict__.items() if k != "process_checksums"})
    return out


summary = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__}
try:
    # 2b. The VAE refitted on the world (off-palette colours), from world64's; the UNets are world64's seed-0
    #     (with --warm-unet the UNet stays the shipped one: a warm start for the base).
    if args.vae_seconds and not args.continue_from:
        t = time.time()
        VAE = dict(lr=args.vae_lr, warmup=50 if args.new_vae else 0, vae_loss="foreground",
                   vae_colours=args.vae_colours, new_vae=args.new_vae)  # fmt: skip
        world64 = Path(__file__).resolve().parents[1] / "artv_cli" / "models" / "world64"
        rate_vae = timed("vae", world64, 64, VAE, "vae")
        vae_out = full("vae", world64, 64, VAE, args.vae_seconds, rate_vae, "vae", name="vae-run")
        shutil.rmtree(vae_model, ignore_errors=True)
        shutil.copytree(vae_out / "model", vae_model)
        fresh = ARTVModel.random("world64", seed=0)
        for name in ("mask_unet",) if args.warm_unet else ("unet", "mask_unet"):
            shutil.rmtree(vae_model / name, ignore_errors=True)
            getattr(fresh, name).save_pretrained(vae_model / name)
        summary["vae_s"] = round(time.time() - t, 1)
    if args.text_encoder and not args.continue_from:  # pretrained to read the captions, then frozen
        shutil.rmtree(vae_model / "text_encoder", ignore_errors=True)
        shutil.copytree(args.text_encoder, vae_model / "text_encoder")
        log("text encoder:", args.text_encoder, "frozen")
    elif (
        args.frozen_text and not args.continue_from
    ):  # the paper's frozen encoder: a random one keeps every word
        shutil.rmtree(vae_model / "text_encoder", ignore_errors=True)
        ARTVModel.random("world64", seed=0).text_encoder.save_pretrained(vae_model / "text_encoder")
        log("text encoder: world64's random seed-0 one, frozen")

    # 3. The base stage (text-to-image of the world's frames); the first timing run also builds the cache.
    t = time.time()
    if args.continue_from:  # ART-V goes on from a trained ART-V model: no base stage
        start_model = args.continue_from
    else:
        rate_base = timed("base", vae_model, args.base_batch, BASE, "base")
        summary["cache_and_base_timing_s"] = round(time.time() - t, 1)
        left = args.budget - (time.time() - T0) - RESERVE - 30  # 30: the ART-V timing run
        base_out = full("base", vae_model, args.base_batch, BASE, left * args.base_share, rate_base, "base")
        summary["base_s"] = round(time.time() - t, 1)
        start_model = base_out / "model"

    # 4. ART-V from the base (as `artv init --base` from Stable Diffusion), the first step oversampled;
    #    with --variants, several settings from the same base at the same number of samples each.
    t = time.time()
    variants = json.loads(args.variants) if args.variants else [{}]
    rate_artv = timed("artv", start_model, args.artv_batch, {**ARTV, **variants[0]}, "artv")
    left = args.budget - (time.time() - T0) - RESERVE
    steps = max(50, int(rate_artv * left / len(variants) * 0.9))
    summary["artv_steps"] = steps
    for i, variant in enumerate(variants):
        name = "artv" if len(variants) == 1 else f"artv{i}"
        full("artv", start_model, args.artv_batch, {**ARTV, **variant}, left / len(variants), rate_artv,
             name, name=name, steps=steps)  # fmt: skip
        summary[f"{name}_s"] = round(time.time() - t, 1)
        summary[f"{name}_settings"] = {**ARTV, **variant}
except BaseException as error:  # keep what was made
    log("FAILED", repr(error))
    import traceback

    traceback.print_exc()
    summary["error"] = repr(error)

# 5. What comes back: the ART-V model (tar in 15 MiB parts), the base's trained weights in fp16, the logs.
summary["elapsed_s"] = round(time.time() - T0, 1)
(args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
with tarfile.open(args.out / "runs-meta.tar", "w") as tar:
    for stage in ("base", "artv"):
        for name in (
            "metrics.jsonl",
            "train_config.json",
            "summary.json",
            "model/artv_config.json",
            "model/tokenizer",
        ):
            if (args.work / stage / name).exists():
                tar.add(args.work / stage / name, f"{stage}/{name}")
model_dir = args.work / "artv" / "model"
for k in range(8 if args.variants else 0):  # each variant's trained networks in fp16, its config beside
    vdir = args.work / f"artv{k}" / "model"
    if not vdir.is_dir():
        continue
    from safetensors.torch import load_file, save_file

    weights = {}
    names = ("unet", "mask_unet", "cond", "mask_cond") + (() if args.frozen_text else ("text_encoder",))
    for name in names:
        for file in (vdir / name).glob("*.safetensors"):
            for key, tensor in load_file(file).items():
                weights[f"{name}.{key}"] = tensor.half().contiguous()
    save_file(weights, args.out / f"artv{k}-fp16.safetensors")
    with tarfile.open(args.out / "runs-meta.tar", "a") as tar:
        for name in ("metrics.jsonl", "train_config.json", "summary.json"):
            if (args.work / f"artv{k}" / name).exists():
                tar.add(args.work / f"artv{k}" / name, f"artv{k}/{name}")
if (vae_model / "vae").is_dir() and args.vae_seconds:  # the refitted VAE, fp32 (2.7 MB), and its config
    shutil.copy(next((vae_model / "vae").glob("*.safetensors")), args.out / "vae.safetensors")
    shutil.copy(vae_model / "vae" / "config.json", args.out / "vae-config.json")  # class, scaling factor
if model_dir.is_dir() and args.fp16_weights:  # the trained networks alone, in fp16 (half the bytes)
    from safetensors.torch import load_file, save_file

    weights = {}
    for name in ("unet", "mask_unet", "cond", "mask_cond", "text_encoder"):
        for file in (model_dir / name).glob("*.safetensors"):
            for key, tensor in load_file(file).items():
                weights[f"{name}.{key}"] = tensor.half().contiguous()
    save_file(weights, args.out / "artv-fp16.safetensors")
    (args.out / "runs-meta.tar").rename(args.out / "artv-meta.tar")
elif model_dir.is_dir():
    blob = args.work / "artv-model.tar"
    with tarfile.open(blob, "w") as tar:
        tar.add(model_dir, "model")
    data_bytes = blob.read_bytes()
    part = 15 * 2**20
    for k in range(0, len(data_bytes), part):
        (args.out / f"artv-model.tar.part{k // part}").write_bytes(data_bytes[k : k + part])
base_model = args.work / "base" / "model"
if base_model.is_dir() and not args.continue_from:
    from safetensors.torch import load_file, save_file

    weights = {}
    for name, file in (
        ("unet", "diffusion_pytorch_model.safetensors"),
        ("text_encoder", "model.safetensors"),
    ):
        for key, tensor in load_file(base_model / name / file).items():
            weights[f"{name}.{key}"] = tensor.half().contiguous()
    save_file(weights, args.out / "base-fp16.safetensors")
log("end", sorted(p.name for p in args.out.iterdir()))
