import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import gan_aug


def test_library_never_imports_prefect():
    """Every gan_aug module imports without pulling in Prefect (the CLI loads flows lazily)."""
    modules = [m.name for m in pkgutil.walk_packages(gan_aug.__path__, "gan_aug.")]
    assert "gan_aug.train" in modules and "gan_aug.cli" in modules
    code = f"import importlib, sys; [importlib.import_module(m) for m in {modules!r}]; print('prefect' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


# Packages (gan_aug.<name>: a subpackage or a top-level module) that still import each other at module
# level. Listed so that no other cycle can appear unnoticed; remove the group once it is broken.
KNOWN_CYCLES = [{"gan_aug.filters", "gan_aug.generators", "gan_aug.metrics", "gan_aug.synthetic"}]


def _package_imports() -> dict[str, dict[str, set[str]]]:
    """{package: {package it imports at module level: the modules doing it}}. Imports inside functions
    (deliberately lazy) and under ``if TYPE_CHECKING`` do not run when the module loads: left out."""
    root = Path(gan_aug.__file__).parent
    graph: dict[str, dict[str, set[str]]] = {}
    for path in root.rglob("*.py"):
        parts = ("gan_aug", *path.relative_to(root).with_suffix("").parts)
        module_parts = parts[:-1] if parts[-1] == "__init__" else parts
        package_parts = module_parts if parts[-1] == "__init__" else module_parts[:-1]
        source = ".".join(module_parts)
        pending = list(ast.parse(path.read_text(encoding="utf-8")).body)
        while pending:
            node = pending.pop()
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                pending.extend(node.orelse)
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = list(package_parts[:len(package_parts) - node.level + 1]) if node.level else []
                targets = [".".join(base + ([node.module] if node.module else []))]
            else:
                pending.extend(ast.iter_child_nodes(node))
                continue
            for target in (t for t in targets if t.startswith("gan_aug.")):
                ours, theirs = ".".join(module_parts[:2]), ".".join(target.split(".")[:2])
                if ours != theirs:
                    graph.setdefault(ours, {}).setdefault(theirs, set()).add(source)
    return graph


def _cycles(graph: dict[str, dict[str, set[str]]]) -> list[set[str]]:
    """The strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, {}):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = {stack.pop()}
            while node not in component:
                component.add(stack.pop())
            if len(component) > 1:
                found.append(component)

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_packages_do_not_import_each_other_in_a_circle():
    """gan_aug's packages form a dependency order (mix below evaluate: the mix chooser that trains
    classifiers is gan_aug.evaluate.mix_choice). A new cycle, like mix.policy importing the evaluation
    runner while evaluate imports mix, makes what loads first depend on who imports what first."""
    graph = _package_imports()
    assert "gan_aug.mix" in graph.get("gan_aug.evaluate", {}), "the walk misses imports"
    unexpected = [sorted(cycle) for cycle in _cycles(graph) if not any(cycle <= known for known in KNOWN_CYCLES)]
    details = {p: {q: sorted(m) for q, m in graph[p].items() if any(q in c for c in unexpected)}
               for c in unexpected for p in c}
    assert not unexpected, f"packages importing each other: {unexpected}; imports: {details}"
