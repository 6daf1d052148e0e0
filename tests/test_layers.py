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
    modules = [m.name for m in pkgutil.walk_packages(ftwizard.core.__path__, "ftwizard.core.")]
    assert "ftwizard.core.planning.estimator" in modules  # the walk reaches the subpackages
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


# The parts of core/ and what each may import from the rest of core/ (the rule each
# package's __init__ states). The top-level helpers import nothing else from core/.
HELPERS = {"errors", "units", "paths", "network", "lifetime", "files"}
MAY_IMPORT: dict[str, set[str]] = {
    **{helper: set() for helper in HELPERS},
    "files": {"errors"},  # bounded reading: its refusals are UserErrors
    "config": HELPERS,
    "data": HELPERS,
    "models": HELPERS,
    "trainer_calls": HELPERS | {"data", "models"},
    "hardware": HELPERS | {"trainer_calls"},
    "planning": HELPERS | {"config", "data", "hardware", "models"},
    "runs": HELPERS | {"config", "data", "hardware", "models", "planning", "trainer_calls"},
    "evaluation": HELPERS | {"config", "data", "models", "runs", "trainer_calls"},
    "outputs": HELPERS
    | {"config", "data", "hardware", "models", "planning", "runs", "trainer_calls"},
}
CORE = ROOT / "ftwizard" / "core"


def _part(path: Path) -> str:
    """The part of core/ a file belongs to: its package, or its own name at the top."""
    relative = path.relative_to(CORE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def core_imports(source: str) -> set[str]:
    """The parts of core/ a file imports, anywhere in it (``ftwizard.core.planning.fit``
    is ``planning``; ``from ftwizard.core import lifetime`` is ``lifetime``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[:2] == ["ftwizard", "core"]:
                found.update(parts[2:3] or (alias.name for alias in node.names))
    return found


def test_each_part_of_core_imports_only_what_its_package_says() -> None:
    # A package without its __init__ (say, one a .gitignore pattern hid from a commit)
    # would still import here, as a namespace package, and be left out of the wheel.
    for folder in {path.parent for path in CORE.rglob("*.py")}:
        assert (folder / "__init__.py").exists(), folder
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        if path.parent == CORE and path.name == "__init__.py":
            continue
        part = _part(path)
        assert part in MAY_IMPORT, f"{path.relative_to(ROOT)}: a new part of core/ needs a rule"
        for bad in sorted(core_imports(path.read_text()) - {part} - MAY_IMPORT[part]):
            offenders.append(f"{path.relative_to(ROOT)} ({part}) imports core.{bad}")
    assert offenders == []


def test_the_rules_catch_hardware_importing_planning_or_runs() -> None:
    written = (
        "from ftwizard.core.planning.fit import fastest_fitting\nfrom ftwizard.core import runs\n"
    )
    assert core_imports(written) == {"planning", "runs"}
    assert not {"planning", "runs"} & MAY_IMPORT["hardware"]
    assert "runs" not in MAY_IMPORT["planning"]


def test_no_part_of_core_holds_a_third_of_its_lines() -> None:
    lines: dict[str, int] = {}
    for path in CORE.rglob("*.py"):
        part = _part(path) if path.parent != CORE else "(top)"
        lines[part] = lines.get(part, 0) + len(path.read_text().splitlines())
    largest = max(lines, key=lambda part: lines[part])
    assert lines[largest] < sum(lines.values()) / 3, lines


def test_trainer_components_never_import_an_entry_point() -> None:
    """``trainer/`` holds what ``python -m`` starts; ``trainer/components/`` what they are
    built from, which never reaches back up."""
    trainer = ROOT / "ftwizard" / "trainer"
    entries = {p.stem for p in trainer.glob("*.py") if p.stem != "__init__"}
    for path in trainer.glob("*.py"):
        if path.stem != "__init__":
            assert 'if __name__ == "__main__":' in path.read_text(), f"{path.name} is no entry"
    for path in (trainer / "components").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                assert (
                    parts[:2] != ["ftwizard", "trainer"]
                    or parts[2:3] == ["components"]
                    or (len(parts) == 2 and not {a.name for a in node.names} & entries)
                ), f"{path.name} imports {node.module}"


def test_command_flags_import_only_argparse() -> None:
    """Every command's flags are read for --help: argparse and the shared groups only."""
    for path in (ROOT / "ftwizard" / "cli" / "flags").glob("*.py"):
        imported = _top_level_imports(path) - {"__future__", "argparse"}
        ftwizard = {
            node.module
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("ftwizard")
        }
        assert imported <= {"ftwizard"} and ftwizard <= {"ftwizard.cli.flags"}, path.name


# What crosses between the trainer and its viewers: the run folder's files and the
# trainer-process calls. Three public functions return plain dicts on purpose: the JSON
# of an event as written, and the model card's YAML header and its model-index, in the
# Hub's layout.
SEAMS = [*(ROOT / "ftwizard" / "core" / "runs").glob("*.py")] + [
    ROOT / "ftwizard" / "core" / "trainer_calls.py",
    ROOT / "ftwizard" / "core" / "outputs" / "chat.py",
    ROOT / "ftwizard" / "core" / "outputs" / "chat_messages.py",
    ROOT / "ftwizard" / "core" / "evaluation" / "messages.py",
    ROOT / "ftwizard" / "core" / "evaluation" / "judging.py",
]
PLAIN_ON_PURPOSE = {"stamped", "front_matter", "model_index"}


def _untyped_annotations(tree: ast.Module) -> list[str]:
    fields = {
        id(item)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, ast.AnnAssign)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name.startswith("_") or node.name in PLAIN_ON_PURPOSE:
                continue
            arguments = [*node.args.args, *node.args.kwonlyargs]
            name = node.name
            annotations = [a.annotation for a in arguments] + [node.returns]
        elif id(node) in fields and isinstance(node, ast.AnnAssign):
            name = ast.unparse(node.target)
            annotations = [node.annotation]  # a field of a message or a record
        else:
            continue
        for annotation in annotations:
            text = "" if annotation is None else ast.unparse(annotation)
            if "dict[str, Any]" in text or "dict[str, object]" in text:
                found.append(f"{name}: {text}")
    return found


def test_no_untyped_dict_crosses_the_run_folder_or_a_trainer_call() -> None:
    found = {
        path.name: hits
        for path in SEAMS
        if (hits := _untyped_annotations(ast.parse(path.read_text())))
    }
    assert not found, found


def test_the_seam_check_sees_an_untyped_reply_or_field() -> None:
    tree = ast.parse(
        "def read_node(rank: int) -> dict[str, Any] | None: ...\n"
        "class Update:\n    advice: list[dict[str, Any]] | None\n"
    )
    assert _untyped_annotations(tree) == [
        "read_node: dict[str, Any] | None",
        "advice: list[dict[str, Any]] | None",
    ]
