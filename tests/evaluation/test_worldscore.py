"""The world scorer on ground truth (it must score it right) and on videos that miss what was asked."""

import pytest

from artv_cli.engine.data.synth import draw_frame
from artv_cli.engine.evaluation.worldscore import WorldScorer, parse_prompt, summarise
from tests.data.test_captions import videos


def score(settings, video, prompt=None, frames=None):
    scorer = WorldScorer(parse_prompt(prompt or video.caption))
    for frame in frames if frames is not None else (draw_frame(video, f, settings) for f in range(16)):
        scorer.add(frame)
    return scorer.result()


@pytest.mark.parametrize("captions", ["grammar", "varied"])
def test_the_scorer_scores_ground_truth_videos_right_on_every_column(captions):
    settings, drawn = videos("test", captions, n=24)
    summary = summarise([score(settings, v) for v in drawn])
    for column in ("colour", "shape", "direction", "speed", "background"):
        assert summary[f"{column}_accuracy"] >= 0.98, (column, summary)
    assert summary["identity_rate"] >= 0.98 and summary["slow_moving_rate"] == 1
    assert summary["max_background_shift"] < 1


def test_the_scorer_catches_a_wrong_background_speed_and_a_frozen_object():
    settings, drawn = videos("test", "grammar", n=12)
    video = next(v for v in drawn if v.objects[0].speed == "slowly")
    other = "teal" if video.tones[0] != "teal" else "grey"
    wrong = video.caption.replace(f"plain {video.tones[0]}", f"plain {other}").replace("slowly", "quickly")
    result = score(settings, video, wrong)
    assert result["background_ok"] is False and result["objects"][0]["speed_ok"] is False
    frozen = [draw_frame(video, 0, settings)] * 16
    obj = score(settings, video, frames=frozen)["objects"][0]
    assert obj["moving"] is False and obj["direction_ok"] is False and obj["colour_ok"] is True


def test_look_kept_is_the_share_of_in_view_frames_with_the_first_frames_colour_and_the_shape():
    """An off-palette object drawn as it is keeps its look in every in-view frame; snapped to the palette
    colour from frame 8 on (as an autoencoder that learned only the palette would), it keeps it in about
    half; drawn as a disc where a square was asked, in none."""
    from dataclasses import replace

    from artv_cli.engine.data.world import COLOURS

    settings, drawn = videos("test", "grammar", n=12)
    settings = replace(settings, jitter=30)
    video = next(v for v in drawn if v.objects[0].speed == "slowly" and v.objects[0].shape == "square")
    obj = video.objects[0]
    obj.drawn = tuple(min(255, max(0, c + 25)) for c in COLOURS[obj.colour])  # 25 off on every channel
    frames = [draw_frame(video, f, settings) for f in range(16)]

    def kept(frames, prompt=video.caption):
        scorer = WorldScorer(parse_prompt(prompt))
        for frame in frames:
            scorer.add(frame)
        return scorer.look_kept(0)

    assert kept(frames) == 1.0
    snapped = replace(obj, drawn=COLOURS[obj.colour])
    later = [draw_frame(replace(video, objects=[snapped]), f, settings) for f in range(8, 16)]
    assert 0.3 <= kept(frames[:8] + later) <= 0.7
    assert kept(frames, video.caption.replace("square", "circle")) == 0.0


def test_a_prompt_that_names_no_speed_counts_the_frames_in_view_at_the_speed_the_object_moved():
    """ "it moves down" does not say how fast: an object that goes quickly and leaves the frame has not
    been lost in the frames where a slow one would still be in view (its look is kept in all its frames,
    and it is found whole in all of them, as when the speed is said)."""
    from dataclasses import replace

    from artv_cli.engine.data.world import DIRECTIONS

    settings, drawn = videos("test", "grammar", n=48)
    straight = ("left", "right", "up", "down")
    obj = next(
        v.objects[0]
        for v in drawn
        if len(v.objects) == 1 and v.objects[0].speed == "quickly" and v.objects[0].direction in straight
    )
    video = next(v for v in drawn if v.objects[0] is obj)
    ux, uy = DIRECTIONS[obj.direction]
    leaving = replace(obj, start=(0.5 + 0.1 * ux, 0.5 + 0.1 * uy))  # 0.55 of the frame on: out by frame 14
    video = replace(video, objects=[leaving])
    frames = [draw_frame(video, f, settings) for f in range(16)]
    scorers = {
        speed: WorldScorer(parse_prompt(video.caption.replace(" quickly", speed)))
        for speed in ("", " quickly", " slowly")
    }
    assert scorers[""].prompt.objects[0].speed is None
    for frame in frames:
        for scorer in scorers.values():
            scorer.add(frame)
    assert scorers[" slowly"].look_kept(0) < 0.9  # counted at the slow speed, it was lost on the way
    assert scorers[""].look_kept(0) == scorers[" quickly"].look_kept(0) == 1.0
    assert scorers[""].result()["objects"][0]["identity"] == 1.0
