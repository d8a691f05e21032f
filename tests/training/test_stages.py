"""The trainer's stages and sampling knobs: the base (text-to-image) stage, frame-1 oversampling."""

import numpy as np
import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from artv_cli.app import app


def test_base_stage_trains_phi_dynamic_as_text_to_image_and_leaves_the_art_v_parts(synth_data, tmp_path):
    run = tmp_path / "base"
    args = ["train", "--data", synth_data, "--model", "tiny-random", "--out", run, "--stage", "base"]
    args += [
        "--steps",
        6,
        "--batch-size",
        2,
        "--lr",
        "1e-3",
        "--validation-videos",
        0,
        "--train-text-encoder",
    ]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    from artv_cli.engine.model.artv import ARTVModel

    fresh = ARTVModel.random("tiny", seed=0)
    unet = load_file(run / "model" / "unet" / "diffusion_pytorch_model.safetensors")
    mask = load_file(run / "model" / "mask_unet" / "diffusion_pytorch_model.safetensors")
    before = fresh.unet.state_dict()
    assert not np.allclose(unet["conv_in.weight"].numpy(), before["conv_in.weight"].numpy())
    # the ART-V additions stay at zero and Phi_mask as it was: ART-V starts from this exactly as from SD
    assert all(float(v.abs().max()) == 0 for k, v in unet.items() if "to_v_ip" in k)
    assert all(float(v.abs().max()) == 0 for k, v in unet.items() if k.startswith("class_embedding.linear_2"))
    for key, value in fresh.mask_unet.state_dict().items():
        assert np.array_equal(mask[key].numpy(), value.numpy()), key


def test_first_step_share_makes_frame_one_targets_as_often_as_asked(tmp_path):
    from artv_cli.engine.data.datasets import sample_indices
    from artv_cli.engine.training.trainer import StepSampler, TrainConfig

    config = TrainConfig(data=tmp_path, model="tiny-random", out=tmp_path, steps=200, batch_size=8)
    config.first_step_share = 0.5
    targets = [sample_indices(16, u, a, 10)[0] for batch in StepSampler(config, 5, 0, 0) for _, u, a in batch]
    share = np.mean(np.array(targets) == 1)
    assert 0.45 < share < 0.6  # 0.5 asked, plus the uniform draws that land on frame 1 anyway
    config.first_step_share = 0.0
    plain = [sample_indices(16, u, a, 10)[0] for batch in StepSampler(config, 5, 0, 0) for _, u, a in batch]
    assert np.mean(np.array(plain) == 1) < 0.15


def test_cosine_schedule_decays_to_zero_at_the_last_step_and_constant_stays():
    import torch

    from artv_cli.engine.training.common import TrainConfig, make_schedule

    for kind, last in (("cosine", 0.0), ("constant", 1e-3)):
        weight = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([weight], lr=1e-3)
        config = TrainConfig(data=None, model="tiny-random", out=None, steps=10, warmup_steps=2, lr=1e-3)
        config.lr_schedule = kind
        schedule = make_schedule(config, optimizer)
        seen = []
        for _ in range(10):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        assert seen[0] == 0 and abs(seen[2] - 1e-3) < 1e-12  # the linear warm-up, then the peak
        assert abs(optimizer.param_groups[0]["lr"] - last) < 1e-12, kind


def test_foreground_loss_weighs_an_objects_pixels_above_the_background():
    import torch
    import torch.nn.functional as F

    from artv_cli.engine.training.autoencoder import reconstruction_loss

    frame = torch.full((1, 3, 32, 32), -0.5)
    frame[:, 0, 12:18, 12:18] = 0.9  # a red square on grey
    on_object, on_background = frame.clone(), frame.clone()
    on_object[:, :, 14, 14] += 0.5
    on_background[:, :, 2, 2] += 0.5
    assert reconstruction_loss(on_object, frame, "foreground") > 5 * reconstruction_loss(
        on_background, frame, "foreground"
    )
    assert reconstruction_loss(on_object, frame, "mse") == F.mse_loss(on_object, frame)
    assert reconstruction_loss(on_object, frame, "mse") == reconstruction_loss(on_background, frame, "mse")


def test_vae_stage_takes_the_schedule_and_loss_and_records_them(synth_data, tmp_path):
    import json

    run = tmp_path / "vae"
    args = ["train", "--data", synth_data, "--model", "tiny-random", "--out", run, "--stage", "vae"]
    args += [
        "--steps",
        4,
        "--batch-size",
        2,
        "--lr",
        "1e-3",
        "--lr-schedule",
        "cosine",
        "--vae-loss",
        "foreground",
    ]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    recorded = json.loads((run / "model" / "artv_config.json").read_text())["extra"]["vae_training"]
    assert recorded["lr_schedule"] == "cosine" and recorded["loss"] == "foreground"
    bad = CliRunner().invoke(app, [str(a) for a in [*args[:-1], "perceptual"]])
    assert bad.exit_code == 2 and "perceptual" in bad.output


def test_vae_stage_stops_at_the_time_limit_and_exports_what_it_fitted(synth_data, tmp_path):
    import json

    run = tmp_path / "vae"
    args = ["train", "--data", synth_data, "--model", "tiny-random", "--out", run, "--stage", "vae"]
    args += ["--steps", 50, "--batch-size", 2, "--lr", "1e-3", "--time-limit", "0.0001"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "--time-limit 0.0001 min reached at step 1 of 50" in result.stderr
    recorded = json.loads((run / "model" / "artv_config.json").read_text())["extra"]["vae_training"]
    assert recorded["steps"] == 1 and recorded["scaling_factor"] > 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 1


def test_motion_weight_counts_the_changing_pixels_more_and_zero_is_the_plain_loss():
    import torch

    from artv_cli.engine.training.trainer import motion_weights

    z_ref = torch.zeros(1, 4, 8, 8)
    z0 = z_ref.clone()
    z0[:, :, 2:4, 2:4] = 1.0  # the object moved into these pixels
    weight = motion_weights(z0, z_ref, 4.0)
    assert weight.shape == (1, 1, 8, 8)
    assert float(weight[0, 0, 2, 2]) == 5.0 and float(weight[0, 0, 6, 6]) == 1.0
    assert torch.equal(motion_weights(z0, z_ref, 0.0), torch.ones(1, 1, 8, 8))
    # an error only where the object moved weighs more than the same error on the background
    err_moving, err_still = torch.zeros(1, 4, 8, 8), torch.zeros(1, 4, 8, 8)
    err_moving[:, :, 2, 2], err_still[:, :, 6, 6] = 1.0, 1.0
    loss = lambda e: float((e.pow(2) * weight).mean() / weight.mean())  # noqa: E731
    assert loss(err_moving) > 4 * loss(err_still)


def test_object_weight_counts_the_subject_more_than_the_plain_backdrop_and_zero_is_the_plain_loss():
    import torch

    from artv_cli.engine.training.trainer import object_weights

    z0 = torch.full((1, 4, 8, 8), 0.3)  # a plain backdrop
    z0[:, :, 5:7, 1:3] = -0.7  # the subject, still (no motion): 1 away from the median on every channel
    weight = object_weights(z0, 8.0)
    assert weight.shape == (1, 1, 8, 8)
    assert float(weight[0, 0, 5, 1]) == 9.0 and float(weight[0, 0, 0, 0]) == 1.0
    assert torch.equal(object_weights(z0, 0.0), torch.ones(1, 1, 8, 8))
    # the weight follows the frame, not a fixed place: the same subject elsewhere is weighted there
    moved = torch.roll(z0, shifts=(-4, 4), dims=(2, 3))
    assert float(object_weights(moved, 8.0)[0, 0, 1, 5]) == 9.0
    assert float(object_weights(moved, 8.0)[0, 0, 5, 1]) == 1.0


def test_min_snr_weights_count_the_noisy_steps_fully_and_the_clean_ones_less():
    import torch
    from diffusers import DDIMScheduler

    from artv_cli.engine.training.trainer import min_snr_weights

    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
    )  # the models'
    t = torch.tensor([0, 10, 500, 999])
    weight = min_snr_weights(scheduler, t, 5.0)
    ab = scheduler.alphas_cumprod[t]
    snr = ab / (1 - ab)
    assert torch.allclose(weight, torch.where(snr > 5, 5 / snr, torch.ones(4)), rtol=1e-5)
    assert float(weight[-1]) == 1.0 and float(weight[0]) < 0.01  # noisiest: full; nearly clean: ~0
    assert torch.all(weight[:-1] <= weight[1:])  # never less weight for a noisier step


# gamma 0.1 weighs every step below t = 687 less (5: below 147); the first step's samples fall there
@pytest.mark.parametrize("option, value, fix", [("--object-weight", "8", "8"), ("--snr-gamma", "0.1", "5")])
def test_train_with_a_loss_weighting_records_it_changes_the_loss_and_a_negative_one_names_the_fix(
    synth_data, tmp_path, option, value, fix
):
    import json

    base = ["train", "--data", str(synth_data), "--model", "tiny-random", "--steps", "2", "--batch-size", "2"]
    base += ["--validation-videos", "0", "--json"]
    plain = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "plain")])
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "run"), option, value])
    assert plain.exit_code == 0 and result.exit_code == 0, result.output
    key = option[2:].replace("-", "_")
    assert json.loads((tmp_path / "run" / "train_config.json").read_text())[key] == float(value)
    assert (tmp_path / "run" / "model").is_dir()
    first_loss = lambda r: json.loads(r.stdout.strip().splitlines()[-1])["first_loss"]  # noqa: E731
    assert first_loss(result) != first_loss(plain)  # a run is deterministic: same samples, another weight
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "bad"), option, "-1"])
    assert result.exit_code != 0
    assert f"{option} must be 0 or more" in result.output and f"{option} {fix}" in result.output


def test_train_with_motion_weight_records_it_and_a_negative_weight_names_the_fix(synth_data, tmp_path):
    import json

    base = ["train", "--data", str(synth_data), "--model", "tiny-random", "--steps", "2", "--batch-size", "2"]
    base += ["--validation-videos", "0"]
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "run"), "--motion-weight", "4"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "train_config.json").read_text())["motion_weight"] == 4.0
    assert (tmp_path / "run" / "model").is_dir()
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "bad"), "--motion-weight", "-1"])
    assert result.exit_code != 0
    assert "--motion-weight must be 0 or more" in result.output and "--motion-weight 4" in result.output


def test_train_with_concat_refs_exports_a_model_that_reads_its_references_and_renders(synth_data, tmp_path):
    import json

    base = ["train", "--data", str(synth_data), "--model", "tiny-random", "--steps", "2", "--batch-size", "2"]
    base += ["--validation-videos", "0"]
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "run"), "--concat-refs"])
    assert result.exit_code == 0, result.output
    model = tmp_path / "run" / "model"
    assert json.loads((model / "artv_config.json").read_text())["concat_refs"] is True
    assert json.loads((model / "unet" / "config.json").read_text())["in_channels"] == 12
    # the new input weights were trained (they start at zero)
    from safetensors.torch import load_file

    weight = load_file(model / "unet" / "diffusion_pytorch_model.safetensors")["conv_in.weight"]
    assert float(weight[:, 4:].abs().max()) > 0
    out = tmp_path / "v.mp4"
    args = ["generate", "a red ball moves right", "--model", str(model), "--frames", "3", "--steps", "2"]
    result = CliRunner().invoke(app, [*args, "--size", "64", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "bad"), "--concat-refs", "--lora", "4"])
    assert result.exit_code != 0
    assert "--concat-refs changes the ART-V networks" in result.output and "--stage artv" in result.output


def test_text_stage_pretrains_only_the_text_encoder_and_the_base_stage_keeps_it_frozen(synth_data, tmp_path):
    import json

    import torch

    from artv_cli.engine.model.artv import ARTVModel
    from artv_cli.engine.training.common import load_base

    run = tmp_path / "text"
    args = ["train", "--data", synth_data, "--model", "default", "--out", run, "--stage", "text"]
    args += ["--steps", 30, "--batch-size", 64, "--lr", "1e-3", "--log-every", 10]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "held-out captions read right: colour" in result.stderr
    start, trained = load_base("default", 0), ARTVModel.load(run / "model")
    for name in ("unet", "mask_unet", "vae", "cond"):  # everything but the encoder as it came
        for (key, a), b in zip(
            getattr(start, name).state_dict().items(),
            getattr(trained, name).state_dict().values(),
            strict=True,
        ):
            assert torch.equal(a, b), (name, key)
    assert not torch.equal(start.text_encoder.embeddings.token_embedding.weight,
                           trained.text_encoder.embeddings.token_embedding.weight)  # fmt: skip
    report = json.loads((run / "text_report.json").read_text())
    accuracy = report["held_out_accuracy"]
    assert set(accuracy) == {"colour", "shape", "direction", "speed", "tone"}
    assert accuracy["colour"] > 0.5 and accuracy["shape"] > 0.5  # 9 and 5 classes: chance is 0.11 and 0.2
    assert report["spread_after"]["tone"] > report["spread_before"]["tone"]
    assert trained.config.extra["text_training"]["steps"] == 30
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3

    base = tmp_path / "base"
    args = ["train", "--data", synth_data, "--model", run / "model", "--out", base, "--stage", "base"]
    args += ["--steps", 2, "--batch-size", 2, "--validation-videos", 0, "--export", "raw"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    after = ARTVModel.load(base / "model")
    for a, b in zip(
        trained.text_encoder.state_dict().values(), after.text_encoder.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)  # frozen through the base stage


def test_text_stage_needs_a_synthetic_world_and_cannot_resume(tmp_path):
    from artv_cli.engine.data.synth import SynthSettings, synth_dataset

    plain = tmp_path / "clips"
    plain.mkdir()
    run = tmp_path / "run"
    args = ["train", "--data", plain, "--model", "default", "--out", run, "--stage", "text", "--steps", 2]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 2
    assert "has no synth.json" in result.stderr and "artv data synth" in result.stderr
    assert not run.exists()
    world = synth_dataset(tmp_path / "world", SynthSettings(videos=2, seed=1, frames=4, size=64))
    args[2] = world
    result = CliRunner().invoke(app, [str(a) for a in [*args, "--resume", "latest"]])
    assert result.exit_code == 2 and "--stage text cannot resume" in result.stderr


def test_labelled_captions_say_what_their_labels_say():
    from artv_cli.engine.data.captions import NEW_NOUNS, NOUNS
    from artv_cli.engine.training.text_encoder import labelled_caption, world_attributes

    NOUNS = NOUNS | NEW_NOUNS

    rng = np.random.default_rng(0)
    for settings in ({"captions": "grammar"}, {"captions": "varied", "unnamed": 0.3, "shapes": ["ring"]}):
        attributes = world_attributes(settings)
        unsaid = 0
        for _ in range(400):
            text, labels = labelled_caption(rng, settings, "train")
            words = [w.strip(",.!") for w in text.lower().split()]
            for name in ("colour", "tone"):
                values = attributes[name]
                if labels[name] < len(values):
                    assert values[labels[name]] in words, (text, name)
            if labels["shape"] < len(attributes["shape"]):
                assert set(NOUNS[attributes["shape"][labels["shape"]]]) & set(words), text
            unsaid += labels["colour"] == len(attributes["colour"])
            if settings["captions"] == "grammar":
                assert text.endswith("background") and labels["tone"] < len(attributes["tone"])
        assert (unsaid == 0) == (settings["captions"] == "grammar")
    assert world_attributes({"shapes": ["ring"]})["shape"] == ["ring"]  # the world's own shapes
    assert world_attributes({})["shape"] == ["circle", "square", "triangle", "diamond"]


def test_recolour_reaches_colours_the_data_lacks_and_keeps_the_edges():
    import torch

    from artv_cli.engine.training.autoencoder import recolour

    frame = torch.full((64, 3, 16, 16), -0.14)  # the world's grey, 110 of 255, everywhere ...
    frame[:, 0, 4:9, 4:9] = 0.73  # ... with a red-ish square
    out = recolour(frame, np.random.default_rng(0))
    background = out[:, :, 0, 0]  # (64, 3): one colour per frame and channel
    assert float(background.min()) < -0.7 and float(background.max()) > 0.7  # dark and light: the cube
    assert (background > 0.5).all(dim=1).any()  # some light neutral backgrounds (white-ish) among them
    assert torch.equal(out[:, :, 0, :], background[:, :, None].expand(-1, -1, 16))  # flat stays flat
    inside, outside = out[:, 0, 6, 6], out[:, 0, 0, 0]
    assert float((inside - outside).abs().max()) > 0  # the square is still there (unless clipped away)
    assert torch.equal(recolour(frame, np.random.default_rng(0)), out)  # one draw per seed: resumable
    gentle = recolour(frame, np.random.default_rng(1), 0.3)  # gain 1 +- 0.15, offset <= 0.24, no inversion
    assert float((gentle - frame).abs().max()) <= 0.15 * 0.73 + 0.24 + 1e-6
    assert float((gentle - frame).abs().max()) > 0.1


def test_vae_stage_keep_latents_holds_the_latents_and_scale_bad_values_refused(synth_data, tmp_path):
    import json

    import torch

    from artv_cli.engine.data.datasets import FrameSpec, decode, scan, to_pixels
    from artv_cli.engine.model.artv import ARTVModel

    def run(name, *extra):
        args = ["train", "--data", synth_data, "--model", "tiny-random", "--out", tmp_path / name, "--stage"]
        args += ["vae", "--steps", 10, "--batch-size", 4, "--lr", "3e-3", "--vae-colours", "0.5", *extra]
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return ARTVModel.load(tmp_path / name / "model")

    start = ARTVModel.random("tiny", seed=0)
    item = scan(synth_data).items[0]
    frames = to_pixels(decode(item.path, FrameSpec(width=64, height=64))[:4])
    free, kept = run("free"), run("kept", "--keep-latents", "100")  # CliRunner runs in this process:
    with torch.no_grad():  # ... so the runs stay outside no_grad

        def drift(model):
            return float((model.vae.encode(frames).latent_dist.mean - before).abs().mean())

        before = start.vae.encode(frames).latent_dist.mean
        moved_free, moved_kept = drift(free), drift(kept)
    assert moved_kept < 0.5 * moved_free, (moved_kept, moved_free)  # 0.37x here (10 steps, tiny-random)
    assert kept.vae.config.scaling_factor == start.vae.config.scaling_factor  # the UNet's latents stay
    recorded = json.loads((tmp_path / "kept" / "model" / "artv_config.json").read_text())["extra"]
    assert recorded["vae_training"]["vae_colours"] == 0.5 and recorded["vae_training"]["keep_latents"] == 100
    for extra, said in (
        (["--stage", "vae", "--vae-colours", "1.5"], "--vae-colours must be in [0, 1]"),
        (["--keep-latents", "1"], "fit the VAE, not the artv stage"),
    ):
        args = ["train", "--data", synth_data, "--model", "tiny-random", "--out", tmp_path / "bad", *extra]
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 2 and said in result.output, result.output
        assert not (tmp_path / "bad").exists()


def test_vae_stage_decoder_noise_fits_only_the_decoder_and_keeps_latents(synth_data, tmp_path):
    import json

    import torch

    from artv_cli.engine.model import autoencoder
    from artv_cli.engine.model.artv import ARTVModel

    args = ["train", "--data", synth_data, "--model", "tiny-random", "--out", tmp_path / "dec", "--stage"]
    args += ["vae", "--steps", 6, "--batch-size", 4, "--lr", "3e-3", "--decoder-noise", "0.3"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "decoder (kl)" in result.output and "M trained" in result.output
    start, fitted = ARTVModel.random("tiny", seed=0), ARTVModel.load(tmp_path / "dec" / "model")

    def weights(vae, side):
        return torch.cat([p.flatten() for m in side(vae) for p in m.parameters()])

    encoder_side = autoencoder.encoder_side
    decoder_side = lambda vae: [vae.decoder, vae.post_quant_conv]  # noqa: E731
    assert torch.equal(weights(start.vae, encoder_side), weights(fitted.vae, encoder_side))  # latents stay
    assert not torch.equal(weights(start.vae, decoder_side), weights(fitted.vae, decoder_side))
    assert fitted.vae.config.scaling_factor == start.vae.config.scaling_factor
    recorded = json.loads((tmp_path / "dec" / "model" / "artv_config.json").read_text())["extra"]
    assert recorded["vae_training"]["decoder_noise"] == 0.3
    for extra, said in (
        (["--stage", "vae", "--decoder-noise", "2"], "--decoder-noise must be in [0, 1]"),
        (["--decoder-noise", "0.2"], "fits the VAE's decoder, not the artv stage"),
        (["--stage", "vae", "--decoder-noise", "0.2", "--new-vae", "tiny"], "keeps the model's trained"),
    ):
        bad = ["train", "--data", synth_data, "--model", "tiny-random", "--out", tmp_path / "bad", *extra]
        result = CliRunner().invoke(app, [str(a) for a in bad])
        assert result.exit_code == 2 and said in result.output, result.output
        assert not (tmp_path / "bad").exists()
