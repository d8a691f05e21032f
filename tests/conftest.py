import pytest
import torch

torch.set_num_threads(2)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_base():
    from artv_cli.engine.model.base import random_base

    return random_base("tiny", seed=0).unet.eval()


@pytest.fixture(scope="session")
def tiny_model():
    """A seeded random tiny ART-V, built from `random_base("tiny", seed=0)`; do not modify in tests."""
    from artv_cli.engine.model.artv import ARTVModel

    return ARTVModel.random("tiny", seed=0).eval()


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory):
    """A small synthetic dataset (8 videos, 12 frames, 64 px) shared by the data and training tests."""
    from artv_cli.engine.data.synth import SynthSettings, synth_dataset

    out = tmp_path_factory.mktemp("data") / "synth"
    return synth_dataset(out, SynthSettings(videos=8, seed=5, frames=12, size=64))


@pytest.fixture
def ctrl_c_in_segment_2(monkeypatch):
    """Patch the frame loop so that a story is interrupted (KeyboardInterrupt) at the second frame of its
    second segment; returns the function that puts the real loop back."""
    from artv_cli.engine.sampling import loop as sampler

    real_render, calls = sampler.render, {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        for number, frame in enumerate(real_render(*args, **kwargs)):
            if calls["n"] == 2 and number == 1:
                raise KeyboardInterrupt
            yield frame

    monkeypatch.setattr(sampler, "render", interrupted)
    return lambda: monkeypatch.setattr(sampler, "render", real_render)
