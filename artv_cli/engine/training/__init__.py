"""Training: the trainer on accelerate and its stages (VAE, base text-to-image, ART-V).

Owns what a run is (`common`: settings, results, the start model), the ART-V and base stages
(`trainer`), the VAE stage (`autoencoder`), checkpoints and export (`checkpoints`), and the latent cache
(`latents`). Imports `model`, `hub`, `data`, and `sampling` for validation clips.
"""
