"""Many videos from a prompts file: rows read and checked up front, shared over processes, resumable.

A batch is a folder: `batch.json` (which prompts file, its checksum and the shared options: what makes
the batch itself), the videos and their sidecars, and `manifest.jsonl`, one line per finished video,
appended only after the video and its sidecar are in place. Video k's seed and file name depend only on
the file, k and the base seed, never on how many processes render, so N processes write the same files.
Processes (accelerate's `PartialState`) take every N-th of the rows not in the manifest; each renders
through `request.render_video`, the model loaded once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from artv_cli.engine.sampling.request import RenderRequest
from artv_cli.engine.sampling.settings import FLAGS, SETTINGS, relative_to
from artv_cli.errors import ArtvError

FORMATS = (".txt", ".csv", ".jsonl")
ROW_KEYS = {
    "prompt": str,
    "image": Path,
    "negative_prompt": str,
    "frames": int,
    "seed": int,
    "fps": float,
    "size": str,
    "fast": bool,
    "quality": float,
} | {name: list if SETTINGS[name].many else SETTINGS[name].kind for name in FLAGS}
"""What a row may set: the prompt, the image, and every render setting of engine/sampling/settings.py."""
SHARED_ONLY = ("model", "device", "dtype", "compile")
"""Options of the whole batch (one model per process), not of a row."""
MAX_REPORTED = 20
"""Bad rows listed in one error; the count says how many more."""


@dataclass
class BatchRow:
    """One video of a batch: its number k (0-based), the file's line, and its render request."""

    index: int
    line: int
    request: RenderRequest


def _convert(key: str, value, kind):
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "y", "on"):
            return True
        if text in ("0", "false", "no", "n", "off", ""):
            return False
        raise ValueError(f"{key} must be true or false, not {value!r}")
    if kind is Path:
        return Path(str(value))
    if kind is list:  # a JSON list, or text with items split at ";" (a CSV cell)
        items = value if isinstance(value, list) else str(value).split(";")
        return [str(item).strip() for item in items if str(item).strip()]
    if kind in (int, float):
        if isinstance(value, bool):
            raise ValueError(f"{key} must be a number, not {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be a number, not {value!r}") from None
        if kind is int:
            if number != int(number):
                raise ValueError(f"{key} must be a whole number, not {value!r}")
            return int(number)
        return number
    return str(value)


def _raw_rows(path: Path) -> list[tuple[int, dict | str]]:
    """(line, fields) of each row of the file; a parse problem is raised as a ValueError with its line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ArtvError(f"{path} is not UTF-8 text", "save the prompts file as UTF-8") from None
    suffix = path.suffix.lower()
    rows: list[tuple[int, dict | str]] = []
    if suffix == ".txt":
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("#"):
                rows.append((number, {"prompt": line.strip()}))
    elif suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                value = f"not JSON ({error.msg}, column {error.colno})"
            if isinstance(value, str) and not line.lstrip().startswith('"'):
                rows.append((number, value))  # the parse problem, reported with the others
            elif isinstance(value, str):
                rows.append((number, {"prompt": value}))
            elif isinstance(value, dict):
                rows.append((number, value))
            else:
                rows.append((number, "a row must be a JSON object with a prompt, or a string"))
    else:
        reader = csv.DictReader(io.StringIO(text))
        header = [name.strip() for name in reader.fieldnames or []]
        if "prompt" not in header:
            raise ArtvError(
                f"{path}:1: the CSV header has no prompt column (it has: {', '.join(header) or 'nothing'})",
                "start the file with a header line such as: prompt,seed,frames",
            )
        reader.fieldnames = header
        start = 2
        for record in reader:
            values = {k: v for k, v in record.items() if k is not None and v not in (None, "")}
            if None in record:
                rows.append((start, f"{len(record[None])} more fields than the header has"))
            elif values:
                rows.append((start, values))
            start = reader.line_num + 1
    return rows


def read_rows(
    path: Path, defaults: RenderRequest, base_seed: int = 0, prompts: list[str] | None = None
) -> list[BatchRow]:
    """Every row of a .txt, .csv or .jsonl prompts file as a checked request; all bad rows reported at
    once as FILE:LINE before any model loads. `prompts` (a protocol's set) stands for a .txt file's lines;
    `path` then only names it."""
    path = Path(path)
    if prompts is not None:
        return [_row(path, k + 1, {"prompt": text}, k, defaults, base_seed) for k, text in enumerate(prompts)]
    if path.suffix.lower() not in FORMATS:
        raise ArtvError(
            f"{path}: a prompts file is .txt (one prompt a line), .csv or .jsonl",
            "rename it with one of those endings, or convert it",
        )
    if not path.is_file():
        raise ArtvError(f"{path} does not exist or is not a file", "give the path of a prompts file")
    problems, rows = [], []
    for line, raw in _raw_rows(path):
        try:
            if isinstance(raw, str):
                raise ValueError(raw)
            rows.append(_row(path, line, raw, len(rows), defaults, base_seed))
        except (ValueError, ArtvError) as error:
            message = error.message if isinstance(error, ArtvError) else str(error)
            problems.append(f"{path}:{line}: {message}")
    if len(problems) == 1:
        raise ArtvError(problems[0], "fix that row (nothing was rendered)")
    if problems:
        more = len(problems) - MAX_REPORTED
        listed = "\n".join(problems[:MAX_REPORTED]) + (f"\n... and {more} more" if more > 0 else "")
        raise ArtvError(
            f"{len(problems)} bad row{'s' if len(problems) > 1 else ''} in the prompts file:\n{listed}",
            "fix those rows (nothing was rendered)",
        )
    if not rows:
        raise ArtvError(f"{path} has no prompts", "write one prompt a line (or rows with a prompt column)")
    return rows


def _row(path: Path, line: int, raw: dict, index: int, defaults: RenderRequest, base_seed: int) -> BatchRow:
    from artv_cli.engine.data.images import load_image
    from artv_cli.engine.sampling.request import check_numbers, parse_size

    unknown = sorted(set(raw) - set(ROW_KEYS))
    if unknown:
        allowed = ", ".join(ROW_KEYS)
        raise ValueError(f"unknown column {', '.join(map(repr, unknown))} (a row may set: {allowed})")
    values = {key: _convert(key, value, ROW_KEYS[key]) for key, value in raw.items()}
    if not str(values.get("prompt", "")).strip():
        raise ValueError("the prompt is empty")
    if "image" in values and not values["image"].is_absolute():
        values["image"] = path.parent / values["image"]  # relative to the prompts file, not the shell
    for name in FLAGS:
        if SETTINGS[name].path and values.get(name):  # paths of a render setting too
            values[name] = [relative_to(path.parent, item) for item in values[name]]
        if (problem := SETTINGS[name].problem(values.get(name))) is not None:
            raise ValueError(f"{name} {problem}")
    values.setdefault("seed", base_seed + index)
    request = replace(defaults, **values)
    check_numbers(request)
    if request.size is not None:
        parse_size(request.size)
    if request.image is not None:
        load_image(request.image)  # missing, unreadable or not an image: reported with the row
    return BatchRow(index, line, request)


def check_sizes(rows: list[BatchRow], path: Path, ref) -> None:
    """Rows asking for a size the model cannot take, reported as FILE:LINE before any work (the model's
    size multiple is known without its weights)."""
    from artv_cli.engine.sampling.request import check_size, parse_size

    problems = []
    for row in rows:
        if row.request.size is not None:
            try:
                check_size(*parse_size(row.request.size), ref.size_multiple, ref.name)
            except ArtvError as error:
                problems.append(f"{path}:{row.line}: {error.message}")
    if problems:
        listed = "\n".join(problems[:MAX_REPORTED])
        raise ArtvError(problems[0] if len(problems) == 1 else f"{len(problems)} bad sizes:\n{listed}",
                        f"use sizes in multiples of {ref.size_multiple} pixels")  # fmt: skip


def video_name(row: BatchRow, suffix: str = ".mp4") -> str:
    """`00007-a-red-circle-moves-right.mp4`: the row's number and its prompt, never the process's; the
    batch's format's `suffix` (outputs.FORMATS: "" for a folder of PNG frames)."""
    slug = re.sub(r"[^a-z0-9]+", "-", row.request.prompt.lower()).strip("-")[:40] or "video"
    return f"{row.index:05d}-{slug}{suffix}"


def fingerprint(path: Path, defaults: RenderRequest, base_seed: int, prompts=None, suffix=".mp4") -> dict:
    """What makes a batch itself: the prompts file's bytes (or a protocol's prompts), the options shared by
    its rows and its format (recorded when not MP4, so that a batch begun before formats still resumes)."""
    shared = {k: v for k, v in asdict(defaults).items() if k not in ("prompt", "out", "force", "frames_dir")}
    return {
        "prompts": str(path),
        "prompts_sha256": hashlib.sha256(
            "\n".join(prompts).encode() if prompts is not None else Path(path).read_bytes()
        ).hexdigest(),
        "base_seed": base_seed,
        "options": json.loads(json.dumps(shared, default=str)),
    } | ({"format": suffix or "png"} if suffix != ".mp4" else {})


def check_folder(out: Path, batch: dict, resume: bool) -> bool:
    """Whether `out` holds this batch already (resume), after refusing another batch or an unasked
    resume; nothing is written here."""
    if out.exists() and not out.is_dir():
        raise ArtvError(f"--out {out} is a file", "give a folder for the batch's videos")
    record = out / "batch.json"
    if not record.exists():
        return False
    try:
        held = json.loads(record.read_text())
    except (OSError, json.JSONDecodeError):
        raise ArtvError(f"{record} cannot be read", "give another --out, or delete that folder") from None
    same = {k: held.get(k) for k in batch if k != "prompts"} == {
        k: v for k, v in batch.items() if k != "prompts"
    }
    if not same:
        raise ArtvError(
            f"{out} holds another batch (of {held.get('prompts')}, or other options)",
            "give another --out (a batch's options and prompts cannot change halfway)",
        )
    if not resume:
        raise ArtvError(
            f"{out} holds this batch already ({len(read_manifest(out))} videos done)",
            "add --resume to render the rest, or give another --out",
        )
    return True


def read_manifest(out: Path) -> dict[int, dict]:
    """Finished videos by row number (a torn last line, from a killed process, is ignored)."""
    done = {}
    path = out / "manifest.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
                done[int(entry["index"])] = entry
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
    return done


def append_manifest(out: Path, entry: dict) -> None:
    """One line, one write, under an exclusive lock: lines of several processes never interleave."""
    import fcntl

    data = (json.dumps(entry) + "\n").encode()
    fd = os.open(out / "manifest.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def my_rows(rows: list[BatchRow], done: dict, process_index: int, processes: int) -> list[BatchRow]:
    """This process's share: every N-th of the rows not yet done (the same list in every process)."""
    return [row for row in rows if row.index not in done][process_index::processes]


def render_rows(rows, out: Path, model, argv=None, on_video=None, on_step=None, batch_size=1, suffix=".mp4"):
    """Render these rows with one loaded model; each finished video is recorded in the manifest after
    its file and sidecar are in place. `on_video(row, seconds)` after each. With `batch_size` > 1, runs of
    consecutive rows that share their settings advance together (`loop.render` with a list of prompts)."""
    from artv_cli.engine.sampling.request import plan, render_video

    text_cache: dict = {}

    def jobs():  # planned one at a time: a long batch never holds more than a group's images
        for row in rows:
            request = replace(row.request, out=out / video_name(row, suffix), force=True)  # unfinished: redo
            yield row, request, plan(request)

    for group in _groups(jobs(), model, batch_size):
        started = time.perf_counter()
        if len(group) == 1:
            row, request, job = group[0]
            render_video(request, job, on_step=on_step, argv=argv, model=model, text_cache=text_cache)
        else:
            _render_group(group, model, argv, text_cache, on_step)
        seconds = round((time.perf_counter() - started) / len(group), 3)
        for row, request, job in group:
            append_manifest(
                out,
                {
                    "index": row.index,
                    "line": row.line,
                    "prompt": request.prompt,
                    "image": str(request.image) if request.image else None,
                    "seed": job.seed,
                    "file": job.out.name,
                    "sidecar": job.out.with_suffix(".json").name,
                    "seconds": seconds,
                },
            )
            if on_video is not None:
                on_video(row, seconds)


def _groups(jobs, model, batch_size: int):
    """Consecutive rows whose frame loops are the same (settings, size, mode), at most batch_size each."""
    from artv_cli.engine.sampling.request import sample_settings

    def key(item):
        _, request, job = item
        settings = replace(sample_settings(request, job, model.config), seed=0, negative_prompt="")
        return (settings, job.pixels is None, request.fps, request.quality, request.frames_dir)

    group: list = []
    for item in jobs:
        if group and (len(group) == batch_size or key(group[0]) != key(item)):
            yield group
            group = []
        group.append(item)
    if group:
        yield group


def _render_group(group: list, model, argv, text_cache: dict, on_step) -> None:
    """Several videos of the same settings in one frame loop, each into its own file and sidecar."""
    from contextlib import ExitStack

    import torch

    from artv_cli.engine.data.video import VideoWriter, write_sidecar
    from artv_cli.engine.sampling.loop import render
    from artv_cli.engine.sampling.request import sample_settings, sidecar_record

    first_request, first_job = group[0][1], group[0][2]
    settings = sample_settings(first_request, first_job, model.config)
    images = None if first_job.pixels is None else torch.cat([job.pixels for _, _, job in group])
    started = time.perf_counter()
    with ExitStack() as stack:
        writers = [
            stack.enter_context(VideoWriter(job.out, request.fps, request.quality, request.frames_dir))
            for _, request, job in group
        ]
        stamps = []
        frames = render(
            model,
            [request.prompt for _, request, _ in group],
            settings,
            image=images,
            text_cache=text_cache,
            on_step=on_step,
            seeds=[job.seed for _, _, job in group],
            negative_prompts=[request.negative_prompt for _, request, _ in group],
        )
        for frame in frames:
            for writer, image in zip(writers, frame, strict=True):
                writer.append(image)
            stamps.append(time.perf_counter())
    elapsed = time.perf_counter() - started
    made = first_request.frames - (1 if images is not None else 0)
    for _, request, job in group:
        own = replace(settings, seed=job.seed, negative_prompt=request.negative_prompt)
        record = sidecar_record(request, job, own, model.config, (0.0, elapsed, stamps, started, made), argv)
        record["batched_with"] = len(group)  # videos that shared the forward passes
        write_sidecar(job.out.with_suffix(".json"), record)
