"""The model: ART-V's networks, the method's arithmetic, and model folders.

Owns the settings and presets (`config`), the condition encoders and the conditioned UNet call
(`networks`), Eqs. 3-7 and guidance (`masked`), tokenizers and base models (`tokenizers`, `base`), and
`ARTVModel` itself (`artv`): build, save, load, encode, decode, predict noise. Imports only `data`.
"""
