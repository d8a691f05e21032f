"""What the default model must show a user (the third generation's behaviour targets), through the CLI and
the world scorer: four directions from the centre, an off-palette picture keeping its colour, and a prompt
that names only the motion moving a centred object and keeping its look.

They check the shipped default, or another model folder (a candidate for the next one):

    ARTV_CANDIDATE_MODEL=path/to/model python -m pytest -m slow tests/model/test_candidate_behaviour.py

The shipped third generation follows the four directions (run by default). It does not yet keep the look
in 90 % of frames in the two picture tests (0.875 and 0.125 of frames, 2026-11-30), so those are marked
slow: targets to check a candidate against, run with `-m slow`.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from artv_cli.app import app
from artv_cli.engine.data.images import LoadedImage
from artv_cli.engine.data.video import read_video
from artv_cli.engine.data.world import DIRECTIONS
from artv_cli.engine.evaluation.worldscore import PromptObject, WorldPrompt, WorldScorer
from artv_cli.engine.hub.registry import resolve_model


@pytest.fixture(scope="module")
def candidate() -> Path:
    folder = os.environ.get("ARTV_CANDIDATE_MODEL")
    return Path(folder) if folder else resolve_model("default").folder


def draw(path: Path, colour, shape: str, centre, background, size=(256, 256), radius=0.12) -> np.ndarray:
    """A picture as a user draws one in a paint program: one flat object on a flat background."""
    image = Image.new("RGB", size, tuple(background))
    r = radius * size[0]
    x, y = centre[0] * size[0], centre[1] * size[1]
    box = (x - r, y - r, x + r, y + r)
    if shape == "circle":
        ImageDraw.Draw(image).ellipse(box, fill=tuple(colour))
    else:
        ImageDraw.Draw(image).rectangle(box, fill=tuple(colour))
    image.save(path)
    return np.asarray(image)


def animate(
    model: Path, picture: Path, prompt: str, out: Path, seed: int = 0, frames: int = 16
) -> np.ndarray:
    args = ["animate", picture, prompt, "--model", model, "--seed", seed, "--frames", frames, "--out", out]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    frames, _ = read_video(out)
    return frames


def scored(frames: np.ndarray, truth: PromptObject, background: str) -> tuple[dict, float | None]:
    scorer = WorldScorer(WorldPrompt([truth], background=background))
    for frame in frames:
        scorer.add(frame)
    return scorer.result()["objects"][0], scorer.look_kept(0)


@pytest.mark.slow
def test_an_off_palette_picture_is_frame_0_and_keeps_its_colour(candidate, tmp_path):
    """A red 25 off the palette's on a grey 12 off the world's: frame 0 is the picture (error <= 6 of 255),
    and the later frames keep the drawn colour and shape (every channel within 20) while it moves right."""
    picture = draw(tmp_path / "ball.png", (196, 62, 58), "circle", (0.35, 0.5), (122, 104, 116))
    frames = animate(candidate, tmp_path / "ball.png", "the red ball rolls to the right", tmp_path / "v.mp4")
    height, width = frames[0].shape[:2]
    fitted = (LoadedImage(pixels=picture).fitted(width, height)[0].permute(1, 2, 0).numpy() + 1) * 127.5
    assert np.abs(frames[0].astype(float) - fitted).mean() <= 6  # against the picture as it was fitted
    found, kept = scored(frames, PromptObject("red", "circle", "right", None), "grey")
    assert kept is not None and kept >= 0.9, (found, kept)
    assert found["direction_ok"], found


@pytest.mark.slow
def test_a_motion_only_prompt_moves_a_centred_object_and_keeps_its_look(candidate, tmp_path):
    """No colour, no shape in the words: the picture gives the look, the words the motion."""
    draw(tmp_path / "square.png", (64, 100, 212), "square", (0.5, 0.5), (104, 112, 108))
    frames = animate(candidate, tmp_path / "square.png", "it drifts to the right", tmp_path / "v.mp4")
    found, kept = scored(frames, PromptObject("blue", "square", "right", None), "grey")
    assert kept is not None and kept >= 0.9, (found, kept)
    assert found["direction_ok"], found


@pytest.mark.parametrize("direction", ["up", "down", "left", "right"])
def test_four_directions_from_the_centre(candidate, tmp_path, direction):
    """From a centred start the picture says nothing of the direction: only the words can."""
    draw(tmp_path / "ball.png", (220, 40, 40), "circle", (0.5, 0.5), (110, 110, 110))
    frames = animate(
        candidate, tmp_path / "ball.png", f"the red ball moves {direction}", tmp_path / "v.mp4", frames=8
    )
    found, _ = scored(frames, PromptObject("red", "circle", direction, None), "grey")
    moved = np.asarray(found["motion_px"], float)
    assert found["direction_ok"], found
    assert moved @ np.asarray(DIRECTIONS[direction]) > 3  # more than a few pixels the asked way
