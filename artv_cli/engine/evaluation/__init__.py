"""Evaluation: scoring videos, with weights (FVD, FID, IS, CLIPSIM) and without (drift, the world scorer).

Owns the metric math (`metrics`), feature extractors from local files (`features`), drift curves
(`drift`), the synthetic world's prompt-following scorer (`worldscore`), the streaming evaluator and its
protocols (`evaluate`) and the drift plot (`plot`). Imports `data` and `hub` (the weights cache).
"""
