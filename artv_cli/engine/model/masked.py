"""The arithmetic of masked diffusion, noise augmentation and guidance (paper Eqs. 3, 5-7; Sec. 4)."""

from __future__ import annotations

import torch


def add_noise(z: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """z_t = sigma_t * z + lambda_t * eps with sigma_t = sqrt(abar_t), lambda_t = sqrt(1 - abar_t) (Eq. 3)."""
    return alpha_bar.sqrt() * z + (1 - alpha_bar).sqrt() * noise


def static_noise(z_t: torch.Tensor, z_ref: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """eps_static = (z_t - sigma_t * z_ref) / lambda_t, the noise under which the clean frame is z_ref.

    The paper approximates it loosely as y_ref - y_t (Eq. 6); this is the exact form (METHOD.md).
    """
    z_t, z_ref, alpha_bar = z_t.float(), z_ref.float(), alpha_bar.float()
    return (z_t - alpha_bar.sqrt() * z_ref) / (1 - alpha_bar).sqrt()


def masked_epsilon(mask: torch.Tensor, eps_static: torch.Tensor, eps_dynamic: torch.Tensor) -> torch.Tensor:
    """eps_hat = m * eps_static + (1 - m) * eps_dynamic, in fp32 (Eq. 7)."""
    mask, eps_static, eps_dynamic = mask.float(), eps_static.float(), eps_dynamic.float()
    return mask * eps_static + (1 - mask) * eps_dynamic


def predicted_clean(z_t: torch.Tensor, eps: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """The clean latent implied by a noise prediction: (z_t - lambda_t * eps) / sigma_t (Eq. 3 inverted)."""
    return (z_t.float() - (1 - alpha_bar).sqrt() * eps.float()) / alpha_bar.sqrt()


def v_to_epsilon(v: torch.Tensor, z_t: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """Epsilon from a v-prediction: eps = sigma_t * v + lambda_t * z_t."""
    return alpha_bar.sqrt() * v.float() + (1 - alpha_bar).sqrt() * z_t.float()


def guided_epsilon(
    e_full: torch.Tensor,
    e_no_text: torch.Tensor | None,
    e_no_ref: torch.Tensor | None,
    e_no_anchor: torch.Tensor | None,
    w_text: float,
    w_ref: float,
    w_anchor: float,
) -> torch.Tensor:
    """eps = e_full + sum_c w_c * (e_full - e_no_c) over text, references, anchor (Sec. 4).

    A branch given as None contributes nothing (its weight is 0, or its condition is already blank).
    """
    eps = e_full
    for weight, e_without in ((w_text, e_no_text), (w_ref, e_no_ref), (w_anchor, e_no_anchor)):
        if e_without is not None and weight != 0:
            eps = eps + weight * (e_full - e_without)
    return eps
