"""What the code imports is declared in pyproject.toml, and constraints.txt (what `make install`
installs) satisfies every version pyproject asks for: a fresh machine gets what the tests passed with."""
from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
CONSTRAINTS = ROOT / "constraints.txt"
LIBRARY = ("gan_aug", "flows")  # what users install: only [project.dependencies] and the extras serve them
AROUND = ("tests", "bench", "deployments")  # scripts and tests: the dev extra serves them too
# Calls whose first argument names a module to import: pytest.importorskip("duckdb") and the like.
IMPORTING_CALLS = {"importorskip", "import_module"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]


def _requirements() -> dict[str, list[Requirement]]:
    """pyproject's requirements by group: "dependencies", then each optional-dependencies extra."""
    project = _project()
    groups = {"dependencies": project.get("dependencies", [])} | project.get("optional-dependencies", {})
    return {group: [Requirement(line) for line in lines] for group, lines in groups.items()}


def _imports(path: Path) -> set[str]:
    """Top-level names of the absolute imports anywhere in a file (module level, in functions, under
    TYPE_CHECKING), and of the modules named by importorskip / import_module string literals."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in IMPORTING_CALLS):
            found.add(node.args[0].value)
    return {name.split(".")[0] for name in found}


def _local_modules(folder: Path) -> set[str]:
    """Modules a script in ``folder`` imports from beside it (tests' helpers) or from the repository."""
    return {p.stem for p in folder.rglob("*.py")} | {p.name for p in folder.rglob("*") if (p / "__init__.py").is_file()}


def _third_party(folders: tuple[str, ...]) -> dict[str, set[str]]:
    """Each third-party module imported in the folders, with the files that import it."""
    first_party = {*LIBRARY, "__future__"}
    found: dict[str, set[str]] = {}
    for folder in folders:
        local = _local_modules(ROOT / folder)
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module in _imports(path):
                if module not in sys.stdlib_module_names and module not in first_party and module not in local:
                    found.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return found


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distributions(module: str) -> set[str]:
    """The distributions that can provide an import name: the installed ones that do, or, for a package
    not installed here (prefect_ray without the ray extra), the name itself (prefect_ray: prefect-ray)."""
    installed = _packages_distributions().get(module, [])
    return {_normalise(d) for d in installed} or {_normalise(module)}


def _undeclared(folders: tuple[str, ...], groups: list[str]) -> list[str]:
    requirements = _requirements()
    declared = {_normalise(r.name) for group in groups for r in requirements.get(group, [])}
    return [f"{module} (distribution {' or '.join(sorted(_distributions(module)))}), "
            f"imported by {', '.join(sorted(files))}"
            for module, files in sorted(_third_party(folders).items()) if not _distributions(module) & declared]


def test_every_third_party_import_of_the_library_is_declared():
    """A package gan_aug/ or flows/ imports, but that only arrives as another package's dependency,
    disappears from a fresh install the day that package drops it."""
    groups = list(_requirements())
    assert _undeclared(LIBRARY, groups) == [], "declare these in pyproject.toml's dependencies (or an extra)"


def test_every_third_party_import_of_the_tests_and_scripts_is_declared():
    groups = list(_requirements())
    assert _undeclared(AROUND, groups) == [], "declare these in pyproject.toml's dev extra"


def test_the_import_scan_sees_module_and_function_level_imports(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text("import numpy as np\nfrom pyarrow import parquet\nfrom . import sibling\n"
                      "def f():\n    import threadpoolctl\n    from scipy.linalg import sqrtm\n"
                      "    pytest.importorskip('duckdb')\n", encoding="utf-8")
    assert _imports(source) == {"numpy", "pyarrow", "threadpoolctl", "scipy", "duckdb"}


def _constraints() -> dict[str, Version]:
    pins = {}
    for number, line in enumerate(CONSTRAINTS.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and re.fullmatch(r"[A-Za-z0-9._-]+", name.strip()), \
            f"constraints.txt:{number}: {line!r} is not name==version (regenerate it with `make constraints`)"
        pins[_normalise(name)] = Version(version.strip())
    return pins


def test_constraints_satisfy_every_version_pyproject_asks_for():
    """pyproject's pins and bounds (torch, pytorch-fid, scipy < 1.18, ...) and constraints.txt cannot
    drift apart: a bound raised in one and not the other would fail `make install` on a fresh machine,
    or install a version the bound rules out."""
    pins = _constraints()
    wrong = []
    for group, requirements in _requirements().items():
        for requirement in requirements:
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": group}):
                continue
            pinned = pins.get(_normalise(requirement.name))
            if pinned is None:
                # The extras `make install` leaves out (ray) may be absent; everything it installs is pinned.
                if group in ("dependencies", "dev"):
                    wrong.append(f"{requirement} ({group}): not in constraints.txt")
            elif requirement.specifier and not requirement.specifier.contains(pinned, prereleases=True):
                wrong.append(f"{requirement} ({group}): constraints.txt pins {pinned}")
    assert wrong == [], "update constraints.txt (install, run the tests, then `make constraints`)"

