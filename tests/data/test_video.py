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
