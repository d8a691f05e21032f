"""The benchmark scripts run (tiny sizes): their numbers are in docs/performance.md and docs/training.md."""

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_script(name: str, args: list[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [name, *args])
    runpy.run_path(str(ROOT / "bench" / name), run_name="__main__")


def test_generate_benchmark_compares_with_the_baseline_and_writes_json(tmp_path, monkeypatch):
    out = tmp_path / "gen.json"
    args = ["--frames", "4", "--steps", "2", "--warmup", "1", "--long", "6", "--flops", "--out", str(out)]
    run_script("generate.py", args, monkeypatch)
    report = json.loads(out.read_text())
    variants = [r["variant"] for r in report["results"]]
    assert variants[0] == "baseline (naive loop)" and "artv (4 branches)" in variants
    baseline, ours = report["results"][0], report["results"][1]
    assert (
        baseline["network_evaluations_per_frame"]["unet"] == 4 * ours["network_evaluations_per_frame"]["unet"]
    )
    assert ours["speedup_vs_baseline"] > 0 and ours["tflop_per_frame"] > 0
    assert set(report["peak_memory_mb_by_length"]) == {"16", "6", "ratio"}


def test_training_benchmark_runs_both_modes(tmp_path, monkeypatch, capsys):
    run_script("train_throughput.py", ["--steps", "4", "--log-every", "2", "--videos", "2"], monkeypatch)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["mode"] for line in lines] == [
        "decode + VAE per step, whole model",
        "latent cache, whole model",
    ]
    assert all(line["samples_per_s"] > 0 for line in lines)


def test_training_benchmark_compares_the_whole_model_with_a_lora(monkeypatch, capsys):
    args = ["--steps", "4", "--log-every", "2", "--videos", "2", "--lora", "4"]
    run_script("train_throughput.py", args, monkeypatch)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["mode"] for line in lines] == ["latent cache, whole model", "latent cache, LoRA rank 4"]
    whole, lora = lines
    assert 0 < lora["trained_parameters"] < whole["trained_parameters"] / 10
    assert all(line["samples_per_s"] > 0 and line["peak_rss_gib"] > 0 for line in lines)


def test_ablation_benchmark_trains_scores_and_tabulates(synth_data, tmp_path, monkeypatch, capsys):
    """Fig. 8 in miniature at toy size: a variant trains, is scored, swept over t_test, and tabulated."""
    out = tmp_path / "ablation.json"
    args = ["--data", synth_data, "--test", synth_data, "--base", "tiny-random", "--runs", tmp_path / "runs"]
    args += ["--variants", "full,no-mask", "--steps", "2", "--batch-size", "2", "--prompts", "2"]
    args += ["--long", "18", "--drift-videos", "1", "--sample-steps", "1", "--t-test", "0", "200"]
    run_script("ablation.py", [str(a) for a in args + ["--out", out]], monkeypatch)
    report = json.loads(out.read_text())
    assert set(report["variants"]) == {"full", "no-mask"} and set(report["t_test_sweep"]) == {"0", "200"}
    full = report["variants"]["full"]
    assert full["animate"]["videos"] == 2 and full["generate"]["videos"] == 2
    assert len(full["drift_18"]["curves_first_video"]["sharpness"]) == 18  # one curve value per frame
    config = json.loads((tmp_path / "runs" / "no-mask" / "model" / "artv_config.json").read_text())
    assert config["use_mask"] is False and config["extra"]["ablated"] == ["mask"]
    capsys.readouterr()
    run_script("ablation.py", ["--report", str(out)], monkeypatch)
    table = capsys.readouterr().out
    assert "| full |" in table and "| no-mask |" in table and "| 200 |" in table


def test_batch_benchmark_reports_videos_per_minute_against_batch_1(tmp_path, monkeypatch):
    out = tmp_path / "batch.json"
    args = ["--videos", "3", "--frames", "2", "--steps", "1", "--batch-sizes", "1,3", "--out", str(out)]
    run_script("batch.py", args, monkeypatch)
    report = json.loads(out.read_text())
    assert [r["batch_size"] for r in report["results"]] == [1, 3]
    assert report["results"][0]["vs_batch_1"] == 1.0 and report["results"][1]["videos_per_min"] > 0


def on_world(test_set) -> list[str]:
    """The shipped default model and a synthetic test set, as the world scripts take them."""
    return ["--model", str(ROOT / "artv_cli" / "models" / "world64"), "--test", str(test_set)]


def test_world_eval_in_two_parts_merges_to_the_whole_run(synth_data, tmp_path, monkeypatch):
    """`--start` renders the later videos with the seeds of a whole run; `--merge` joins the parts."""
    common = [*on_world(synth_data), "--videos", "3", "--frames", "2", "--steps", "1", "--modes", "generate"]
    for name, extra in (("whole", []), ("part1", ["--videos", "1"]), ("part2", ["--start", "1"])):
        run_script("world_eval.py", [*common, *extra, "--out", str(tmp_path / f"{name}.json")], monkeypatch)
    parts = [tmp_path / "part1.json", tmp_path / "part2.json"]
    run_script(
        "world_eval.py", ["--merge", *map(str, parts), "--out", str(tmp_path / "merged.json")], monkeypatch
    )
    whole, merged = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("whole", "merged"))
    assert len(json.loads(parts[1].read_text())["rows"]["generate (grammar)"]["videos"]) == 2
    for name in ("generate (grammar)", "generate frame 0 (grammar)"):
        assert merged["rows"][name]["videos"] == whole["rows"][name]["videos"]
        assert merged["rows"][name]["summary"] == whole["rows"][name]["summary"]


def test_direction_probe_asks_all_eight_directions_and_reports_the_cosines(synth_data, tmp_path, monkeypatch):
    out = tmp_path / "probe.json"
    args = [*on_world(synth_data), "--cases", "1"]
    run_script(
        "direction_probe.py",
        [*args, "--frames", "2", "--seeds", "1", "--steps", "1", "--out", str(out)],
        monkeypatch,
    )
    report = json.loads(out.read_text())
    rows = report["cases"][0]["rows"]
    assert len(rows) == 8 and {r["direction"] for r in rows} >= {"left", "right", "up", "down"}
    assert all(-1.001 <= r["cosine"] <= 1.001 for r in rows if r["cosine"] == r["cosine"])
    spread = report["cases"][0]["text_spread"]
    assert spread["directions"] > 0 and spread["ratio"] == round(spread["directions"] / spread["colours"], 3)


def test_direction_probe_text_only_measures_the_encoder_without_rendering(synth_data, tmp_path, monkeypatch):
    """The encoder's spreads alone: no video is rendered, so no shifts or cosines are reported."""
    out = tmp_path / "text.json"
    run_script(
        "direction_probe.py",
        [*on_world(synth_data), "--cases", "2", "--text-only", "--out", str(out)],
        monkeypatch,
    )
    report = json.loads(out.read_text())
    assert "mean_cosine" not in report and all("rows" not in case for case in report["cases"])
    assert report["text_ratio"] > 0 and len(report["cases"]) == 2


def test_direction_gap_sees_the_colour_the_model_uses_and_scores_every_direction(tmp_path, monkeypatch):
    """The check of the measure itself: swapping the colour (which the shipped model follows) makes the
    loss higher, clearly so on average (the third generation reads the colour from the picture more than
    the second did, so one video's gap is small); the direction run reports a pick and a gap for every
    video."""
    from artv_cli.engine.data.synth import SynthSettings, synth_dataset

    world = {"max_objects": 1, "cameras": ("static",), "patterns": ("plain",), "start": "anywhere"}
    test = synth_dataset(tmp_path / "test", SynthSettings(videos=2, seed=1, frames=3, **world))
    reports = {}
    for word in ("colour", "direction"):
        out = tmp_path / f"{word}.json"
        args = [*on_world(test), "--videos", "2", "--steps", "50,200", "--draws", "1", "--word", word]
        run_script("direction_gap.py", [*args, "--out", str(out)], monkeypatch)
        reports[word] = json.loads(out.read_text())
    gaps = [r["gap"] for r in reports["colour"]["rows"]]
    assert all(g > 0 for g in gaps) and sum(gaps) / len(gaps) > 0.05, gaps  # the wrong colours cost more
    rows = reports["direction"]["rows"]
    assert len(rows) == 2 and reports["direction"]["choices"] == 8
    assert all(isinstance(r["right"], bool) and abs(r["gap"]) < 1 for r in rows)


def test_restore_words_trains_on_training_phrasings_only():
    """Swapping the 8 directions and 2 speeds into a training phrasing can land on a held-out one (the
    people's-phrasing test set); the training groups must hold none, the held-out groups are drawn from it."""
    import numpy as np

    script = runpy.run_path(str(ROOT / "bench" / "restore_words.py"))
    rng = np.random.default_rng(0)
    for shape in ("circle", "square", "triangle", "diamond"):
        for _ in range(50):
            train = script["phrasings"](rng, "train", shape)
            assert len(train) == 16 and all(p.split() == "train" for _, _, p in train)
            held = script["phrasings"](rng, "test", shape)
            assert held[0][2].split() == "test"
    swapped = [p.split() for _ in range(50) for _, _, p in script["phrasings"](rng, "test", "circle")]
    assert "train" in swapped  # the swaps do cross the split, so the redraw above is what keeps it


def test_restore_words_gives_the_encoder_back_the_direction_and_leaves_the_rest(
    synth_data, tmp_path, monkeypatch
):
    """The tool changes only the text encoder (the UNet's file is the same bytes) and reports the held-out
    error to its target before and after. It was made for the second generation, whose encoder had put the
    8 directions much closer together than the colours (0.23x; the restoration brought them apart); the
    shipped third generation's encoder keeps them apart (about 1.7x), and restoring it must not bring them
    closer."""
    from artv_cli.engine.hub.registry import EMBEDDED_MODELS, resolve_model

    out = tmp_path / "restored"
    run_script(
        "restore_words.py",
        ["--model", "default", "--out", str(out), "--steps", "150", "--groups", "2"],
        monkeypatch,
    )
    report = json.loads((out / "restore_words.json").read_text())
    assert 0 < report["error_after"] < 2 * report["error_before"], report  # a kept encoder is not wrecked
    shipped = resolve_model("default").folder
    assert EMBEDDED_MODELS["default"] in str(shipped)
    same = (out / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    assert same == (shipped / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    assert (out / "text_encoder" / "model.safetensors").read_bytes() != (
        shipped / "text_encoder" / "model.safetensors"
    ).read_bytes()
    ratios = {}
    for name, model in (("shipped", "default"), ("restored", str(out))):
        probe = tmp_path / f"{name}.json"
        args = [*on_world(synth_data), "--model", model, "--cases", "2", "--text-only", "--out", str(probe)]
        run_script("direction_probe.py", args, monkeypatch)
        ratios[name] = json.loads(probe.read_text())["text_ratio"]
    assert ratios["shipped"] > 1.2 and ratios["restored"] >= 0.9 * ratios["shipped"], ratios

    again = tmp_path / "again"
    again.mkdir()
    with pytest.raises(SystemExit, match="--out"):
        run_script("restore_words.py", ["--model", "default", "--out", str(again)], monkeypatch)


def test_vae_roundtrip_reports_a_larger_error_off_the_palette(tmp_path, monkeypatch):
    """The default model's VAE learned the palette: off-palette colours come back further from the
    picture than palette colours do (the measure behind issue 26's frame-0 target)."""
    from artv_cli.engine.data.synth import SynthSettings, synth_dataset

    world = {"max_objects": 1, "cameras": ("static",), "patterns": ("plain",), "frames": 4}
    errors = {}
    for jitter in (0, 40):
        test = synth_dataset(tmp_path / f"j{jitter}", SynthSettings(videos=3, seed=4, jitter=jitter, **world))
        out = tmp_path / f"j{jitter}.json"
        run_script("vae_roundtrip.py", ["--test", str(test), "--videos", "3", "--out", str(out)], monkeypatch)
        errors[jitter] = json.loads(out.read_text())["models"]["default"]["mae"]
    assert 0 < errors[0] < errors[40]


def test_story_sheet_benchmark_times_the_sheet_beside_the_render(tmp_path, monkeypatch):
    board = tmp_path / "two.yaml"
    board.write_text(
        "model: tiny-random\nsize: 64\nsteps: 2\nsegments:\n  - {prompt: a ball, frames: 4}\n"
        "  - {prompt: it rolls, frames: 2}\n"
    )
    out = tmp_path / "sheet.json"
    run_script("story_sheet.py", ["--storyboard", str(board), "--pairs", "1", "--out", str(out)], monkeypatch)
    report = json.loads(out.read_text())
    assert report["frames"] == 6 and report["sheet_frames"] == 5 and report["segments"] == 2
    assert len(report["seconds"]["sheet"]) == len(report["seconds"]["render"]) == 1
    assert report["ratio_sheet_to_render"] == round(
        report["median_seconds"]["sheet"] / report["median_seconds"]["render"], 3
    )


def test_score_curve_records_checkpoints_in_order_and_draws_them(tmp_path, monkeypatch):
    from PIL import Image

    def scores(colour: float) -> Path:
        rows = {
            f"generate frame 0 ({wording})": {
                "summary": {"colour_accuracy": colour, "shape_accuracy": 0.1, "background_accuracy": 0.9}
            }
            for wording in ("grammar", "people")
        }
        path = tmp_path / f"scores-{colour}.json"
        path.write_text(json.dumps({"rows": rows}))
        return path

    data = tmp_path / "curve.json"
    data.write_text(json.dumps({"reference": {"grammar": {"colour": 1.0}}}))
    for step, colour in ((90, 0.5), (0, 0.2), (90, 0.6)):  # out of order, and step 90 scored again
        args = [str(data), "--add", str(step), "--samples", str(step * 256), "--scores", str(scores(colour))]
        run_script("score_curve.py", args, monkeypatch)
    curve = json.loads(data.read_text())["curve"]
    assert [entry["step"] for entry in curve] == [0, 90]
    assert curve[1]["grammar"]["colour"] == 0.6
    run_script("score_curve.py", [str(data), "--out", str(tmp_path / "curve.png")], monkeypatch)
    assert Image.open(tmp_path / "curve.png").size == (900, 420)
    other = tmp_path / "other.json"  # --versus: another run's grammar line beside this one's, thin
    point = {wording: {"colour": 0.3, "shape": 0.2, "background": 0.4} for wording in ("grammar", "people")}
    other.write_text(
        json.dumps({"label": "random start", "curve": [{"step": 400, "samples": 102400, **point}]})
    )
    both = tmp_path / "both.png"
    run_script("score_curve.py", [str(data), "--versus", str(other), "--out", str(both)], monkeypatch)
    plain, versus = (
        np.asarray(Image.open(p).convert("RGB")).astype(int) for p in (tmp_path / "curve.png", both)
    )
    assert versus.shape == plain.shape and (versus != plain).any()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from score_curve import series

    lines = dict((label, lines) for label, _, lines, _ in series(json.loads(data.read_text()),
                                                                  json.loads(other.read_text())))  # fmt: skip
    assert lines["colour"] == [(3, [(0, 0.2), (23040, 0.6)]), (1, [(102400, 0.3)])]


def test_score_curve_of_an_artv_stage_reads_each_score_file_by_its_kind(tmp_path, monkeypatch):
    from PIL import Image

    files = {
        "gap": {"picked_right": 0.5, "mean_gap": 0.06},
        "probe": {"mean_cosine": 0.9},
        "world": {"rows": {"animate (grammar)": {"summary": {
            "direction_accuracy": 0.75, "shape_accuracy": 0.8, "speed_accuracy": 0.8, "slow_moving_rate": 0.5,
            "identity_rate": 0.9, "max_background_shift": 12.0}}}},
        "picture": {"rows": {"animate, grammar caption": {"summary": {"frame0_error_mean": 7.0,
                                                                      "look_kept_mean": 0.4}}}},
        "other": {"rows": {}},
    }  # fmt: skip
    for name, content in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content))
    data = tmp_path / "curve.json"
    data.write_text(json.dumps({"kind": "artv", "reference": {"direction": 0.19}}))
    paths = [str(tmp_path / f"{name}.json") for name in ("gap", "probe", "world")]
    run_script(
        "score_curve.py", [str(data), "--add", "90", "--samples", "11520", "--scores", *paths], monkeypatch
    )
    paths = [str(tmp_path / f"{name}.json") for name in ("world", "picture")]
    run_script(
        "score_curve.py", [str(data), "--add", "180", "--samples", "23040", "--scores", *paths], monkeypatch
    )
    first, second = json.loads(data.read_text())["curve"]
    assert first["probe_cosine"] == 0.9 and first["gap_picked_right"] == 0.5 and first["direction"] == 0.75
    assert "look_kept" not in first and second["look_kept"] == 0.4 and second["frame0_error"] == 7.0
    run_script("score_curve.py", [str(data), "--out", str(tmp_path / "curve.png")], monkeypatch)
    assert Image.open(tmp_path / "curve.png").size == (900, 420)
    with pytest.raises(SystemExit, match="not a score file"):
        args = [str(data), "--add", "270", "--samples", "1", "--scores", str(tmp_path / "other.json")]
        run_script("score_curve.py", args, monkeypatch)


def test_mask_probe_finds_the_default_model_leaving_the_object_to_phi_dynamic(tmp_path, monkeypatch):
    """On the shipped model the mask copies the background more than the object's cells (measured 0.57
    against 0.03 at step 100 on 16 videos), at the first step and at a later one."""
    from artv_cli.engine.data.synth import SynthSettings, synth_dataset

    world = {"max_objects": 1, "cameras": ("static",), "patterns": ("plain",), "start": "anywhere"}
    test = synth_dataset(tmp_path / "test", SynthSettings(videos=2, seed=1, frames=3, **world))
    out = tmp_path / "mask.json"
    args = [*on_world(test), "--videos", "2", "--steps", "100,800", "--later", "2", "--out", str(out)]
    run_script("mask_probe.py", args, monkeypatch)
    rows = json.loads(out.read_text())["rows"]
    assert [(r["frame"], r["step"]) for r in rows] == [(1, 100), (1, 800), (2, 100), (2, 800)]
    assert all(r["object"] < r["background"] for r in rows if r["step"] == 100)


def test_picture_eval_fits_pictures_of_any_size_and_scores_the_truth_as_kept(tmp_path, monkeypatch):
    """A non-square picture is the square one padded, so the command's fitting gives the square back; the
    true video keeps its look in every in-view frame; the script writes both rows, motion-only prompts
    naming no colour."""
    sys.path.insert(0, str(ROOT / "bench"))
    import numpy as np
    from picture_eval import picture, scored

    from artv_cli.engine.data.images import LoadedImage
    from artv_cli.engine.data.synth import SynthSettings, design_video, draw_frame, ground_truth
    from artv_cli.engine.data.world import COLOURS
    from artv_cli.engine.evaluation.worldscore import parse_prompt

    plain = {"max_objects": 1, "cameras": ("static",), "patterns": ("plain",), "start": "anywhere"}
    world = SynthSettings(videos=4, seed=3, frames=16, holdout=8, split="test", jitter=30, **plain)
    video = ground_truth(design_video(0, world), world)
    truth = np.stack([draw_frame(video, f, world) for f in range(16)])
    for size in [(64, 64), (320, 256), (200, 300)]:
        fitted = LoadedImage(pixels=picture(video, 16, size)).fitted(64, 64)
        back = ((fitted[0].permute(1, 2, 0) + 1) * 127.5).numpy()
        assert np.abs(back - truth[0]).mean() < 3, size
    result = scored(truth, parse_prompt(video.caption))
    assert result["look_kept"] == 1.0
    parts = result["look_parts"]
    assert (parts["kept"], parts["found"], parts["colour"], parts["shape"]) == (1.0, 1.0, 1.0, 1.0)
    assert parts["colour_difference"] < 3  # the tracker's colour of a moving, anti-aliased object
    # the parts tell a lost object from a recoloured one: the object painted over after frame 3, then
    # recoloured by 40 in the frames after, as the default model's frames do
    lost, recoloured = truth.copy(), truth.copy()
    lost[4:] = truth[4:, :1, :1]  # every pixel the background's tone
    obj = np.abs(truth.astype(int) - truth[:, :1, :1].astype(int)).max(-1) > 40
    recoloured[4:][obj[4:]] = np.clip(recoloured[4:][obj[4:]].astype(int) - 40, 0, 255)
    lost, recoloured = (scored(v, parse_prompt(video.caption))["look_parts"] for v in (lost, recoloured))
    assert lost["found"] < 0.7 and lost["colour"] == 1.0
    assert recoloured["found"] == 1.0 and recoloured["colour"] < 0.7 and recoloured["colour_difference"] >= 20
    assert parts["palette_nearer"] == 0.0  # the truth keeps its own off-palette colour
    palette = np.array(COLOURS[video.objects[0].colour])
    snapped = truth.copy()
    snapped[1:][obj[1:]] = palette  # every later frame draws the named colour
    assert scored(snapped, parse_prompt(video.caption))["look_parts"]["palette_nearer"] == 1.0

    out = tmp_path / "pictures.json"
    args = ["--model", "tiny-random", "--videos", "2", "--frames", "2", "--motion-only", "--out", str(out)]
    run_script("picture_eval.py", [*args, "--colour-lock", "0.5", "--guidance-text", "2"], monkeypatch)
    report = json.loads(out.read_text())
    assert report["sampler"]["colour_lock"] == 0.5 and report["sampler"]["guidance_text"] == 2
    rows = report["rows"]
    assert list(rows) == ["animate, grammar caption", "animate, motion-only prompt, centred"]
    for row in rows.values():
        assert row["summary"]["videos"] == 2
        # frame 0 is the picture (exact before the video file); the round trip is the autoencoder's
        assert row["summary"]["frame0_error_mean"] == 0 and row["summary"]["round_trip_error_mean"] > 0
        assert {"look_found_mean", "look_colour_mean", "look_shape_mean"} <= set(row["summary"])
    colours = ("red", "green", "blue", "yellow", "cyan", "magenta", "white", "orange")
    for result in rows["animate, motion-only prompt, centred"]["videos"]:
        assert not any(c in result["prompt"] for c in colours) and result["picture_size"]


def test_picture_eval_round_trip_only_scores_the_autoencoder_alone(tmp_path, monkeypatch):
    """The round trip of the shipped autoencoder (an AutoencoderTiny fitted on the off-palette world) keeps
    off-palette colours (the second generation's snapped them, mean error 14.9): the report counts the
    pictures whose object colour comes back within 20, and prints the table."""
    out = tmp_path / "trip.json"
    run_script("picture_eval.py", ["--videos", "4", "--round-trip-only", "--out", str(out)], monkeypatch)
    report = json.loads(out.read_text())
    row = report["rows"]["default"]
    assert report["round_trip_only"] and row["summary"]["videos"] == 4
    for video in row["videos"]:
        assert video["colour_kept"] == (video["object_colour_error"] <= 20)
    assert row["summary"]["colour_kept"] == sum(v["colour_kept"] for v in row["videos"])
    assert row["summary"]["round_trip_error_mean"] < 3 and row["summary"]["colour_kept"] == 4, row["summary"]
    assert all(v["latent_noise_change"] > 0 for v in row["videos"])  # noise in the latents shows


def test_lock_cost_times_each_lock_beside_the_decode_and_encode(tmp_path, monkeypatch):
    out = tmp_path / "locks.json"
    monkeypatch.setattr("torch.set_num_threads", lambda n: None)  # leave the test process's threads alone
    args = [
        "--repeats",
        "2",
        "--renders",
        "1",
        "--render-frames",
        "2",
        "--lock",
        "shape_lock",
        "--out",
        str(out),
    ]
    run_script("lock_cost.py", args, monkeypatch)
    report = json.loads(out.read_text())
    rows, renders = report["rows"], report["renders_s"]
    assert set(rows) == {"64x64", "256x256"}
    keys = {"decode_ms", "encode_ms", "colour_lock_ms", "colour_and_subject_locks_ms", "three_locks_ms"}
    keys |= {"four_locks_ms"}
    assert all(set(row) == keys and all(v > 0 for v in row.values()) for row in rows.values())
    assert set(renders) == {"recommended", "fast"} and report["render_lock"] == "shape_lock"
    assert all(
        len(r["runs"]["on"]) == len(r["runs"]["off"]) == 1 and r["on_over_off"] > 0 for r in renders.values()
    )


def test_text_shapes_puts_each_missed_shape_on_the_encoder_or_on_the_drawing(tmp_path, monkeypatch, capsys):
    """A report row of two prompts: one drawn right, one drawn as a circle; the default model's encoder
    reads both shapes right (its synonyms included), so the miss is the drawing's."""

    def video(prompt, shape, seen):
        obj = {"colour": "red", "shape": shape, "direction": "left", "speed": "slowly", "shape_seen": seen}
        return {"prompt": prompt, "background": "grey", "objects": [obj]}

    rows = [
        video("a red square moves left slowly, on a plain grey background", "square", "square"),
        video("please show a red wedge heading leftwards slow, on grey", "triangle", "circle"),
    ]
    report = tmp_path / "frame0.json"
    report.write_text(json.dumps({"rows": {"generate frame 0 (people)": {"videos": rows}}}))
    run_script("text_shapes.py", ["--report", str(report), "--row", "generate frame 0 (people)"], monkeypatch)
    out = capsys.readouterr().out
    assert "asked triangle read triangle drawn circle" in out
    assert "2 prompts: the encoder reads the asked shape in 2, the video draws it in 1" in out
