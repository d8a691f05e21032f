"""The video writer leaves nothing half-written, even when a signal lands while ffmpeg finishes."""

import numpy as np
import pytest

from artv_cli.console import Terminated
from artv_cli.engine.data.video import VideoWriter, read_video

FRAME = np.full((16, 16, 3), 128, np.uint8)


def test_a_finished_video_is_renamed_into_place(tmp_path):
    with VideoWriter(tmp_path / "v.mp4", fps=8) as writer:
        writer.append(FRAME)
        writer.append(FRAME)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]
    assert len(read_video(tmp_path / "v.mp4")[0]) == 2


def test_sigterm_while_ffmpeg_finishes_leaves_no_partial_file(tmp_path, monkeypatch):
    writer = VideoWriter(tmp_path / "v.mp4", fps=8)
    with pytest.raises(Terminated), writer:
        writer.append(FRAME)
        close = writer._writer.close

        def interrupted_close():  # the SIGTERM handler raises while the encoder is being closed
            close()
            raise Terminated

        monkeypatch.setattr(writer, "_writer", type("W", (), {"close": staticmethod(interrupted_close)})())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("when", ["starting ffmpeg", "feeding a frame"])
def test_a_signal_while_ffmpeg_starts_or_is_fed_leaves_no_partial_file(tmp_path, monkeypatch, when):
    """A Ctrl-C (or SIGTERM) that lands inside imageio-ffmpeg's generator, while it starts ffmpeg or writes
    a frame to it, used to leave ffmpeg running unattended (or killed unawaited): it wrote the partial file
    after the writer had removed it (`artv batch` killed as a video began)."""
    import os
    import signal
    import subprocess
    import time

    import imageio_ffmpeg._io as ffmpeg_io

    started = []

    class Popen(subprocess.Popen):  # the real ffmpeg, and a real signal as soon as it runs
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.writer = "rawvideo" in str(args)
            started.extend([self] if self.writer else [])
            if when == "starting ffmpeg" and self.writer:
                os.kill(os.getpid(), signal.SIGINT)

        def __getattribute__(self, name):
            value = super().__getattribute__(name)
            if name == "stdin" and when == "feeding a frame" and value is not None and self.writer:
                os.kill(os.getpid(), signal.SIGINT)
            return value

    monkeypatch.setattr(ffmpeg_io.subprocess, "Popen", Popen)
    writer = VideoWriter(tmp_path / "v.mp4", fps=8)
    with pytest.raises(KeyboardInterrupt), writer:
        writer.append(FRAME)
        writer.append(FRAME)
    assert started and all(p.poll() is not None for p in started)  # no ffmpeg left running
    time.sleep(0.5)
    assert list(tmp_path.iterdir()) == []
