"""The hub: what a model name means, where weights come from, and which device runs them.

Owns downloads and the cache (`downloads`), the built-in and embedded model names (`registry`), and
device and dtype resolution (`devices`). Imports `model` and `data`.
"""
