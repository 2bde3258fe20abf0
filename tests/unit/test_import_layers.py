"""Imports flow one way: cli -> services -> contracts -> chain -> pure layers, and no two
modules or subpackages import each other (directly or round a loop). An AST walk of the package,
lazy imports inside functions and `if TYPE_CHECKING:` imports included (a loop of types is still
a loop of concepts)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "p2penergy"

# Each top-level subpackage or module and its layer: an import may only go to a lower layer,
# or sideways within a layer as long as that makes no cycle.
LAYERS: dict[str, int] = {
    "exceptions": 0,
    "_atomic": 0,  # crash-safe private files
    "_yaml": 0,  # YAML files that hold one mapping
    "units": 1,
    "domain": 1,
    "market": 2,  # clearing and settlement maths
    "energy": 2,  # household energy models
    "ledger": 2,  # household accounts (bills, statements, savings)
    "chain": 3,
    "contracts": 4,
    "_retry": 4,
    "audit": 5,
    "keeper": 5,
    "network": 5,
    "oracle": 5,
    "sim": 5,
    "status": 5,
    "wallet": 5,
    "cli": 6,
    "__main__": 7,
}
# The pure layers import nothing chain-related.
PURE = ("exceptions", "_atomic", "_yaml", "units", "domain", "market", "energy", "ledger")
CHAIN_LIBRARIES = ("web3", "eth_account", "eth_tester", "brownie")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Modules imported anywhere in `tree` (relative imports resolved)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from p2penergy.sim import model` imports the module p2penergy.sim.model
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    """module -> the p2penergy modules it imports."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(), str(path))
        imported = _imports(tree, name, path.name == "__init__.py")
        graph[name] = {m for m in imported if m in paths and m != name}
    return graph


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = walk(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = walk(node)
            if found:
                return found
    return None


GRAPH = _graph()


def test_every_subpackage_has_a_layer():
    assert {_area(m) for m in GRAPH} - {"p2penergy"} <= set(LAYERS)


def test_no_import_goes_up_a_layer():
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _area(module) in LAYERS
        and _area(target) in LAYERS
        and LAYERS[_area(target)] > LAYERS[_area(module)]
    )
    assert upward == []


def test_subpackages_do_not_import_each_other_round_a_loop():
    areas: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        areas[_area(module)].update(_area(t) for t in targets if _area(t) != _area(module))
    assert _cycle(areas) is None


def test_modules_do_not_import_each_other_round_a_loop():
    # A package's __init__ re-exporting its modules is not a loop of its own.
    graph = {
        module: {t for t in targets if not module.startswith(t + ".")}
        for module, targets in GRAPH.items()
    }
    assert _cycle(graph) is None


@pytest.mark.parametrize("area", PURE)
def test_the_pure_layers_import_nothing_chain_related(area: str):
    chained = sorted(
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / area).rglob("*.py")
        if (PACKAGE / area).is_dir()
        for name in _imports(ast.parse(path.read_text()), _module_name(path), False)
        if name.split(".")[0] in CHAIN_LIBRARIES
        or (name.startswith("p2penergy.") and _area(name) in ("chain", "contracts"))
    )
    assert chained == []


def test_the_checker_sees_a_loop_and_an_upward_import():
    """The walk itself: a made-up graph with a loop is caught, and layers order as declared."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    tree = ast.parse(
        "from p2penergy.cli import main\nif TYPE_CHECKING:\n    import p2penergy.sim\n"
    )
    assert _imports(tree, "p2penergy.chain.x", False) == {
        "p2penergy.cli",
        "p2penergy.cli.main",
        "p2penergy.sim",
    }
