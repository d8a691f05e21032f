"""Write the CLI reference from `--help`: `python docs/gen_cli.py > docs/cli.md` (a test checks it)."""

from __future__ import annotations

COMMANDS = [
    [],
    ["animate"],
    ["generate"],
    ["story"],
    ["train"],
    ["eval"],
    ["data"],
    ["data", "synth"],
    ["data", "info"],
]


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
  segments playable (`--resume` continues).
- **Outputs are never clobbered**: `animate`, `generate` and `story` refuse an existing `--out` (exit 2,
  nothing changed) unless `--force`; without `--out`, `animate` and `generate` pick a new name.
- **Settings**: command line over the storyboard file over the model folder's own recommendations
  (`steps`, `scheduler`, guidance in `artv_config.json`) over built-in defaults; every sidecar records the
  resolved values and where they came from.
- **Environment**: `ARTV_DEBUG=1` (tracebacks), `ARTV_HOME` (the download cache and evaluation weights),
  `HF_TOKEN` / `HF_ENDPOINT` / `HF_HUB_OFFLINE` (honoured by downloads), `NO_COLOR`.
- **Start-up**: `artv --help`, `artv models` and every bad-input error load no torch, diffusers or
  transformers (measured by a test with `python -X importtime`).
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
    for command in COMMANDS:
        result = runner.invoke(app, [*command, "--help"])
        title = " ".join(["artv", *command])
        lines = [line.rstrip() for line in result.stdout.splitlines()]
        parts += [f"## `{title}`", "", "```text", *lines, "```", ""]
    typer.rich_utils.MAX_WIDTH = width
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
