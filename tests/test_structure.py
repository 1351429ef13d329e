"""The shape of the house, checked from the source: imports flow one way, callers never branch on a model
family's name, and functions stay short enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sahit.models.registry import presets

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "sahit"
MAX_FUNCTION_LINES = 80
MAX_FIT_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The sahit modules an import statement in ``module`` loads (a submodule when it names one)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in MODULES or a.name.split(".")[0] == "sahit"]
    if node.level:
        package = module if _is_package(MODULES[module]) else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    if base.split(".")[0] != "sahit":
        return []
    targets = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
    if len(targets) < len(node.names):
        targets.append(base)  # names defined in base itself
    return targets


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str) -> set[str]:
    """Every sahit module ``module`` imports, at module level or inside functions (not TYPE_CHECKING blocks)."""
    tree = ast.parse(MODULES[module].read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _type_checking_only(node)
               for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skipped:
            found.update(t for t in _resolve(module, node) if t in MODULES and t != module)
    return found


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a closed path, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def _unit(module: str) -> str:
    """The top-level part of sahit a module belongs to: ``sahit.metrics``, ``sahit.cli``, or ``sahit`` itself."""
    return ".".join(module.split(".")[:2])


def test_find_cycle_finds_one_and_only_one():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle_between_modules():
    graph = {m: _imports(m) for m in MODULES}
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle between modules: " + " -> ".join(cycle)


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        graph.setdefault(_unit(module), set()).update(_unit(t) for t in _imports(module) if _unit(t) != _unit(module))
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle)


def _family_names() -> set[str]:
    return {"sagan", "hit"} | {p.family for p in presets().values()}


def _family_comparisons(tree: ast.AST, families: set[str]) -> list[int]:
    """Lines comparing a value with a family name (==, !=, in, not in, match case)."""

    def names_a_family(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in families
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any(isinstance(e, ast.Constant) and e.value in families for e in node.elts)
        return False

    lines = []
    for node in ast.walk(tree):
        compared = isinstance(node, ast.Compare) and any(names_a_family(n) for n in (node.left, *node.comparators))
        if compared or (isinstance(node, ast.MatchValue) and names_a_family(node.value)):
            lines.append(node.lineno)
    return lines


def test_family_comparison_check_catches_the_forms():
    source = 'a == "sagan"\nb != \'hit\'\nc in ("sagan", "x")\nd == "sagan-cifar10"\n'
    assert _family_comparisons(ast.parse(source), {"sagan", "hit"}) == [1, 2, 3]


def test_no_family_name_comparison_outside_models():
    families = _family_names()
    found = []
    for module, path in MODULES.items():
        if module == "sahit.models" or module.startswith("sahit.models."):
            continue
        found += [f"{path.relative_to(SRC)}:{line}" for line in _family_comparisons(ast.parse(path.read_text()), families)]
    assert not found, "code outside sahit.models compares with a family name: " + ", ".join(found)


def _functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(qualified name, node) of every function and method in src/sahit."""
    out = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}.{child.name}"
                if not isinstance(child, ast.ClassDef):
                    out.append((name, child))
                visit(child, name)
            else:
                visit(child, prefix)

    for module, path in MODULES.items():
        visit(ast.parse(path.read_text()), module)
    return out


def _length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return node.end_lineno - node.lineno + 1  # def line to last line, decorators aside


def test_no_function_over_80_lines():
    long = sorted(f"{name} ({_length(node)})" for name, node in _functions() if _length(node) > MAX_FUNCTION_LINES)
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: " + ", ".join(long)


def test_trainer_fit_reads_in_one_screen():
    fits = [node for name, node in _functions() if name.endswith(".Trainer.fit")]
    if not fits:
        pytest.fail("Trainer.fit not found in src/sahit")
    assert _length(fits[0]) <= MAX_FIT_LINES, f"Trainer.fit is {_length(fits[0])} lines (at most {MAX_FIT_LINES})"
