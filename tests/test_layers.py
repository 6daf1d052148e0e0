"""The architecture rules, checked: the core and the CLI stay light."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import ftwizard.core
from tests.conftest import ROOT

HEAVY = ("torch", "transformers", "peft", "trl", "bitsandbytes", "datasets", "accelerate")


def test_importing_every_core_module_loads_neither_torch_nor_textual() -> None:
    modules = [f"ftwizard.core.{m.name}" for m in pkgutil.iter_modules(ftwizard.core.__path__)]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(','.join(m for m in {(*HEAVY, 'textual')!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def _top_level_imports(path: Path) -> set[str]:
    """Modules a file imports at module level (not inside functions)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_trainer_package_imports_training_libraries() -> None:
    package = ROOT / "ftwizard"
    offenders = []
    # Hub datasets are read with `datasets`, imported inside the one function that needs it.
    allowed = {package / "core" / "data" / "hub.py": {"datasets"}}
    for path in package.rglob("*.py"):
        if "trainer" in path.relative_to(package).parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):  # also inside functions: the rule is per process
            if isinstance(node, ast.Import):
                found = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found = {node.module.split(".")[0]}
            else:
                continue
            found -= allowed.get(path, set())
            if found & set(HEAVY):
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(found & set(HEAVY))}")
    assert offenders == []


def test_core_and_cli_never_import_textual() -> None:
    for folder in ("core", "cli"):
        for path in (ROOT / "ftwizard" / folder).rglob("*.py"):
            assert "textual" not in _top_level_imports(path), path


def _ftwizard_imports(path: Path) -> set[str]:
    """The ftwizard packages a file imports anywhere in it (``ftwizard.cli``...)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ftwizard."):
            found.add(".".join(node.module.split(".")[:2]))
    return found


def test_views_and_tui_depend_on_the_core_not_on_each_other() -> None:
    # The TUI and the headless CLI share the core and the Rich views, never each other.
    for path in (ROOT / "ftwizard" / "tui").rglob("*.py"):
        assert "ftwizard.cli" not in _ftwizard_imports(path), path
    for path in (ROOT / "ftwizard" / "views").rglob("*.py"):
        assert not {"ftwizard.cli", "ftwizard.tui"} & _ftwizard_imports(path), path
        assert "textual" not in _top_level_imports(path), path


def test_the_wizard_process_loads_no_training_library() -> None:
    """Every screen imported and the app built: still no torch, transformers or peft."""
    import ftwizard.tui.screens as screens

    modules = [f"ftwizard.tui.screens.{m.name}" for m in pkgutil.iter_modules(screens.__path__)]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "from ftwizard.tui.app import FtwizardApp\n"
        "FtwizardApp()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
