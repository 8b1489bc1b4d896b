"""The package layers import in one direction: no module imports another that (directly or not) imports it back,
`agile_gym` never imports `agile_train` or `benchmarks`, and `import agile_gym` loads no torch."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agile_gym", "agile_train", "benchmarks")


def _module_imports() -> dict[str, set[str]]:
    """Every project module and the project modules it imports anywhere in its body (function bodies too)."""
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found.update(target for target in targets if target in modules and target != name)
        graph[name] = found
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_anywhere():
    graph = _module_imports()
    assert len(graph) > 40, "the module scan found too little to mean anything"
    # Package __init__ files re-export their children; a child importing its package's public names is fine.
    graph = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_agile_gym_stays_below_the_trainer_and_light():
    graph = _module_imports()
    upward = {(name, target) for name, targets in graph.items() if name.startswith("agile_gym")
              for target in targets if target.startswith(("agile_train", "benchmarks"))}
    assert not upward, upward
    loaded = subprocess.run([sys.executable, "-c", "import sys, agile_gym; print('torch' in sys.modules)"],
                            capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
    assert loaded == "False", "import agile_gym loaded torch"
