"""Which code made a result: a digest of gan-aug's version and the source it can run.

A cache keyed only by a stage's inputs outlives the code that filled it: after an upgrade (a fixed
filter, a changed GAN) a rerun would reuse results the new code would not produce. Keys that include
``code_digest(stage)`` are missed instead when the stage's code, as counted here, changed.

What counts, read from the source files with ``ast`` (nothing is imported):

- a function or class given: its own definition (decorators included) and, in its module, the
  top-level definitions and assignments its names refer to, transitively. Prefect's TASK_SOURCE
  hashes a task's body alone, which in flows/ is thin wiring: the filter it calls lives in gan_aug/.
- beyond that module, whole modules: those its names were imported from, and every module those
  import, at module level or inside a function (``from pkg import sub``: ``pkg.sub`` when that is a
  module, else ``pkg``), transitively. Code also runs through objects passed around (a monitor, an
  extractor), named nowhere near where it runs; its module is imported nearby. Covering too much
  only recomputes; missing code would reuse stale results.
- importing a module runs its packages' ``__init__.py``: their source counts with their module-level
  imports (a registry's members are imported there), not their lazy ones (``gan_aug.__getattr__``).

Only gan-aug's packages (``gan_aug``, ``flows``) and the objects' own top packages are followed;
other code counts through gan-aug's version at most. Digests are computed once per process: they
describe the code this process loaded (``forget`` drops them, for a test that edits a source file).
"""
from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

from gan_aug.hashing import bytes_sha256, chunks_sha256

PACKAGES = frozenset({"gan_aug", "flows"})


def code_digest(*objects: object) -> str:
    """sha256 of gan-aug's version and the source ``objects`` (functions, classes, modules) can run."""
    return _digest(tuple(objects))


def code_sources(*objects: object) -> list[str]:
    """What ``code_digest`` hashes: module names, and ``module:name`` for single definitions."""
    roots = _roots(objects)
    return sorted(set().union(*(_units(obj, roots) for obj in objects)))


def forget() -> None:
    """Drop the digests and parsed sources cached in this process, for a source file edited since."""
    for cached in (_digest, _parsed, _source_file, _closure, _statement_units):
        cached.cache_clear()


@functools.cache
def _digest(objects: tuple) -> str:
    roots = _roots(objects)
    units = sorted(set().union(*(_units(obj, roots) for obj in objects)))
    lines = [f"gan-aug {_version()}\n", *(f"{unit} {_unit_hash(unit)}\n" for unit in units)]
    return chunks_sha256(line.encode() for line in lines)


def _version() -> str:
    try:
        return metadata.version("gan-aug")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _roots(objects) -> frozenset[str]:
    """The top packages followed: gan-aug's, and those the objects themselves come from."""
    return PACKAGES | {_module_name(obj).partition(".")[0] for obj in objects}


def _module_name(obj: object) -> str:
    return obj.__name__ if isinstance(obj, ModuleType) else obj.__module__


def _units(obj: object, roots: frozenset[str]) -> frozenset[str]:
    """The modules and single definitions an object's digest covers."""
    module = _module_name(obj)
    name = getattr(obj, "__qualname__", None)
    if isinstance(obj, ModuleType) or name not in _parsed(module).bindings:  # a method, a closure: its whole module
        return _closure(module, True, roots)
    return _statement_units(module, name, roots)


def _unit_hash(unit: str) -> str:
    """A module's whole source, or one top-level definition's lines (``module:name``)."""
    module, _, name = unit.partition(":")
    source, _, bindings = _parsed(module)
    text = "\n".join(_segment(source, node) for node in bindings[name]) if name else source
    return bytes_sha256(text.encode())


# --------------------------------------------------------------------------- sources and their imports

class Parsed(NamedTuple):
    source: str
    tree: ast.Module
    bindings: dict[str, list[ast.stmt]]  # top-level name (``*`` for star imports) → statements binding it


@functools.cache
def _parsed(module: str) -> Parsed:
    """A module's source (empty when it has none), its syntax tree and its top-level bindings."""
    path = _source_file(module)
    source = path.read_text(encoding="utf-8") if path else ""
    tree, bindings = ast.parse(source), {}
    for node in tree.body:
        for name in _bound(node):
            bindings.setdefault(name, []).append(node)
    return Parsed(source, tree, bindings)


@functools.cache
def _source_file(module: str) -> Path | None:
    """A module's file, found from its top package's folder: nothing is imported, so asking whether
    ``pkg.name`` is a module runs no code (``flows`` would load Prefect)."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):  # ValueError: a __main__ without a spec
        spec = None
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        return _main_file(module)
    if not spec.submodule_search_locations:
        return Path(spec.origin) if not rest else None
    for folder in spec.submodule_search_locations:
        base = Path(folder).joinpath(*rest)
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                return candidate
    return None


def _main_file(module: str) -> Path | None:
    """A script run as ``__main__`` has no spec to find it by."""
    file = getattr(sys.modules.get(module), "__file__", None)
    return Path(file) if file and file.endswith(".py") else None


def _bound(node: ast.stmt) -> set[str]:
    """Names a top-level statement binds (inside ``if``/``try`` blocks too, never inside a def)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).partition(".")[0] for alias in node.names}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)}
    nested = [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)]
    return set().union(*(_bound(child) for child in nested))


def _segment(source: str, node: ast.stmt) -> str:
    """A statement's lines, decorators included."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(source.splitlines()[first - 1:node.end_lineno])


def _imports(module: str, node: ast.AST, roots: frozenset[str], lazy: bool = True) -> set[str]:
    """The followed modules whose code the import statements in ``node`` make available (``lazy``:
    those inside functions too). ``from pkg import sub`` is ``pkg.sub`` when that is a module (``pkg``
    then only runs as its parent), else ``pkg``, whose code defines ``sub``."""
    found: set[str] = set()
    for stmt in _walk(node, lazy):
        if isinstance(stmt, ast.Import):
            found |= {alias.name for alias in stmt.names}
        elif isinstance(stmt, ast.ImportFrom):
            base = _absolute(module, stmt.module, stmt.level)
            found |= {f"{base}.{a.name}" if _followed(f"{base}.{a.name}", roots) else base for a in stmt.names}
    return {name for name in found if _followed(name, roots)}


def _walk(node: ast.AST, lazy: bool):
    """``ast.walk``, not entering function bodies below ``node`` unless ``lazy``."""
    todo = [node]
    while todo:
        current = todo.pop()
        yield current
        if lazy or current is node or not isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(current))


def _absolute(module: str, name: str | None, level: int) -> str:
    """The module a (possibly relative) ``from`` import names."""
    if not level:
        return name or ""
    package = module if _is_package(module) else module.rpartition(".")[0]
    base = package.rsplit(".", level - 1)[0] if level > 1 else package
    return f"{base}.{name}" if name else base


def _is_package(module: str) -> bool:
    path = _source_file(module)
    return path is not None and path.name == "__init__.py"


def _followed(module: str, roots: frozenset[str]) -> bool:
    return module.partition(".")[0] in roots and _source_file(module) is not None


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


# --------------------------------------------------------------------------- closures

@functools.cache
def _closure(module: str, lazy: bool, roots: frozenset[str]) -> frozenset[str]:
    """The modules loading ``module`` can run: its imports (``lazy``: inside functions too), theirs in
    full, and the module-level imports of every package on the way."""
    seen: dict[str, bool] = {}  # module → followed in full (True) or its module-level imports only
    todo = [(module, lazy)]
    while todo:
        name, full = todo.pop()
        if name in seen and (seen[name] or not full):
            continue
        seen[name] = full
        todo.extend((parent, False) for parent in _parents(name))
        todo.extend((imported, True) for imported in _imports(name, _parsed(name).tree, roots, full))
    return frozenset(seen)


@functools.cache
def _statement_units(module: str, name: str, roots: frozenset[str]) -> frozenset[str]:
    """A top-level definition, the ones of its module it names (transitively), and the closures of the
    modules they import or name through an import."""
    bindings = _parsed(module).bindings
    star = bindings.get("*", [])  # a name not bound here may come from any star import
    units, seen, todo = set(), set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for node in bindings.get(current, []) + star:
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                units.add(f"{module}:{current}")
                todo.extend(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
            units.update(*(_closure(imported, True, roots) for imported in _imports(module, node, roots)))
    return frozenset(units)
