"""Sampling: the auto-regressive frame loop and everything that drives it.

Owns the loop (`loop.render`, numbered steps with METHOD's equations), a render request from settings to
video and sidecar (`request`), and storyboards (`storyboard`: YAML to scenes; `story`: scenes around the
same loop). Imports `model`, `hub` and `data`; never `training` or `evaluation`.
"""
