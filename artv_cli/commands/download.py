"""`artv download NAME...`: fetch base models and evaluation weights into artv's cache."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from artv_cli.console import command_line, err, interrupted_status


def download(
    ctx: typer.Context,
    names: Annotated[
        list[str], typer.Argument(help="Registry names (see `artv models`) or hub ids such as owner/repo.")
    ],
    repo: Annotated[
        str | None, typer.Option(help="Download a registry name from this hub repository instead.")
    ] = None,
    revision: Annotated[str | None, typer.Option(help="Branch, tag or commit of the hub repository.")] = None,
    force: Annotated[bool, typer.Option(help="Download again even if it is complete.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Download base models and evaluation weights (resumable, checksums verified where known).

    Goes through huggingface_hub (HF_TOKEN, HF_ENDPOINT and HF_HUB_OFFLINE apply) into the cache under
    $ARTV_HOME (default: the user cache folder). An interrupted download resumes when run again.

    Examples:

      artv download sd21-base

      artv download i3d inception c3d clip

      artv download sd21-base --repo my-org/sd21-base-mirror --revision main
    """
    from artv_cli.engine.hub.downloads import fetch, is_complete, lookup, size_on_disk
    from artv_cli.errors import ArtvError

    entries = [lookup(name) for name in names]  # every name checked before anything is fetched
    if (repo or revision) and len(entries) != 1:
        raise ArtvError("--repo and --revision apply to one download", "name one download with them")
    if repo and entries[0].url is not None:
        raise ArtvError(f"{entries[0].name} is a file download, not a hub repository", "leave --repo out")
    results = []
    for entry in entries:
        if is_complete(entry) and not force:
            err.print(f"{entry.name}: already downloaded at {entry.target}")
        else:
            err.print(
                f"{entry.name}: downloading {entry.repo or entry.url} into {entry.target}", soft_wrap=True
            )
        again = command_line(ctx, drop=("--force",))  # what resumes it: the same command
        try:
            path = fetch(entry, repo=repo, revision=revision, force=force)
        except KeyboardInterrupt as interruption:
            err.print(
                f"interrupted: {entry.name} is incomplete (it does not count as downloaded); "
                f"continue with: {again}",
                soft_wrap=True,
            )
            raise typer.Exit(interrupted_status(interruption)) from None
        except ArtvError as error:  # a bad file was removed: the engine's hint names the bare download
            if (error.hint or "").startswith(f"run `artv download {entry.name}` again"):
                error.hint = f"run `{again}` again"
            raise
        results.append({"name": entry.name, "path": str(path), "bytes": size_on_disk(entry)})
    if json_out:
        print(json.dumps(results))
    else:
        for result in results:
            print(result["path"])
