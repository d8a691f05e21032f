"""`artv eval` in the engine: find the videos and prompts, stream them through the metrics, record how.

Videos are read one at a time and features are extracted in batches, so memory does not grow with the
number of videos: Fréchet statistics are running sums, IS keeps one probability row per clip, CLIPSIM
and drift keep one summary per video.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from artv_cli.engine.evaluation import features as fx
from artv_cli.engine.evaluation.drift import CURVES, DriftTracker
from artv_cli.engine.evaluation.metrics import FeatureMoments, clipsim, frechet_distance, inception_score
from artv_cli.engine.evaluation.sources import (
    VideoSource,
    apply_prompts_file,
    list_videos,
    read_frames,
    subset,
)
from artv_cli.engine.evaluation.worldscore import WorldScorer, parse_prompt, summarise
from artv_cli.errors import ArtvError

METRICS = ("fvd", "fid", "is", "clipsim", "drift", "world")
NEEDS = {"fvd": ["i3d"], "fid": ["inception"], "is": ["c3d", "inception"], "clipsim": ["clip"]}


@dataclass(frozen=True)
class Protocol:
    """How a published number is computed: counts, clip length, resize, splits, seed."""

    name: str
    description: str
    videos: int | None = None  # generated videos scored (None: all); more are subsampled with the seed
    ref_videos: int | None = None  # real videos (None: all)
    clip_frames: int = 16  # frames per clip for I3D and C3D, from the start of each video
    fid_frames: int | None = None  # frames per video for FID / image IS (None: all)
    splits: int = 10  # IS splits
    seed: int = 0


PROTOCOLS = {
    "default": Protocol("default", "every video given; 16-frame clips; FID on every frame; 10 IS splits"),
    "ucf101-fvd2048-16f": Protocol(
        "ucf101-fvd2048-16f",
        "FVD as StyleGAN-V's fvd2048_16f: 2048 generated and 2048 real 16-frame clips, "
        "I3D at 224x224 in [-1, 1]",
        videos=2048,
        ref_videos=2048,
    ),
    "ucf101-is": Protocol(
        "ucf101-is",
        "video IS as TGANv2 / StyleGAN-V isv2048_ucf: 2048 16-frame clips, C3D (UCF-101) at 128x128, "
        "10 splits",
        videos=2048,
    ),
    "msrvtt-clipsim": Protocol(
        "msrvtt-clipsim",
        "CLIPSIM as Wu et al. (GODIVA): every frame of every video against its prompt, CLIP ViT-B/32, "
        "raw cosine",
    ),
}


@dataclass
class EvalConfig:
    """Every knob of `artv eval`."""

    generated: Path
    """Folder of generated videos (files or frame folders)."""
    ref: Path | None = None
    """Folder of real videos, for FVD and FID."""
    metrics: list[str] | None = None
    """Metrics to run; None runs every metric whose inputs and weights are present."""
    prompts: Path | None = None
    """Prompts file (.txt one per video in name order, .csv, .jsonl); default: sidecar JSONs or WebVid CSV."""
    protocol: str = "default"
    """A protocol preset (PROTOCOLS)."""
    weights_dir: Path | None = None
    """Folder of evaluation weights (default: $ARTV_HOME/eval or the user data folder)."""
    device: str = "cpu"
    """Device for feature extraction."""
    batch_size: int = 16
    """Clips or frames per extractor call."""
    strict: bool = False
    """A metric whose weights are missing is an error instead of a skip."""


@dataclass
class EvalRun:
    results: dict
    curves: dict[str, list[float]] = field(default_factory=dict)  # mean drift curves over the videos


# ----- the run ---------------------------------------------------------------------------------------
def evaluate(config: EvalConfig, on_video: Callable[[str, int, int], None] | None = None) -> EvalRun:
    """Run the asked metrics; every result records the protocol, the counts used and the weights' hashes."""
    if config.protocol not in PROTOCOLS:
        raise ArtvError(f"unknown protocol '{config.protocol}'", f"use one of: {', '.join(PROTOCOLS)}")
    protocol = PROTOCOLS[config.protocol]
    unknown = [m for m in config.metrics or [] if m not in METRICS]
    if unknown:
        raise ArtvError(f"unknown metric {unknown[0]!r}", f"use {', '.join(METRICS)}")
    generated = list_videos(config.generated)
    if config.prompts is not None:
        apply_prompts_file(generated, config.prompts)
    reference = list_videos(config.ref) if config.ref is not None else None
    folder = fx.weights_dir(config.weights_dir)
    asked = list(config.metrics or METRICS)
    explicit = config.metrics is not None

    results: dict = {
        "protocol": asdict(protocol),
        "generated": str(config.generated),
        "ref": str(config.ref) if config.ref else None,
        "weights_dir": str(folder),
        "metrics": {},
        "skipped": {},
        "broken": [],
    }
    weights: dict[str, Path] = {}

    def skip(metric: str, why: str, hint: str) -> None:
        if config.strict or (explicit and metric in ("fvd", "fid") and "--ref" in hint):
            raise ArtvError(f"--{metric}: {why}", hint)
        results["skipped"][metric] = f"{why}; {hint}"

    plan = []
    for metric in asked:
        if metric in ("fvd", "fid") and reference is None:
            if explicit:
                skip(metric, "needs real videos", "give them with --ref REAL_FOLDER")
            continue
        missing = [name for name in NEEDS.get(metric, []) if fx.find_weights(name, folder) is None]
        if metric == "is" and len(missing) < 2:
            missing = []  # video IS (C3D) or image IS (Inception): either is enough
        if missing:
            spec = fx.WEIGHTS[missing[0]]
            skip(
                metric,
                f"no {spec.file} in {folder}",
                f"run `artv download {spec.name}` or put the file there",
            )
            continue
        if metric in ("clipsim", "world") and not any(s.prompt for s in generated):
            if explicit:
                skip(
                    metric,
                    "no prompts found",
                    "give --prompts FILE, or score videos artv wrote (sidecar JSON)",
                )
            continue
        plan.append(metric)
    for metric in plan:
        for name in NEEDS.get(metric, []):
            path = fx.find_weights(name, folder)
            if path is not None:
                weights[name] = path
    results["weights"] = {name: {"file": str(p), "sha256": fx.weights_hash(p)} for name, p in weights.items()}

    generated = subset(generated, protocol.videos, protocol.seed)
    if reference is not None:
        reference = subset(reference, protocol.ref_videos, protocol.seed + 1)
    runner = _Runner(config, protocol, plan, weights)
    started = time.perf_counter()
    runner.run(generated, "generated", on_video)
    if reference is not None and {"fvd", "fid"} & set(plan):
        runner.run(reference, "ref", on_video)
    results["broken"] = runner.broken
    results["metrics"] = runner.finish(results)
    results["counts"] = runner.counts
    results["seconds"] = round(time.perf_counter() - started, 3)
    return EvalRun(results, runner.mean_curves())


class _Runner:
    """Streams videos through the planned metrics and accumulates what each needs."""

    def __init__(self, config: EvalConfig, protocol: Protocol, plan: list[str], weights: dict[str, Path]):
        self.config, self.protocol, self.plan = config, protocol, plan
        device = config.device
        self.i3d = fx.I3D(weights["i3d"], device) if "i3d" in weights and "fvd" in plan else None
        self.inception = fx.Inception(weights["inception"], device) if "inception" in weights else None
        self.c3d = fx.C3D(weights["c3d"], device) if "c3d" in weights and "is" in plan else None
        self.clip = fx.CLIP(weights["clip"], device) if "clip" in weights and "clipsim" in plan else None
        self.moments = {(m, side): FeatureMoments() for m in ("fvd", "fid") for side in ("generated", "ref")}
        self.video_probs: list[np.ndarray] = []
        self.image_probs: list[np.ndarray] = []
        self.clipsims: list[float] = []
        self.drift: list[dict] = []
        self.curves: dict[str, list[list[float]]] = {name: [] for name in CURVES}
        self.world: list[dict] = []
        self.unparsed = 0
        self.broken: list[dict] = []
        self.counts = {"generated_videos": 0, "ref_videos": 0, "clips_generated": 0, "clips_ref": 0,
                       "frames_fid_generated": 0, "frames_fid_ref": 0, "too_short_for_clips": 0}  # fmt: skip
        self._clips: dict[str, list[np.ndarray]] = {"generated": [], "ref": []}
        self._frames: dict[str, list[np.ndarray]] = {"generated": [], "ref": []}

    # streaming ------------------------------------------------------------------------------------
    def run(self, sources: list[VideoSource], side: str, on_video) -> None:
        for number, source in enumerate(sources):
            try:
                self._video(source, side)
                self.counts[f"{side}_videos"] += 1
            except Exception as error:  # a broken file is reported and the rest are scored
                self.broken.append(
                    {"video": str(source.path), "error": f"{type(error).__name__}: {error}"[:200]}
                )
            if on_video is not None:
                on_video(side, number + 1, len(sources))
        self._flush(side, final=True)

    def _video(self, source: VideoSource, side: str) -> None:
        wants_clips = (self.i3d is not None and side in ("generated", "ref")) or (
            self.c3d and side == "generated"
        )
        wants_fid = self.inception is not None and (
            "fid" in self.plan or ("is" in self.plan and side == "generated")
        )
        drift = DriftTracker() if side == "generated" and "drift" in self.plan else None
        parsed = (
            parse_prompt(source.prompt)
            if side == "generated" and "world" in self.plan and source.prompt
            else None
        )
        if side == "generated" and "world" in self.plan and source.prompt and parsed is None:
            self.unparsed += 1
        world = WorldScorer(parsed) if parsed else None
        clip_frames, clip_embeddings, clip_pending, fid_frames = [], [], [], []
        count = 0
        for frame in read_frames(source):
            count += 1
            if drift is not None:
                drift.add(frame)
            if world is not None:
                world.add(frame)
            if wants_clips and len(clip_frames) < self.protocol.clip_frames:
                clip_frames.append(frame)
            if wants_fid and (self.protocol.fid_frames is None or len(fid_frames) < self.protocol.fid_frames):
                fid_frames.append(frame)
                if len(fid_frames) >= self.config.batch_size:
                    self._frames[side].extend(fid_frames)
                    fid_frames = []
                    self._flush(side)
            if self.clip is not None and side == "generated" and source.prompt:
                clip_pending.append(frame)
                if len(clip_pending) >= self.config.batch_size:
                    clip_embeddings.extend(self.clip.images(np.stack(clip_pending)))
                    clip_pending = []
        if count == 0:
            raise ValueError("no frames could be read")
        if wants_clips:
            if len(clip_frames) == self.protocol.clip_frames:
                self._clips[side].append(np.stack(clip_frames))
            else:
                self.counts["too_short_for_clips"] += 1
        self._frames[side].extend(fid_frames)
        if drift is not None:
            summary = drift.summary()
            self.drift.append({"video": source.key} | summary)
            for name, values in drift.curves().items():
                self.curves[name].append(values)
        if world is not None:
            self.world.append({"video": source.key, "prompt": source.prompt} | world.result())
        if clip_pending:
            clip_embeddings.extend(self.clip.images(np.stack(clip_pending)))
        if clip_embeddings:
            self.clipsims.append(clipsim(np.stack(clip_embeddings), self.clip.text(source.prompt)))
        self._flush(side)

    def _flush(self, side: str, final: bool = False) -> None:
        batch = self.config.batch_size
        clips = self._clips[side]
        while clips and (len(clips) >= batch or final):
            chunk, self._clips[side] = np.stack(clips[:batch]), clips[batch:]
            clips = self._clips[side]
            if self.i3d is not None:
                self.moments[("fvd", side)].add(self.i3d(chunk))
            if self.c3d is not None and side == "generated":
                self.video_probs.append(self.c3d(chunk))
            self.counts[f"clips_{side}"] += len(chunk)
        frames = self._frames[side]
        while frames and (len(frames) >= batch or final):
            chunk, self._frames[side] = np.stack(frames[:batch]), frames[batch:]
            frames = self._frames[side]
            if "fid" in self.plan:
                self.moments[("fid", side)].add(self.inception.features(chunk))
            if "is" in self.plan and side == "generated":
                self.image_probs.append(self.inception.probabilities(chunk))
            self.counts[f"frames_fid_{side}"] += len(chunk)

    # results --------------------------------------------------------------------------------------
    def finish(self, results: dict) -> dict:
        out = {}
        for metric in ("fvd", "fid"):
            if metric not in self.plan:
                continue
            gen, ref = self.moments[(metric, "generated")], self.moments[(metric, "ref")]
            if gen.count < 2 or ref.count < 2:
                results["skipped"][metric] = (
                    f"needs at least 2 samples on each side (got {gen.count} and {ref.count})"
                )
                continue
            value = frechet_distance(*gen.mean_cov(), *ref.mean_cov())
            out[metric] = {"value": round(value, 4), "samples_generated": gen.count, "samples_ref": ref.count}
        if "is" in self.plan:
            if self.video_probs:
                mean, std = inception_score(np.concatenate(self.video_probs), self.protocol.splits)
                samples = sum(map(len, self.video_probs))
                out["is_video"] = {"value": round(mean, 4), "std": round(std, 4), "samples": samples}
                out["is_video"] |= {"splits": self.protocol.splits, "extractor": "c3d"}
            if self.image_probs:
                mean, std = inception_score(np.concatenate(self.image_probs), self.protocol.splits)
                samples = sum(map(len, self.image_probs))
                out["is_image"] = {"value": round(mean, 4), "std": round(std, 4), "samples": samples}
                out["is_image"] |= {"splits": self.protocol.splits, "extractor": "inception"}
        if "clipsim" in self.plan and self.clipsims:
            out["clipsim"] = {"value": round(float(np.mean(self.clipsims)), 5), "videos": len(self.clipsims)}
        if "drift" in self.plan and self.drift:
            out["drift"] = _drift_summary(self.drift)
        if "world" in self.plan:
            if self.world:
                out["world"] = summarise(self.world) | {
                    "unparsed_prompts": self.unparsed,
                    "per_video": self.world,
                }
            else:
                results["skipped"]["world"] = (
                    "no prompt is in the synthetic world's grammar (artv data synth)"
                )
        return out

    def mean_curves(self) -> dict[str, list[float]]:
        """Per-frame mean of each drift curve over the videos that reach that frame."""
        out = {}
        for name, rows in self.curves.items():
            if not rows:
                continue
            length = max(map(len, rows))
            means = []
            for t in range(length):
                values = [r[t] for r in rows if t < len(r) and not math.isnan(r[t])]
                means.append(float(np.mean(values)) if values else math.nan)
            out[name] = means
        return out


def _drift_summary(videos: list[dict]) -> dict:
    """Means over videos of each curve's final value and slope; flicker, dynamic degree, frozen videos."""
    summary: dict = {"videos": len(videos)}
    for name in CURVES:
        for part in ("final", "slope"):
            values = [v[name][part] for v in videos if v[name][part] is not None]
            summary[f"{name}_{part}"] = round(float(np.mean(values)), 5) if values else None
    summary["flicker"] = round(float(np.mean([v["flicker"] for v in videos])), 5)
    summary["dynamic_degree"] = round(float(np.mean([v["dynamic_degree"] for v in videos])), 5)
    summary["frozen_videos"] = sum(v["frozen"] for v in videos)
    summary["per_video"] = videos
    return summary
