"""Rendering a storyboard: its scenes around the one frame loop (`loop.render`), each scene a playable file.

Chaining follows METHOD.md ("Generation modes"): a segment's first frame is conditioned on the last two
frames of the one before; the anchor stays frame 0 unless a segment re-anchors. The finished segments
are joined (stream copy; a GIF or a folder of PNGs is made again from the kept frames) after every
segment, with the render state beside them, so an interrupted story is playable up to its last finished
segment and `--resume` continues it exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from artv_cli.engine.sampling.storyboard import PlannedSegment, Storyboard
from artv_cli.errors import ArtvError

OnFrame = Callable[..., None]  # (segment index, frame in segment, step, steps, finished frame or None)


def _concat(parts: list[Path], out: Path) -> None:
    """Join finished segment files (MP4 or WebM, as `out`) into `out` without re-encoding (ffmpeg concat
    demuxer), atomically."""
    import imageio_ffmpeg

    listing = out.with_name(f".{out.name}.concat.txt")
    listing.write_text("".join(f"file '{p.resolve().as_posix()}'\n" for p in parts))
    partial = out.with_name(f".{out.name}.joining")
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-y",
        "-loglevel",
        "error",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(listing),
        "-c",
        "copy",
        *(["-f", "webm"] if out.suffix.lower() == ".webm" else ["-movflags", "+faststart", "-f", "mp4"]),
        str(partial),
    ]
    try:
        subprocess.run(command, check=True, capture_output=True)
        os.replace(partial, out)
    finally:
        listing.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)


def _publish(parts: list[Path], out: Path, frames: Path, fps: float, quality: float) -> None:
    """The playable output of the segments so far, in `out`'s format: MP4 and WebM segments are joined by
    stream copy; a GIF (its palette made from the whole clip) and a folder of PNG frames are made again
    from the lossless frames kept in the work folder."""
    from artv_cli.engine.data.video import VideoWriter

    if out.suffix.lower() in (".mp4", ".webm"):
        _concat(parts, out)
        return
    import numpy as np
    from PIL import Image

    with VideoWriter(out, fps, quality) as writer:
        for png in sorted(frames.glob("*.png")):
            writer.append(np.asarray(Image.open(png).convert("RGB")))


def _cpu(tensor):
    return tensor.cpu() if tensor is not None else None


@dataclass
class StoryPlan:
    """A storyboard render checked and planned, before any weight loads (what `plan_story` returns)."""

    board: Storyboard  # with the command line's values and the model's recommendation put in
    planned: list[PlannedSegment]
    size: tuple[int, int]
    ref: object  # the model's registry entry
    target: Path  # the video to write
    record: dict  # the sidecar's settings so far (the model, device and versions are added at render)
    speed: dict  # settings a storyboard has no key for: a --fast preset's, or the model's first_frame_steps
    resume: bool  # whether a partial render of `target` is continued


def plan_story(
    file: Path,
    given: dict,
    fast: bool = False,
    out: Path | None = None,
    force: bool = False,
    resume: bool = False,
    note: Callable[[str], None] | None = None,
) -> StoryPlan:
    """Read and check a storyboard, put the command line's values over it (`given`: model, size, seed and
    the render settings; None where not given), then the `--fast` preset, then the model's recommendation;
    plan its segments and check the output. `resume` holds only where a partial render exists; where
    there is none, `note` is told so before the output is checked (it is then the command without it)."""
    from artv_cli.engine.hub.registry import DEFAULT_MODEL, resolve_model
    from artv_cli.engine.model.lora import sidecar_records
    from artv_cli.engine.sampling.outputs import check_out
    from artv_cli.engine.sampling.overrides import apply_overrides, yaml_keys
    from artv_cli.engine.sampling.recommended import model_config
    from artv_cli.engine.sampling.request import check_size, parse_size
    from artv_cli.engine.sampling.settings import FLAGS, SETTINGS, fast_preset, resolve
    from artv_cli.engine.sampling.storyboard import load_storyboard, plan_segments, resolved
    from artv_cli.versions import version

    board = load_storyboard(file)
    given = {name: given.get(name) for name in ("model", "size", "seed", *FLAGS)}
    for name in FLAGS:
        SETTINGS[name].check(given[name])
    preset, speed = {}, {}
    if fast:  # the speed preset (the model's own, else DPM-Solver++ 12) fills what the command line left open
        preset = fast_preset(model_config(resolve_model(given["model"] or board.model or DEFAULT_MODEL)))
        speed = {k: v for k, v in preset.items() if k not in FLAGS}  # a storyboard has no key for these
        preset = {k: v for k, v in preset.items() if k in FLAGS and given[k] is None}
        given |= preset
    sources = apply_overrides(board, given, yaml_keys(file))
    sources |= {name: "fast" for name in preset}
    ref = resolve_model(board.model or DEFAULT_MODEL)
    values, _ = resolve({}, model_config(ref))
    for name in ("steps", "scheduler"):  # neither command line nor storyboard: the model's, else built-in
        if getattr(board, name) is None:
            setattr(board, name, values[name])
            if name == "steps" and values["first_frame_steps"] and not fast:  # and its frame 0 from text
                speed = {"first_frame_steps": values["first_frame_steps"]}
    if board.size is not None:
        size = parse_size(str(board.size))
        check_size(*size, ref.size_multiple, ref.name)
    else:
        size = (ref.native_size, ref.native_size)
    planned = plan_segments(board, Path(file).parent)
    target = out or Path(board.output.path)
    partial = (work_dir(target) / "state.pt").is_file()  # an interrupted render of this target
    if resume and not partial and note is not None:
        note(f"nothing to resume for {target}: rendering from the start")
    check_out(target, force or partial)
    record = {
        "artv_version": version("artv"),
        "command": "story",
        "storyboard_file": str(file),
        "storyboard": resolved(board, planned, size, ref.name),
        "settings_from": sources,
        "frames_dir": board.output.frames_dir,
        "video": str(target),
        "speed": speed,
        "adapters": sidecar_records(dict.fromkeys(a for p in planned for a in (p.lora or ()))),
    }
    return StoryPlan(board, planned, size, ref, target, record, speed, resume and partial)


def _settings(segment, method, size, speed, frames: int, **changes):
    """The frame loop's settings of a segment: its values, else the model's recommendation, else the
    defaults; `frames` of it (render() counts frames over the whole story)."""
    from dataclasses import replace

    from artv_cli.engine.sampling.loop import SampleSettings
    from artv_cli.engine.sampling.settings import FLAGS, resolve

    values, _ = resolve({name: getattr(segment, name) for name in FLAGS}, method)
    values["first_frame_steps"] = (speed or {}).get("first_frame_steps")  # a --fast preset's or the model's
    settings = SampleSettings(
        frames=segment.start + frames,
        width=size[0],
        height=size[1],
        seed=segment.seed,
        negative_prompt=segment.negative_prompt,
        **values,
    )
    return replace(settings, **changes)


def plan_sheet(model, planned: list, size: tuple[int, int], speed: dict | None = None, frames: int = 3,
               steps: int = 4, on_segment: Callable[[int], None] | None = None):  # fmt: skip
    """A look at the story before the long render (`artv story --dry-run --sheet`): the first `frames`
    frames of each segment at `steps` denoising steps, chained as the render chains them (the next
    segment starts from the last sheet frame of the one before), one row per segment with its prompt
    under it. Returns a PIL image."""
    from PIL import Image, ImageDraw

    from artv_cli.engine.data.images import load_image
    from artv_cli.engine.sampling.loop import RenderState, render

    state, rows = RenderState(), []
    for segment in planned:
        state.frames_done = segment.start  # the sheet's frames stand for the segment's first ones
        count = min(frames, segment.frames)
        fewer = min(steps, segment.steps)
        settings = _settings(segment, model.config, size, speed, frames=count, steps=fewer,
                             first_frame_steps=None, preview=False)  # fmt: skip
        image = load_image(Path(segment.image)).fitted(*size) if segment.image else None
        previous = planned[segment.index - 1].prompt if segment.index > 0 and segment.transition else None
        made = list(render(model, segment.prompt, settings, image=image, state=state,
                           reanchor=segment.reanchor and segment.index > 0,
                           transition=(previous, segment.transition) if previous else None))  # fmt: skip
        rows.append((segment, made))
        if on_segment is not None:
            on_segment(segment.index)
    scale, text_height = 2, 28
    width, height = size[0] * scale, size[1] * scale
    columns = max(len(made) for _, made in rows)
    sheet = Image.new("RGB", (max(columns * width, 320), len(rows) * (height + text_height)), "white")
    draw = ImageDraw.Draw(sheet)
    per_line = max(20, sheet.width // 6)
    for r, (segment, made) in enumerate(rows):
        y = r * (height + text_height)
        for c, frame in enumerate(made):
            sheet.paste(Image.fromarray(frame).resize((width, height), Image.NEAREST), (c * width, y))
        label = f"{segment.index + 1}: {segment.prompt}"
        draw.text((2, y + height + 1), label[:per_line], fill="black")
        draw.text((2, y + height + 14), label[per_line : 2 * per_line], fill="black")
    return sheet


def work_dir(out: Path) -> Path:
    return out.with_name(f".{out.name}.story")


def render_story(
    model,
    board: Storyboard,
    planned: list[PlannedSegment],
    size: tuple[int, int],
    out: Path,
    record: dict,
    resume: bool = False,
    on_frame: OnFrame | None = None,
    on_segment: Callable[[int, Path], None] | None = None,
    speed: dict | None = None,
) -> Path:
    """Render the segments in order; after each, save the state and re-join the playable video.

    `speed` holds the sampler settings a storyboard has no key for (`first_frame_steps`: a `--fast`
    preset's, or the model's where the steps are its own too)."""
    import torch

    from artv_cli.engine.data.images import load_image
    from artv_cli.engine.data.video import VideoWriter, write_sidecar
    from artv_cli.engine.sampling.loop import RenderState, render

    work = work_dir(out)
    # a resume must continue the same story: the resolved storyboard (size and model included) must match
    # (and the --fast settings a storyboard has no key for, when there are any)
    same = [record["storyboard"], speed] if speed else record["storyboard"]
    fingerprint = hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()
    state, done = RenderState(), 0
    if resume and (work / "state.pt").is_file():
        saved = torch.load(work / "state.pt", map_location="cpu", weights_only=True)
        if saved["fingerprint"] != fingerprint:
            raise ArtvError(
                f"the partial render in {work} was made from a different storyboard or settings",
                "render again without --resume (the partial video is replaced)",
            )
        done = int(saved["segments_done"])
        device = model.device
        state.prev, state.prev2, state.anchor = (
            saved[k].to(device) if saved[k] is not None else None for k in ("prev", "prev2", "anchor")
        )
        state.frames_done = int(saved["frames_done"])
        colours = saved.get("anchor_colours")  # the colour locks' targets (absent in older partial renders)
        if colours is not None and colours.dim() == 2:  # an older partial render: the median colour alone
            colours = torch.cat([colours, torch.ones(len(colours), 1)], dim=1)
            colours = torch.stack([colours, torch.full_like(colours, float("nan"))], dim=1)
        state.anchor_colours = colours.numpy() if colours is not None else None
        background = saved.get("anchor_background")  # the background lock's (absent in older ones)
        state.anchor_background = background.numpy() if background is not None else None
        pixels = saved.get("anchor_pixels")  # the shape lock's sprites are drawn from it (absent in older)
        state.anchor_pixels = pixels.numpy() if pixels is not None else None
        tracks = saved.get("sprite_tracks")  # where the shape lock last drew each sprite, and its step
        if tracks is not None and state.anchor_pixels is not None:
            from artv_cli.engine.sampling.shapes import subject_sprites

            state.anchor_sprites = subject_sprites(state.anchor_pixels)
            for sprites, saved_sprites in zip(state.anchor_sprites, tracks, strict=True):
                for sprite, (place, step) in zip(sprites, saved_sprites, strict=True):
                    sprite.place, sprite.step = tuple(place), tuple(step)
    else:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    kind = out.suffix.lower()  # the segments' files: WebM for a WebM story, else MP4
    parts = [work / f"segment-{i:04d}{'.webm' if kind == '.webm' else '.mp4'}" for i in range(len(planned))]
    method = model.config
    frames_dir = work / "frames"  # lossless frames, for --frames-dir, a GIF or a folder of PNGs
    keep_frames = bool(board.output.frames_dir) or board.output.gif or kind in (".gif", "")
    for segment in planned[done:]:
        settings = _settings(segment, method, size, speed, frames=segment.frames)
        image = load_image(Path(segment.image)).fitted(*size) if segment.image else None
        previous = planned[segment.index - 1].prompt if segment.index > 0 and segment.transition else None

        def on_step(frame, step, total, preview, segment=segment):
            if on_frame is not None:
                on_frame(segment.index, frame - segment.start, step, total, preview)

        # No B-frames in segment files: their timestamps then join exactly (with B-frames, each joint
        # gains an edit-list gap that readers fill with duplicated frames).
        with VideoWriter(
            parts[segment.index], board.fps, board.output.quality, encoder_params=["-bf", "0"]
        ) as writer:
            for frame in render(
                model,
                segment.prompt,
                settings,
                image=image,
                state=state,
                on_step=on_step,
                reanchor=segment.reanchor and segment.index > 0,
                transition=(previous, segment.transition) if previous else None,
            ):
                writer.append(frame)
                if keep_frames:
                    from PIL import Image

                    frames_dir.mkdir(exist_ok=True)
                    Image.fromarray(frame).save(frames_dir / f"{writer.count - 1 + segment.start:06d}.png")
        # the state after this segment, then the playable video of everything so far
        torch.save(
            {
                "fingerprint": fingerprint,
                "segments_done": segment.index + 1,
                "frames_done": state.frames_done,
                **{k: _cpu(getattr(state, k)) for k in ("prev", "prev2", "anchor")},
                **{
                    k: None if getattr(state, k) is None else torch.from_numpy(getattr(state, k))
                    for k in ("anchor_colours", "anchor_background", "anchor_pixels")
                },
                "sprite_tracks": None
                if state.anchor_sprites is None
                else [[(s.place, s.step) for s in sprites] for sprites in state.anchor_sprites],
            },
            work / ".state.pt.partial",
        )
        os.replace(work / ".state.pt.partial", work / "state.pt")
        _publish(parts[: segment.index + 1], out, frames_dir, board.fps, board.output.quality)
        write_sidecar(
            out.with_suffix(".json"),
            record | {"complete": segment.index + 1 == len(planned), "segments_done": segment.index + 1},
        )
        if on_segment is not None:
            on_segment(segment.index, out)
    # finished: extras, then the work folder goes
    if board.output.gif and kind != ".gif":  # NAME.gif beside the video, from the lossless frames
        _publish([], out.with_suffix(".gif"), frames_dir, board.fps, board.output.quality)
    if board.output.frames_dir:
        target = Path(record["frames_dir"])
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(frames_dir), str(target))
    shutil.rmtree(work, ignore_errors=True)
    return out
