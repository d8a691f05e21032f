"""`artv models`: what can be used and what is on this machine; `artv models rm NAME` frees space."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from artv_cli.console import err

models_app = typer.Typer(
    rich_markup_mode="markdown",
    help=(
        "List built-in models, downloads and what is local; `artv models rm NAME` frees space.\n\n"
        "Examples:\n\n"
        "  artv models\n\n"
        "  artv models --json\n\n"
        "  artv models rm sd21-base --yes"
    ),
    invoke_without_command=True,
)


def _human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@models_app.callback()
def models(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List built-in models, downloads, what is local, and LoRA adapters ($ARTV_HOME/adapters, and those
    under the working folder)."""
    if ctx.invoked_subcommand is not None:
        return
    from artv_cli.engine.hub.downloads import is_complete, registry, size_on_disk
    from artv_cli.engine.hub.registry import DEFAULT_MODEL, EMBEDDED_MODELS, RANDOM_MODELS, embedded_folder

    rows = [
        {
            "name": name,
            "kind": "embedded ART-V (trained)",
            "local": (embedded_folder(name) / "artv_config.json").is_file(),
            "size": _human(sum(f.stat().st_size for f in embedded_folder(name).rglob("*") if f.is_file())),
            "location": "inside the artv package",
            "default": name == DEFAULT_MODEL,
        }
        for name in EMBEDDED_MODELS
    ] + [
        {
            "name": name,
            "kind": "built-in ART-V (random weights)",
            "local": True,
            "size": "-",
            "location": "built into artv",
            "default": name == DEFAULT_MODEL,
        }
        for name in RANDOM_MODELS
    ]
    for name, entry in registry().items():
        local = is_complete(entry)
        rows.append(
            {
                "name": name,
                "kind": entry.kind,
                "local": local,
                "size": _human(size_on_disk(entry)) if local else (entry.approx_size or "unknown"),
                "location": str(entry.target),
                "default": False,
            }
        )
    from pathlib import Path

    from artv_cli.engine.model.lora import adapters_home, find_adapters

    for adapter in find_adapters(adapters_home(), Path.cwd()):
        base = adapter.get("base", {}).get("name", "?")
        rows.append(
            {
                "name": Path(adapter["folder"]).name
                if Path(adapter["folder"]).parent == adapters_home()
                else adapter["folder"],
                "kind": f"LoRA adapter (rank {adapter.get('rank', '?')}, on {base})",
                "local": True,
                "size": _human(adapter["bytes"]),
                "location": adapter["folder"],
                "default": False,
            }
        )
    if json_out:
        print(json.dumps(rows))
        return
    width = max(len(r["name"]) for r in rows)
    kind_width = max(len(r["kind"]) for r in rows)
    print(f"{'name':<{width}}  {'kind':<{kind_width}}  local  size / location")
    for r in rows:
        mark = " (default)" if r["default"] else ""
        local = "yes" if r["local"] else "no"
        print(
            f"{r['name']:<{width}}  {r['kind']:<{kind_width}}  {local:<5}  {r['size']}  {r['location']}{mark}"
        )


@models_app.command("rm")
def rm(
    name: Annotated[str, typer.Argument(help="A downloaded registry name.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a download from the cache (it can be downloaded again)."""
    from artv_cli.engine.hub.downloads import lookup, remove, size_on_disk
    from artv_cli.errors import ArtvError

    entry = lookup(name)
    partial = entry.target.with_name(entry.target.name + ".incomplete")
    if not entry.target.exists() and not partial.exists():
        raise ArtvError(
            f"{name} is not downloaded: nothing to remove", "see what is local with `artv models`"
        )
    if not yes and not typer.confirm(f"delete {entry.target} ({_human(size_on_disk(entry))})?"):
        raise typer.Exit(1)
    freed = remove(entry)
    err.print(f"removed {name}: {_human(freed)} freed")
