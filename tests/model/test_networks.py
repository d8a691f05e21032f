"""METHOD.md's invariants, checked numerically on the real diffusers/transformers classes at tiny size."""

import copy

import pytest
import torch

from artv_cli.engine.model.artv import Conditions
from artv_cli.engine.model.masked import (
    add_noise,
    guided_epsilon,
    masked_epsilon,
    predicted_clean,
    static_noise,
    v_to_epsilon,
)
from artv_cli.engine.model.networks import unet_forward


def make_conditions(model, batch=1, static=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    refs = torch.randn(batch, 8, 8, 8, generator=g)
    anchor = torch.randn(batch, 4, 8, 8, generator=g)
    with torch.no_grad():
        text = model.encode_prompt(["a red ball moves right"] * batch)
        return Conditions(
            text=text,
            features=model.cond.reference_features(refs),
            mask_features=model.mask_cond.reference_features(refs),
            tokens=model.cond.anchor_tokens(anchor),
            mask_tokens=model.mask_cond.anchor_tokens(anchor),
            noise_level=torch.full((batch,), 300),
            z_ref=torch.randn(batch, 4, 8, 8, generator=g),
            static=torch.full((batch,), static),
            refs=refs,
        )


def test_fresh_model_with_static_path_off_equals_base_unet(tiny_model, tiny_base):
    """Every new part starts at zero: adapters, anchor attention, noise-level embedding (METHOD.md)."""
    cond = make_conditions(tiny_model, batch=2)
    z_t = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    t = torch.tensor(500)
    with torch.no_grad():
        ours = tiny_model.predict_noise(z_t, t, cond)
        base = tiny_base(z_t, t, encoder_hidden_states=cond.text).sample
    assert ours.shape == (2, 4, 8, 8)
    assert torch.equal(ours, base)  # identical, not merely close (seen with diffusers 0.42)


def test_trained_new_parts_do_change_the_output(tiny_model):
    """The equality above is not vacuous: once the zeroed parts move, the conditions matter."""
    model = copy.deepcopy(tiny_model)
    cond = make_conditions(model)
    z_t = torch.randn(1, 4, 8, 8)
    t = torch.tensor(500)
    with torch.no_grad():
        before = model.predict_noise(z_t, t, cond)
        for conv in model.cond.adapter_out:
            torch.nn.init.normal_(conv.weight, std=0.1)
        cond = make_conditions(model)
        after = model.predict_noise(z_t, t, cond)
    assert (after - before).abs().max() > 1e-3


@pytest.mark.parametrize("t", [1, 200, 550, 999])
def test_mask_one_gives_predicted_clean_equal_to_reference(t):
    """m = 1 makes (z_t - lambda_t eps_hat) / sigma_t equal z_ref exactly (Eqs. 6-7)."""
    g = torch.Generator().manual_seed(t)
    z_ref, z_t, eps_dyn = (torch.randn(2, 4, 8, 8, generator=g) for _ in range(3))
    alpha_bar = torch.linspace(0.9991, 0.0047, 1000)[t]
    eps = masked_epsilon(torch.ones(2, 4, 8, 8), static_noise(z_t, z_ref, alpha_bar), eps_dyn)
    torch.testing.assert_close(predicted_clean(z_t, eps, alpha_bar), z_ref, atol=1e-4, rtol=1e-5)


def test_mask_one_through_the_model_copies_the_reference(tiny_model):
    """With Phi_mask saying "copy everything", the whole model predicts z^{i-1} as the clean frame."""
    model = copy.deepcopy(tiny_model)
    torch.nn.init.zeros_(model.mask_unet.conv_out.weight)
    torch.nn.init.constant_(model.mask_unet.conv_out.bias, 40.0)  # sigmoid(40) == 1 in fp32
    cond = make_conditions(model, static=True)
    z_t = torch.randn(1, 4, 8, 8)
    t = torch.tensor(400)
    with torch.no_grad():
        eps = model.predict_noise(z_t, t, cond)
    alpha_bar = model.scheduler.alphas_cumprod[400]
    torch.testing.assert_close(predicted_clean(z_t, eps, alpha_bar), cond.z_ref, atol=1e-4, rtol=1e-5)


def test_blank_references_switch_the_static_path_off(tiny_model):
    """Static off means m := 0: eps_hat is Phi_dynamic's output, whatever Phi_mask would say."""
    model = copy.deepcopy(tiny_model)
    torch.nn.init.zeros_(model.mask_unet.conv_out.weight)
    torch.nn.init.constant_(model.mask_unet.conv_out.bias, 40.0)
    cond = make_conditions(model, batch=2, static=False)
    cond.static = torch.tensor([False, True])
    z_t = torch.randn(2, 4, 8, 8)
    t = torch.tensor(300)
    with torch.no_grad():
        eps = model.predict_noise(z_t, t, cond)
        dynamic = unet_forward(model.unet, z_t, t, cond.text, cond.features, cond.tokens, cond.noise_level)
    torch.testing.assert_close(eps[0], dynamic[0], atol=1e-6, rtol=0)
    assert (eps[1] - dynamic[1]).abs().max() > 1e-3  # the static row did use the mask


def test_batched_branches_equal_separate_forwards(tiny_model):
    """Guidance branches batched in one forward give what one forward per branch gives."""
    cond = make_conditions(tiny_model, batch=3, static=True)
    cond.static = torch.tensor([True, False, True])
    z_t = torch.randn(3, 4, 8, 8)
    t = torch.tensor(700)
    with torch.no_grad():
        batched = tiny_model.predict_noise(z_t, t, cond)
        for i in range(3):
            one = Conditions(
                text=cond.text[i : i + 1],
                features=[f[i : i + 1] for f in cond.features],
                mask_features=[f[i : i + 1] for f in cond.mask_features],
                tokens=cond.tokens[i : i + 1],
                mask_tokens=cond.mask_tokens[i : i + 1],
                noise_level=cond.noise_level[i : i + 1],
                z_ref=cond.z_ref[i : i + 1],
                static=cond.static[i : i + 1],
                refs=cond.refs[i : i + 1],
            )
            torch.testing.assert_close(
                batched[i : i + 1], tiny_model.predict_noise(z_t[i : i + 1], t, one), atol=1e-5, rtol=1e-4
            )


def test_zero_guidance_weights_give_the_full_branch():
    g = torch.Generator().manual_seed(0)
    e_full, e_nt, e_nr, e_na = (torch.randn(1, 4, 8, 8, generator=g) for _ in range(4))
    assert torch.equal(guided_epsilon(e_full, e_nt, e_nr, e_na, 0.0, 0.0, 0.0), e_full)
    expected = e_full + 6.5 * (e_full - e_nt) + 0.25 * (e_full - e_nr) + 0.25 * (e_full - e_na)
    torch.testing.assert_close(guided_epsilon(e_full, e_nt, e_nr, e_na, 6.5, 0.25, 0.25), expected)
    # a branch not computed (None) contributes nothing
    torch.testing.assert_close(
        guided_epsilon(e_full, e_nt, None, None, 6.5, 0.25, 0.25), e_full + 6.5 * (e_full - e_nt)
    )


def test_noise_and_v_conversion_are_consistent():
    g = torch.Generator().manual_seed(0)
    z0, eps = torch.randn(1, 4, 8, 8, generator=g), torch.randn(1, 4, 8, 8, generator=g)
    alpha_bar = torch.tensor(0.3)
    z_t = add_noise(z0, eps, alpha_bar)
    v = alpha_bar.sqrt() * eps - (1 - alpha_bar).sqrt() * z0
    torch.testing.assert_close(v_to_epsilon(v, z_t, alpha_bar), eps, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(predicted_clean(z_t, eps, alpha_bar), z0, atol=1e-5, rtol=1e-5)


def test_broadcast_mask_channel_and_v_prediction_base():
    """Phi_mask may give one broadcast channel; a v-predicting base is converted to epsilon first."""
    from artv_cli.engine.model.artv import ARTVModel
    from artv_cli.engine.model.base import random_base
    from artv_cli.engine.model.config import PRESETS

    base = random_base("tiny", seed=2)
    base.scheduler.register_to_config(prediction_type="v_prediction")
    config = PRESETS["tiny"].artv_config()
    config.mask_channels = 1
    model = ARTVModel.from_base_model(base, config).eval()
    assert model.mask_unet.conv_out.out_channels == 1
    assert model.config.prediction_type == "v_prediction"
    cond = make_conditions(model, batch=2)
    cond.static = torch.tensor([False, True])
    z_t, t = torch.randn(2, 4, 8, 8), torch.tensor(600)
    with torch.no_grad():
        eps = model.predict_noise(z_t, t, cond)
        v = base.unet.eval()(z_t, t, encoder_hidden_states=cond.text).sample
    alpha_bar = model.scheduler.alphas_cumprod[600]
    torch.testing.assert_close(eps[0], v_to_epsilon(v, z_t, alpha_bar)[0], atol=1e-5, rtol=1e-5)
    assert eps.shape == (2, 4, 8, 8) and torch.isfinite(eps).all()


def test_reference_input_starts_at_zero_then_reads_the_references(tiny_model, tmp_path):
    """--concat-refs widens Phi_dynamic's first convolution at zero: the model predicts what it did
    until the new weights move; then the references at the input change the output; saved and loaded,
    the folder keeps the widened input."""
    from artv_cli.engine.model.artv import ARTVModel

    model = copy.deepcopy(tiny_model)
    cond = make_conditions(model, batch=2, static=True)
    z_t, t = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(3)), torch.tensor(400)
    with torch.no_grad():
        before = model.predict_noise(z_t, t, cond)
        model.add_reference_input()
        assert model.config.concat_refs and model.unet.conv_in.in_channels == 12
        torch.testing.assert_close(model.predict_noise(z_t, t, cond), before, atol=1e-6, rtol=1e-6)
        torch.nn.init.normal_(model.unet.conv_in.weight[:, 4:], std=0.1)
        after = model.predict_noise(z_t, t, cond)
        assert (after - before).abs().max() > 1e-3
        other = make_conditions(model, batch=2, static=True, seed=5)
        other.features, other.mask_features = cond.features, cond.mask_features  # only the input differs
        assert (model.predict_noise(z_t, t, other) - after).abs().max() > 1e-3
        cond.refs = None
        with pytest.raises(Exception, match="references at its input"):
            model.predict_noise(z_t, t, cond)
    cond.refs = other.refs
    loaded = ARTVModel.load(model.save(tmp_path / "m")).eval()
    assert loaded.config.concat_refs and loaded.unet.conv_in.in_channels == 12
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.predict_noise(z_t, t, cond), model.eval().predict_noise(z_t, t, cond), atol=1e-6, rtol=1e-6
        )
