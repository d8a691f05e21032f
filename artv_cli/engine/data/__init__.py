"""Data: the frames and words that go in and come out; used by every other sub-package.

Owns video and image reading and writing (`video`, `images`), dataset layouts and training samples
(`datasets`), and the synthetic world with its captions (`synth`, `captions`). Imports nothing else of
the engine: it sits at the bottom of the graph.
"""
