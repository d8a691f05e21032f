"""One video from a request: every setting declared once, checked before any weight loads, rendered
through the frame loop into an MP4 and its sidecar.

`animate` and `generate` build a `RenderRequest` from their options and call `plan` (the checks that
need no model: numbers, image, model name, size, output path, device) and then `render_video` (load,
render, write the sidecar). A library user does the same from Python.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from artv_cli import __version__
from artv_cli.engine.sampling.outputs import check_disk, check_out, default_out  # noqa: F401 (their old home)
from artv_cli.engine.sampling.settings import SETTINGS, resolve, with_render_settings
from artv_cli.errors import ArtvError
from artv_cli.versions import versions

MAX_PROMPT_CHARS = 2000
"""Longer prompts are refused: far past any text encoder's window, most of the text would be ignored."""
VERSIONED = ("torch", "diffusers", "transformers", "imageio-ffmpeg")
"""Packages whose versions every sidecar records."""


@dataclass
@with_render_settings
class RenderRequest:
    """Every setting of one render (`artv animate` and `artv generate`), with its default; the render
    settings of engine/sampling/settings.py are fields too (None: the model's recommendation, else the
    built-in default)."""

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
    fast: bool = False
    """Speed preset: the model's own (`fast` in its artv_config.json), else DPM-Solver++ at 12 steps;
    the user's values win."""
    compile: bool = False
    """torch.compile the UNets."""
    seed: int | None = None
    """None draws one (and records it)."""
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
    force: bool = False
    """Replace an existing output file (without it, an existing --out is refused)."""

    def __post_init__(self) -> None:
        for name in ("image", "out", "frames_dir"):  # a library user may pass plain strings
            if isinstance(getattr(self, name), str):
                setattr(self, name, Path(getattr(self, name)))


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


def check_numbers(request: RenderRequest) -> None:
    if request.frames < 1:
        raise ArtvError(
            f"--frames must be at least 1 (got {request.frames})",
            "ask for 1 or more frames, such as --frames 16",
        )
    for setting in SETTINGS.values():
        setting.check(getattr(request, setting.name, None))
    if request.fps <= 0:
        raise ArtvError(f"--fps must be positive (got {request.fps:g})", "use --fps 8, for example")
    if not 1 <= request.quality <= 10:
        raise ArtvError(
            f"--quality must be between 1 and 10 (got {request.quality:g})", "use --quality 8, for example"
        )
    for name, text in (("prompt", request.prompt), ("negative prompt", request.negative_prompt)):
        if len(text) > MAX_PROMPT_CHARS:
            raise ArtvError(
                f"the {name} is {len(text):,} characters long (at most {MAX_PROMPT_CHARS:,})",
                "shorten it: a text encoder reads only its first tokens (77 for Stable Diffusion, 32 words "
                "for the default model) and ignores the rest",
            )
    if not request.prompt.strip() and request.image is None:
        raise ArtvError(
            "the prompt is empty", 'say what the video shows, such as "a red ball rolls to the right"'
        )


@dataclass
class Plan:
    """A checked render request: everything resolved that needs no model weights."""

    ref: object  # hub.registry.ModelRef
    width: int
    height: int
    seed: int
    out: Path
    pixels: object | None  # (1, 3, H, W) tensor of frame 0, or None for text only
    device: object  # torch.device
    dtype: object  # torch.dtype
    steps: int = 25
    scheduler: str = "ddim"
    sampling_from: str = "built-in"  # where steps and scheduler came from: flags, model, fast or built-in
    first_frame_steps: int | None = None  # steps of a frame 0 made from text (a preset's or the model's)
    notices: list[str] = field(default_factory=list)  # what the user should know (sizes chosen, image fixes)


def plan(request: RenderRequest) -> Plan:
    """Every check that needs no model, before anything heavy runs or anything is written."""
    check_numbers(request)
    from artv_cli.engine.hub.registry import DEFAULT_MODEL, resolve_model

    notices = []
    image = None
    if request.image is not None:  # images.py brings torch: only when there is an image to read
        from artv_cli.engine.data.images import load_image

        image = load_image(request.image)
    ref = resolve_model(request.model or DEFAULT_MODEL)
    if request.size is not None:
        width, height = parse_size(request.size)
        check_size(width, height, ref.size_multiple, ref.name)
    elif image is not None:
        width, height = size_for_aspect(image.width, image.height, ref.native_size, ref.size_multiple)
        if (width, height) != (ref.native_size, ref.native_size):
            notices.append(f"size {width}x{height} follows the image's aspect (use --size to choose)")
    else:
        width = height = ref.native_size
    seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
    out = request.out or default_out(request.prompt, seed)
    check_out(out, request.force)
    if request.frames_dir is not None:
        from artv_cli.engine.data.video import check_frames_dir

        check_frames_dir(request.frames_dir)
    check_disk(out, request.frames, width, height, request.frames_dir)
    pixels = image.fitted(width, height) if image is not None else None
    notices += [f"{request.image}: {notice}" for notice in (image.notices if image is not None else [])]
    from artv_cli.engine.hub.devices import resolve_device, resolve_dtype

    device = resolve_device(request.device)
    dtype = resolve_dtype(request.dtype, device)
    from artv_cli.engine.sampling.recommended import model_config, sampling, unknown_words

    config = model_config(ref)  # the folder's artv_config.json, read once; no weights
    steps, scheduler, source = sampling(request, config)
    # a preset's or the model's own steps for a frame made from text (none given on the command line)
    first = resolve(given(request), config, request.fast, text_only=pixels is None)[0]["first_frame_steps"]
    notices += unknown_words(request.prompt, config)
    return Plan(
        ref, width, height, seed, out, pixels, device, dtype, steps, scheduler, source, first, notices
    )


@dataclass
class RenderResult:
    """What a render wrote and how long it took."""

    video: Path
    sidecar: Path
    frames: int
    width: int
    height: int
    fps: float
    seed: int
    frames_dir: str | None
    seconds: float
    record: dict  # the sidecar's contents


def render_video(
    request: RenderRequest,
    job: Plan | None = None,
    on_step=None,
    argv: list[str] | None = None,
    model=None,
    text_cache: dict | None = None,
) -> RenderResult:
    """Load the model, render frame by frame into the video (streamed), write the sidecar (STYLE 7).

    `job` is `plan(request)` (made here when not given); `on_step(frame, step, total, preview)` reports
    progress; `argv` is recorded in the sidecar. `model` (loaded by the caller for `job`'s model, device
    and dtype) and `text_cache` let a batch load once and encode each distinct prompt once.
    """
    job = job or plan(request)
    from artv_cli.engine.data.video import VideoWriter, write_sidecar
    from artv_cli.engine.hub.registry import load_model
    from artv_cli.engine.sampling.loop import render

    device, dtype = job.device, job.dtype
    started = time.perf_counter()
    if model is None:
        model = load_model(job.ref, device, dtype, compile=request.compile)
    load_seconds = time.perf_counter() - started
    method = model.config
    settings = sample_settings(request, job, method)

    made = request.frames - (1 if job.pixels is not None else 0)  # frame 0 of an animation is the image
    started = time.perf_counter()
    sidecar_path, sidecar = job.out.with_suffix(".json"), None
    try:  # the sidecar is written before the video is renamed into place: both or neither are left
        with VideoWriter(job.out, request.fps, request.quality, request.frames_dir) as writer:
            stamps = []  # when each generated frame was handed over: the first one carries a compile's cost
            frames = render(
                model, request.prompt, settings, image=job.pixels, on_step=on_step, text_cache=text_cache
            )
            for frame in frames:
                writer.append(frame)
                stamps.append(time.perf_counter())
            elapsed = time.perf_counter() - started
            timing = (load_seconds, elapsed, stamps, started, made)
            record = sidecar_record(request, job, settings, method, timing, argv)
            sidecar = write_sidecar(sidecar_path, record)
    except BaseException:
        if sidecar is not None:  # written, but the video did not land
            sidecar.unlink(missing_ok=True)
        raise
    return RenderResult(
        video=job.out,
        sidecar=sidecar,
        frames=writer.count,
        width=job.width,
        height=job.height,
        fps=request.fps,
        seed=job.seed,
        frames_dir=record["frames_dir"],
        seconds=round(elapsed, 3),
        record=record,
    )


def given(request: RenderRequest) -> dict:
    """The render settings a request gives (None: not given)."""
    return {name: getattr(request, name, None) for name in SETTINGS}


def sample_settings(request: RenderRequest, job: Plan, method):
    """The frame loop's settings of a planned request; `method` is the model's ARTVConfig (what it
    recommends). Every setting resolved by `settings.resolve`; steps, sampler and a text-only frame 0's
    steps as `plan` resolved them."""
    from artv_cli.engine.sampling.loop import SampleSettings

    values, _ = resolve(given(request), method, request.fast, text_only=job.pixels is None)
    values |= dict(steps=job.steps, scheduler=job.scheduler, first_frame_steps=job.first_frame_steps)
    return SampleSettings(
        frames=request.frames,
        width=job.width,
        height=job.height,
        seed=job.seed,
        negative_prompt=request.negative_prompt,
        **values,
    )


def sidecar_record(request: RenderRequest, job: Plan, settings, method, timing: tuple, argv=None) -> dict:
    """What the sidecar says about a render; `timing` is (load seconds, render seconds, when each frame
    was handed over, when rendering started, frames made)."""
    from artv_cli.engine.model.lora import sidecar_records

    load_seconds, elapsed, stamps, started, made = timing
    device, dtype = job.device, job.dtype
    return {
        "artv_version": __version__,
        "command": "animate" if job.pixels is not None else "generate",
        "argv": list(argv or []),
        "prompt": request.prompt,
        "image": str(request.image) if request.image is not None else None,
        "model": job.ref.name,
        "model_config": asdict(method),
        "settings": asdict(settings),
        "sampling_from": job.sampling_from,
        "adapters": sidecar_records(settings.lora),
        "fps": request.fps,
        "quality": request.quality,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "video": str(job.out),
        "frames_dir": str(request.frames_dir) if request.frames_dir else None,
        "timing": {
            "load_seconds": round(load_seconds, 3),
            "render_seconds": round(elapsed, 3),
            "seconds_per_generated_frame": round(elapsed / made, 4) if made else None,
            "first_generated_frame_seconds": _first_frame(stamps, started, job.pixels is not None),
            "compiled": request.compile,
        },
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _first_frame(stamps: list[float], started: float, animated: bool) -> float | None:
    """Seconds until the first generated frame (frame 1 of an animation, frame 0 of a text-only video)."""
    index = 1 if animated else 0
    if len(stamps) <= index:
        return None
    return round(stamps[index] - (stamps[index - 1] if index else started), 4)
