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


def render() -> str:
    import typer.rich_utils
    from typer.testing import CliRunner

    from artv_cli.app import app

    # typer reads TERMINAL_WIDTH once at import; a fixed width keeps the text the same everywhere
    width, typer.rich_utils.MAX_WIDTH = typer.rich_utils.MAX_WIDTH, 100
    runner = CliRunner()
    parts = ["# CLI reference", "", "Generated from `--help` by `python docs/gen_cli.py > docs/cli.md`.", ""]
    for command in COMMANDS:
        result = runner.invoke(app, [*command, "--help"])
        title = " ".join(["artv", *command])
        lines = [line.rstrip() for line in result.stdout.splitlines()]
        parts += [f"## `{title}`", "", "```text", *lines, "```", ""]
    typer.rich_utils.MAX_WIDTH = width
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
