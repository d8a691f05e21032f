"""What `animate` and `generate` share: their options as one dataclass, checks, and writing the video."""

from __future__ import annotations

import json
import platform
import re
import secrets
import sys
import time
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

from artv_cli import __version__
from artv_cli.console import err
from artv_cli.errors import ArtvError


@dataclass
class RenderOptions:
    """Every knob of `artv animate` and `artv generate`."""

    prompt: str
    """What the video shows and how it moves."""
    image: Path | None = None
    """Frame 0 (animate); None makes frame 0 from text (generate)."""
    negative_prompt: str = ""
    """Text of the no-text guidance branch."""
    model: str | None = None
    """Model folder or built-in name; None is the default model."""
    frames: int = 16
    """Frames in the video, frame 0 included."""
    fps: float = 8.0
    """Frames per second of the file."""
    size: str | None = None
    """WIDTHxHEIGHT or N; None is the model's size (animate: the image's aspect at that area)."""
    steps: int | None = None
    """Denoising steps per frame; None is 25 (12 with fast)."""
    scheduler: str | None = None
    """ddim or dpm++; None is ddim (dpm++ with fast)."""
    fast: bool = False
    """Speed preset: DPM-Solver++ at 12 steps unless steps or scheduler are given."""
    mask_every: int = 1
    """Run Phi_mask every k-th step."""
    compile: bool = False
    """torch.compile the UNets."""
    """ddim or dpm++."""
    seed: int | None = None
    """None draws one (and records it)."""
    guidance_text: float | None = None
    """None is the model's w_txt."""
    guidance_ref: float | None = None
    """None is the model's w_ref."""
    guidance_anchor: float | None = None
    """None is the model's w_anc."""
    noise_level: int | None = None
    """None is the model's t_test."""
    device: str = "auto"
    """auto, cpu, cuda, cuda:N or mps."""
    dtype: str = "auto"
    """auto, fp32, fp16 or bf16."""
    out: Path | None = None
    """The .mp4 to write; None picks a new name in the working folder."""
    quality: float = 8.0
    """1..10, imageio-ffmpeg's H.264 quality."""
    frames_dir: Path | None = None
    """Also write PNG frames here."""
    json: bool = False
    """Print JSON on stdout instead of the path."""

    @classmethod
    def from_cli(cls, values: dict) -> RenderOptions:
        """From a command function's parameters (its `locals()`), closed choices turned into their values."""
        opts = cls(
            **{key: value.value if isinstance(value, Enum) else value for key, value in values.items()}
        )
        if opts.steps is None:
            opts.steps = 12 if opts.fast else 25
        if opts.scheduler is None:
            opts.scheduler = "dpm++" if opts.fast else "ddim"
        return opts


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*", text)
    if not match:
        raise ArtvError(
            f"--size {text!r} is not a size", "write WIDTHxHEIGHT, such as 512x320, or one number"
        )
    width = int(match.group(1))
    height = int(match.group(2) or width)
    return width, height


def check_size(width: int, height: int, multiple: int, model: str) -> None:
    if width % multiple or height % multiple or width < multiple or height < multiple:

        def near(v: int) -> int:
            return max(multiple, round(v / multiple) * multiple)

        raise ArtvError(
            f"--size {width}x{height}: model {model} takes sizes that are multiples of {multiple} pixels",
            f"try --size {near(width)}x{near(height)}",
        )


def size_for_aspect(width: int, height: int, native: int, multiple: int) -> tuple[int, int]:
    """The image's aspect ratio at about the model's native area, in multiples the UNet can take."""
    scale = (native * native / (width * height)) ** 0.5
    return (
        max(multiple, round(width * scale / multiple) * multiple),
        max(multiple, round(height * scale / multiple) * multiple),
    )


def default_out(prompt: str, seed: int) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40] or "video"
    path = Path(f"{slug}-{seed}.mp4")
    n = 1
    while path.exists():
        path = Path(f"{slug}-{seed}-{n}.mp4")
        n += 1
    return path


def check_out(out: Path) -> None:
    """The output must be an .mp4 in a folder that exists or can be made; nothing is created here."""
    if out.suffix.lower() != ".mp4":
        raise ArtvError(
            f"--out {out}: the video is written as MP4",
            f"give a name ending in .mp4, such as {out.with_suffix('.mp4')}",
        )
    if out.is_dir():
        raise ArtvError(f"--out {out} is a folder", f"give a file name, such as {out / 'video.mp4'}")
    existing = out.parent.absolute()
    while not existing.exists():
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        probe = existing / f".{out.name}.probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ArtvError(
            f"cannot write to {out.parent} ({error.strerror or error})",
            "choose another --out in a writable folder",
        ) from None


def check_numbers(opts: RenderOptions) -> None:
    if opts.frames < 1:
        raise ArtvError(
            f"--frames must be at least 1 (got {opts.frames})",
            "ask for 1 or more frames, such as --frames 16",
        )
    if opts.steps < 1:
        raise ArtvError(
            f"--steps must be at least 1 (got {opts.steps})",
            "use --steps 25 (or 10-15 with --scheduler dpm++)",
        )
    if opts.mask_every < 1:
        raise ArtvError(
            f"--mask-every must be at least 1 (got {opts.mask_every})", "use --mask-every 2, for example"
        )
    if opts.fps <= 0:
        raise ArtvError(f"--fps must be positive (got {opts.fps:g})", "use --fps 8, for example")
    if not 1 <= opts.quality <= 10:
        raise ArtvError(
            f"--quality must be between 1 and 10 (got {opts.quality:g})", "use --quality 8, for example"
        )
    if opts.noise_level is not None and not 0 <= opts.noise_level <= 999:
        raise ArtvError(
            f"--noise-level must be a step from 0 to 999 (got {opts.noise_level})", "use --noise-level 200"
        )
    if not opts.prompt.strip() and opts.image is None:
        raise ArtvError(
            "the prompt is empty", 'say what the video shows, such as "a red ball rolls to the right"'
        )


@dataclass
class Plan:
    """A checked render request: everything resolved that needs no model weights."""

    ref: object  # engine.registry.ModelRef
    width: int
    height: int
    seed: int
    out: Path
    pixels: object | None  # (1, 3, H, W) tensor of frame 0, or None for text only
    device: object  # torch.device
    dtype: object  # torch.dtype


def plan(opts: RenderOptions) -> Plan:
    """Every check that needs no model, before anything heavy runs or anything is written."""
    check_numbers(opts)
    from artv_cli.engine.data.images import load_image
    from artv_cli.engine.hub.registry import DEFAULT_MODEL, resolve_model

    image = load_image(opts.image) if opts.image is not None else None
    ref = resolve_model(opts.model or DEFAULT_MODEL)
    if opts.size is not None:
        width, height = parse_size(opts.size)
        check_size(width, height, ref.size_multiple, ref.name)
    elif image is not None:
        width, height = size_for_aspect(image.width, image.height, ref.native_size, ref.size_multiple)
        if (width, height) != (ref.native_size, ref.native_size):
            err.print(f"note: size {width}x{height} follows the image's aspect (use --size to choose)")
    else:
        width = height = ref.native_size
    seed = opts.seed if opts.seed is not None else secrets.randbelow(2**31)
    out = opts.out or default_out(opts.prompt, seed)
    check_out(out)
    if opts.frames_dir is not None:
        from artv_cli.engine.data.video import check_frames_dir

        check_frames_dir(opts.frames_dir)
    pixels = image.fitted(width, height) if image is not None else None
    for notice in image.notices if image is not None else []:
        err.print(f"note: {opts.image}: {notice}")
    from artv_cli.engine.hub.devices import resolve_device, resolve_dtype

    device = resolve_device(opts.device)
    dtype = resolve_dtype(opts.dtype, device)
    return Plan(ref, width, height, seed, out, pixels, device, dtype)


def progress_bar():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
    )


def run_render(opts: RenderOptions) -> None:
    """Check everything, load the model, render frame by frame into the video, write the sidecar, report."""
    job = plan(opts)

    from artv_cli.engine.data.video import VideoWriter, write_sidecar
    from artv_cli.engine.hub.registry import load_model
    from artv_cli.engine.sampling.loop import SampleSettings, render

    device, dtype = job.device, job.dtype
    dtype_name = str(dtype).removeprefix("torch.")
    err.print(f"model {job.ref.name} on {device} ({dtype_name}), seed {job.seed}, {job.width}x{job.height}")
    started = time.perf_counter()
    model = load_model(job.ref, device, dtype, compile=opts.compile)
    load_seconds = time.perf_counter() - started
    method = model.config
    settings = SampleSettings(
        frames=opts.frames,
        width=job.width,
        height=job.height,
        steps=opts.steps,
        scheduler=opts.scheduler,
        guidance_text=method.guidance_text if opts.guidance_text is None else opts.guidance_text,
        guidance_ref=method.guidance_ref if opts.guidance_ref is None else opts.guidance_ref,
        guidance_anchor=method.guidance_anchor if opts.guidance_anchor is None else opts.guidance_anchor,
        noise_level=method.t_test if opts.noise_level is None else opts.noise_level,
        seed=job.seed,
        negative_prompt=opts.negative_prompt,
        mask_every=opts.mask_every,
    )

    made = opts.frames - (1 if job.pixels is not None else 0)  # frame 0 of an animation is the image
    started = time.perf_counter()
    with progress_bar() as progress, VideoWriter(job.out, opts.fps, opts.quality, opts.frames_dir) as writer:
        task = progress.add_task(f"frame 1/{opts.frames}", total=max(1, made * settings.steps))

        def on_step(frame: int, step: int, total: int, preview) -> None:
            progress.update(task, advance=1, description=f"frame {frame + 1}/{opts.frames}")

        stamps = []  # when each generated frame was handed over: the first one carries a compile's cost
        for frame in render(model, opts.prompt, settings, image=job.pixels, on_step=on_step):
            writer.append(frame)
            stamps.append(time.perf_counter())
        progress.update(task, completed=max(1, made * settings.steps))
    elapsed = time.perf_counter() - started

    record = {
        "artv_version": __version__,
        "command": "animate" if job.pixels is not None else "generate",
        "argv": sys.argv[1:],
        "prompt": opts.prompt,
        "image": str(opts.image) if opts.image is not None else None,
        "model": job.ref.name,
        "model_config": asdict(method),
        "settings": asdict(settings),
        "fps": opts.fps,
        "quality": opts.quality,
        "device": str(device),
        "dtype": dtype_name,
        "video": str(job.out),
        "frames_dir": str(opts.frames_dir) if opts.frames_dir else None,
        "timing": {
            "load_seconds": round(load_seconds, 3),
            "render_seconds": round(elapsed, 3),
            "seconds_per_generated_frame": round(elapsed / made, 4) if made else None,
            "first_generated_frame_seconds": _first_frame(stamps, started, job.pixels is not None),
            "compiled": opts.compile,
        },
        "versions": {
            name: _version(name) for name in ("torch", "diffusers", "transformers", "imageio-ffmpeg")
        }
        | {"python": platform.python_version()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    sidecar = write_sidecar(job.out.with_suffix(".json"), record)
    err.print(f"wrote {writer.count} frame{'s' if writer.count != 1 else ''} to {job.out} in {elapsed:.1f} s")
    if opts.json:
        summary = {
            "video": str(job.out),
            "sidecar": str(sidecar),
            "frames": writer.count,
            "width": job.width,
            "height": job.height,
            "fps": opts.fps,
            "seed": job.seed,
            "frames_dir": record["frames_dir"],
            "seconds": round(elapsed, 3),
        }
        print(json.dumps(summary))
    else:
        print(job.out)


def _first_frame(stamps: list[float], started: float, animated: bool) -> float | None:
    """Seconds until the first generated frame (frame 1 of an animation, frame 0 of a text-only video)."""
    index = 1 if animated else 0
    if len(stamps) <= index:
        return None
    return round(stamps[index] - (stamps[index - 1] if index else started), 4)


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None
