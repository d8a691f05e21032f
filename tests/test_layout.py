"""The package's shape: no import cycles, one-way sub-packages, a pinned public API, modules one can read."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "artv_cli"
# Sub-packages of the engine, bottom first: each may import only those before it (docs/engine.md).
LAYERS = ["data", "model", "hub", "sampling", "training", "evaluation"]
ALLOWED = {
    "data": set(),
    "model": {"data"},
    "hub": {"data", "model"},
    "sampling": {"data", "model", "hub"},
    "training": {"data", "model", "hub", "sampling"},
    "evaluation": {"data", "hub"},
}
FRONT_END = ("artv_cli.commands", "artv_cli.app", "artv_cli.console", "artv_cli.options")
LONG_BUT_COHESIVE = {"engine/training/trainer.py"}
"""Modules allowed over 400 lines, each one thing (docs/engine.md says why)."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every artv_cli module a file imports, at the top or inside functions (lazy imports count too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                ).strip(".")
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m.startswith("artv_cli")}


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in files.items():
        # `from artv_cli.engine.data import synth` names a module; `from x import Name` names x
        edges[name] = {m for m in imports_of(path) if m in files and m != name}
    return edges


def test_no_import_cycle_anywhere():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_engine_sub_packages_import_one_way_and_never_the_commands():
    bad = []
    for name, targets in graph().items():
        if not name.startswith("artv_cli.engine."):
            continue
        layer = name.split(".")[2]
        for target in targets:
            if target.startswith(
                ("artv_cli.commands", "artv_cli.app", "artv_cli.console", "artv_cli.options")
            ):
                bad.append(f"{name} imports {target}")
            if target.startswith("artv_cli.engine.") and target.count(".") >= 2:
                other = target.split(".")[2]
                if other in LAYERS and other != layer and other not in ALLOWED[layer]:
                    bad.append(f"{name} ({layer}) imports {target} ({other})")
    assert not bad, "\n".join(bad)


def test_every_engine_sub_package_says_what_it_owns_and_may_import():
    for layer in LAYERS:
        doc = ast.get_docstring(ast.parse((PACKAGE / "engine" / layer / "__init__.py").read_text()))
        assert doc and "Import" in doc, layer


def test_modules_are_a_size_one_can_hold_in_the_head():
    long = []
    for path in PACKAGE.rglob("*.py"):
        name = str(path.relative_to(PACKAGE))
        if len(path.read_text().splitlines()) > 400 and name not in LONG_BUT_COHESIVE:
            long.append(name)
    assert not long, long


def test_the_public_api_is_pinned():
    import artv_cli.engine as engine

    assert engine.__all__ == [
        "ARTVConfig",
        "ARTVModel",
        "BaseModel",
        "Conditions",
        "PRESETS",
        "RenderRequest",
        "RenderState",
        "SampleSettings",
        "VideoWriter",
        "render",
        "render_video",
    ]
    for name in engine.__all__:
        assert getattr(engine, name) is not None
    with pytest.raises(AttributeError):
        engine.no_such_name  # noqa: B018


def test_importing_the_engine_loads_no_model_library():
    import subprocess
    import sys

    code = (
        "import sys, artv_cli.engine; a = 'torch' in sys.modules; import artv_cli.engine.data.images; "
        "print(a, 'diffusers' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert found.stdout.split() == ["False", "False"], found.stderr


def test_the_readme_python_example_runs_as_printed(tmp_path, monkeypatch):
    import re
    import shutil

    readme = (PACKAGE.parent / "README.md").read_text()
    code = re.search(r"## From Python.*?```python\n(.*?)```", readme, re.S).group(1)
    shutil.copytree(PACKAGE.parent / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "ball.mp4").stat().st_size > 0 and (tmp_path / "ball.json").is_file()
