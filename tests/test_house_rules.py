"""House rules, checked from the source: no module in src/sahit over 500 lines, no function over 80."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "sahit"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
MODULES = sorted(PACKAGE.rglob("*.py"))

def _param(path: Path):
    return pytest.param(path, id=path.relative_to(SRC).as_posix())


def long_functions(tree: ast.AST, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """(qualified name, lines) of every function or method of ``tree`` longer than ``limit`` lines, def line to
    last line (decorators aside), nested ones included."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                length = child.end_lineno - child.lineno + 1
                if not isinstance(child, ast.ClassDef) and length > limit:
                    found.append((name, length))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def test_the_check_finds_long_functions_and_methods_and_only_those():
    body = "\n".join(f"        x{i} = {i}" for i in range(80))
    source = f"def short():\n    return 1\n\n\nclass A:\n    def long(self):\n{body}\n\n\ndef exact():\n" + "\n".join(
        f"    y{i} = {i}" for i in range(79))
    assert long_functions(ast.parse(source)) == [("A.long", 81)]


def test_every_module_is_walked():
    names = {p.relative_to(SRC).as_posix() for p in MODULES}
    assert {"sahit/cli.py", "sahit/runs.py", "sahit/models/hit/generator.py"} <= names


@pytest.mark.parametrize("path", [_param(p) for p in MODULES])
def test_module_at_most_500_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(SRC)} has {lines} lines (at most {MAX_MODULE_LINES})"


@pytest.mark.parametrize("path", [_param(p) for p in MODULES])
def test_no_function_over_80_lines(path):
    long = long_functions(ast.parse(path.read_text()))
    assert not long, f"{path.relative_to(SRC)}: " + ", ".join(f"{name} ({n} lines)" for name, n in long)
