"""Write the CLI reference from `--help`: `python docs/gen_cli.py > docs/cli.md` (a test checks it)."""

from __future__ import annotations


def commands() -> list[list[str]]:
    """Every command and sub-command of the app, found by walking its click tree (no hand list)."""
    import typer

    from artv_cli.app import app

    found = []

    def walk(command, path):
        found.append(path)
        for name in sorted(getattr(command, "commands", {}) or {}):
            sub = command.commands[name]
            if not getattr(sub, "hidden", False):
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


CONVENTIONS = """## Conventions

- **Output**: stdout carries only results (a path, or one JSON line with `--json`); progress, notes and
  warnings go to stderr. Piped into `head`, any command ends quietly (status 0, or 141 when the pipe
  closed early, as other Unix tools do), with no traceback.
- **Exit status**: 0 done; 2 a user-fixable problem (one line naming it, one line with the fix;
  `ARTV_DEBUG=1` shows the traceback); 1 an internal error; 130 interrupted by Ctrl-C (SIGINT); 143
  stopped by SIGTERM (`kill`, `timeout`, a job scheduler).
- **Signals**: SIGINT and SIGTERM are handled alike in every long command: videos and sidecars are
  written under temporary names and renamed when complete, so nothing half-written looks complete;
  `artv train` saves a checkpoint first (`--resume latest` continues); `artv story` keeps the finished
  segments playable (`--resume` continues); `artv batch` keeps every finished video (`--resume`);
  `artv download` keeps the bytes so far (the same command resumes). Each is tested with a real SIGTERM
  to a real process (`tests/cli/test_unix.py`, `tests/cli/test_batch.py`, `tests/hub/test_downloads.py`).
  The `continue with:` line printed on stopping is the command that was run, every option included and
  quoted for a POSIX shell, plus `--resume`; a test stops `story`, `batch` and `train` (SIGTERM and
  SIGKILL), runs that line verbatim and compares the result byte for byte with an uninterrupted run
  (`tests/cli/test_resume_hints.py`).
- **Formats**: `animate`, `generate` and `story` write what `--out`'s extension says: `.mp4` (H.264, yuv420p),
  `.gif` (looping, one palette made from the clip; GIF keeps frame delays in hundredths of a second, so
  8 fps plays at 8.33), `.webm` (VP9), or, with no extension, a folder of numbered PNG frames; each with
  its sidecar `NAME.json`. `--quality` (1-10) is H.264's and VP9's constant quality, and a GIF's palette
  size (32 colours at 1, 256 from 8) and dithering. `batch --format mp4|gif|webm|png` writes every video
  of a batch in one format (part of the batch: `--resume` keeps it).
- **Outputs are never clobbered**: `animate`, `generate` and `story` refuse an existing `--out` (exit 2,
  nothing changed) unless `--force`; without `--out`, `animate` and `generate` pick a new name; `batch`
  refuses a folder holding a batch unless `--resume`, and never rewrites a finished video.
- **Settings**: command line over the storyboard file over the model folder's own recommendations
  (`steps`, `scheduler`, guidance in `artv_config.json`) over built-in defaults; every sidecar records the
  resolved values and where they came from.
- **Environment**: `ARTV_DEBUG=1` (tracebacks), `ARTV_HOME` (the download cache and evaluation weights),
  `HF_TOKEN` / `HF_ENDPOINT` / `HF_HUB_OFFLINE` (honoured by downloads), `NO_COLOR`,
  `ARTV_PROGRESS_EVERY` (seconds between plain progress lines, below), `ARTV_PICTURES` (how `--preview`
  draws: `kitty`, `iterm`, `sixel` or `blocks`; by default told from `$TERM`, `$TERM_PROGRAM` and
  friends, half blocks inside tmux or screen).
- **Progress**: long commands draw a live bar on stderr when it is a terminal; when it is a file (`nohup`, a
  job log) `train`, `data synth`, `eval` and `batch` print a plain line instead, at the start, at most every
  30 s and at the end, e.g. `train 120/800  loss 0.0113  0.14 steps/s  17.5 samples/s  0:14:17 eta 1:20:58`.
- **Start-up**: `artv --help`, `artv models` and every bad-input error load no torch, diffusers or
  transformers (measured by a test with `python -X importtime`).
- **Bad input**: one line naming the problem, one with the fix, exit status 2, nothing written and nothing
  the user had replaced. Each row is run by `tests/cli/test_cli.py` (`animate`/`generate`):

| case | what it gets |
| --- | --- |
| missing image | `IMAGE does not exist` |
| folder as image | `IMAGE is a folder` |
| not an image | `IMAGE is not an image that can be read` |
| truncated image | `cannot read image IMAGE` |
| size | `--size 100x100: model ... takes sizes that are multiples of 16 pixels` |
| size text | `--size 'big' is not a size` |
| zero frames | `--frames must be at least 1` |
| negative frames | `--frames must be at least 1` |
| zero steps | `--steps must be at least 1` |
| quality | `--quality must be between 1 and 10` |
| noise level | `--noise-level must be from 0 to 999` |
| unwritable out | `cannot write to FOLDER` |
| unknown format | `--out v.avi: .avi is not a format artv writes`: .mp4, .gif, .webm or a folder of PNGs |
| another format's sidecar | `v.json exists (the settings of another render named v)`: add --force |
| unknown model | `unknown model 'sd99'` |
| missing model folder | `--model ./runs/none does not exist` |
| not a model folder | `FOLDER is not an ART-V model folder` |
| no cuda | `no CUDA device is visible` |
| empty prompt | `the prompt is empty` |
| frames dir with other files | `--frames-dir FOLDER holds other files` |
| frames dir is a file | `--frames-dir FILE is a file` |
| existing output | `OUT exists; nothing was changed`: add --force |
| frames beyond the disk | `--frames N at WxH needs up to X on disk; FOLDER has Y free` |
| 10,000-character prompt | `the prompt is 10,000 characters long (at most 2,000)`: shorten it |
| missing weights file | `model folder FOLDER has no vae/diffusion_pytorch_model.safetensors` |
| truncated weights file | `FILE is damaged (cut short, or not a safetensors file)`: copy it again |
| story: broken YAML | `broken.yaml:2:3: not valid YAML (...)`: line and column |
| story: existing output | `OUT exists; nothing was changed`: add --force |
| batch: a bad row | `one-bad-row.csv:3: --frames must be at least 1` (every bad row, FILE:LINE each) |
| batch: empty file | `FILE has no prompts` |
| batch: output is a file | `--out a_file is a file`: give a folder |
| train: a file as --data | `--data FILE is a file, not a folder` |
| train: missing --data | `--data FOLDER does not exist` |
| eval: empty folder | `FOLDER holds no videos` |
| eval: a file as the folder | `FILE is not a folder of videos` |
| story: `--resume`, nothing to resume, OUT exists | `nothing to resume for OUT`, `OUT exists`: add --force |
| batch: `--resume`, nothing to resume | `nothing to resume in FOLDER`, then renders as without it |
| full disk (ENOSPC) | `no space left on the device (writing FILE)` (simulated in tests/cli/test_unix.py) |

  Storyboards with several problems (empty, wrong types) list each as `FILE:LINE: key: problem` under
  one error line (`tests/sampling/test_story.py`). `--frames` is checked against the disk, not the device's
  memory: a render keeps only two reference latents and the anchor, so memory does not grow with length
  (`docs/performance.md`); the video (and `--frames-dir`) does, and a length whose estimated size exceeds
  the free space is refused before any work, with the most frames that fit.

- **Shell completion** (Typer's): `artv --install-completion` adds it to your shell's start-up file
  (bash, zsh, fish, PowerShell); `artv --show-completion` prints the script to install it yourself.

"""


def render() -> str:
    import typer.rich_utils
    from typer.testing import CliRunner

    from artv_cli.app import app

    # typer reads TERMINAL_WIDTH once at import; a fixed width keeps the text the same everywhere
    width, typer.rich_utils.MAX_WIDTH = typer.rich_utils.MAX_WIDTH, 100
    runner = CliRunner()
    parts = ["# CLI reference", "", "Generated from `--help` by `python docs/gen_cli.py > docs/cli.md`.", ""]
    parts += [CONVENTIONS]
    for command in commands():
        result = runner.invoke(app, [*command, "--help"])
        title = " ".join(["artv", *command])
        lines = [line.rstrip() for line in result.stdout.splitlines()]
        parts += [f"## `{title}`", "", "```text", *lines, "```", ""]
    typer.rich_utils.MAX_WIDTH = width
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
