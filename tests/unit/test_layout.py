"""Imports point one way: the faces (core/cli, tui) import core; core never
imports a face or a UI library; the app never imports the CLI; the numpy-only
layers (gauss, present, runfolder) do not import torch when imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FACES = ("core.cli", "tui")
UI_LIBRARIES = ("typer", "rich", "textual", "textual_plotext", "click")


def imported_modules(path: Path) -> set[str]:
    """Every module a file names in an import statement, at any depth."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def top_level_modules(path: Path) -> set[str]:
    """Modules imported when the file itself is imported (not inside functions)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


# core/entry.py is the `aekl` script's first module: stdlib only, it sets its
# guards and then hands over to the CLI face, so it is part of that face.
FACE_FILES = {ROOT / "core" / "entry.py"}
CORE_NOT_FACES = [p for p in sources("core")
                  if "cli" not in p.relative_to(ROOT / "core").parts[:1] and p not in FACE_FILES]


@pytest.mark.parametrize("path", CORE_NOT_FACES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_face_and_no_ui_library(path):
    bad = sorted(m for m in imported_modules(path) if under(m, FACES + UI_LIBRARIES))
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", sources("tui"), ids=lambda p: str(p.relative_to(ROOT)))
def test_app_never_imports_the_cli(path):
    bad = sorted(m for m in imported_modules(path) if under(m, ("core.cli", "typer._click", "click")))
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", sources("core") + sources("tui"), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_typer_modules(path):
    # typer._click is Typer's vendored click, not an API: its classes change without notice.
    bad = sorted(m for m in imported_modules(path) if under(m, ("typer._click",)))
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", sources("core/gauss") + sources("core/present"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_numpy_layers_do_not_load_torch(path):
    # The shared KL code takes torch tensors too (the VAE's loss), importing
    # torch only when it is handed one.
    assert not any(under(m, ("torch", "torchvision")) for m in top_level_modules(path))


@pytest.mark.parametrize("path", sources("core/runfolder"), ids=lambda p: str(p.relative_to(ROOT)))
def test_run_folder_imports_torch_only_where_it_loads_a_checkpoint(path):
    assert not any(under(m, ("torch", "torchvision")) for m in top_level_modules(path))


def test_the_checks_see_the_code():
    # An empty glob would make every check above pass vacuously.
    assert len(CORE_NOT_FACES) > 20 and len(sources("tui")) > 10
    assert "core.errors" in imported_modules(ROOT / "core" / "config.py")
