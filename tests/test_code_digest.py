"""code_digest covers the code an object can run, found from the source files: a change to any of it
changes the digest, a change elsewhere does not."""
from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from gan_aug import code_digest as digests
from gan_aug.code_digest import code_digest, code_sources

STAGE = """
    from PKG.helpers import clean


    def run(x):
        from PKG import lazy  # reached only here, inside the function
        return lazy.twice(clean(x))


    def unrelated():
        from PKG import other
        return other.VALUE
    """
FILES = {
    "__init__": "from PKG import registry\n\n\ndef __getattr__(name):  # a lazy attribute, as gan_aug's own\n"
                "    from PKG import heavy\n    return getattr(heavy, name)\n",
    "registry": "MEMBERS = []\n",
    "heavy": "BIG = 1\n",
    "stage": STAGE,
    "helpers": "from .base import BASE\n\ndef clean(x):\n    return x + BASE\n",
    "base": "BASE = 0\n",
    "lazy": "def twice(x):\n    return 2 * x\n",
    "other": "VALUE = 1\n",
}


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package of its own on sys.path (FILES), written by the test so that its sources can really be
    edited: ``write(files)`` rewrites modules and returns the package's name, unique per test."""
    name = f"digestpkg_{uuid.uuid4().hex[:8]}"
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(files: dict[str, str]) -> str:
        for module, source in files.items():
            (tmp_path / name).mkdir(exist_ok=True)
            (tmp_path / name / f"{module}.py").write_text(textwrap.dedent(source).replace("PKG", name))
        digests.forget()  # the digests describe the code loaded: an edit is seen after forget()
        return name

    write(FILES)
    yield write
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]
    digests.forget()


def _stage(name: str):
    return importlib.import_module(f"{name}.stage")


def test_a_function_covers_its_definition_and_the_modules_it_reaches(package):
    name = package({})
    sources = code_sources(_stage(name).run)
    assert f"{name}.stage:run" in sources and f"{name}.stage:unrelated" not in sources
    assert f"{name}.lazy" in sources  # a function-level import
    assert {f"{name}.helpers", f"{name}.base"} <= set(sources)  # a name's module, and its relative import
    assert {name, f"{name}.registry"} <= set(sources)  # the package's __init__ runs, with its own imports
    assert f"{name}.other" not in sources  # only the same module's other function imports it
    assert f"{name}.heavy" not in sources  # the package's lazy attribute: not run by importing a submodule


def test_the_digest_changes_with_a_file_of_the_closure_only(package):
    name = package({})
    before = code_digest(_stage(name).run)
    assert code_digest(_stage(name).run) == before
    package({"other": "VALUE = 2\n", "heavy": "BIG = 2\n"})  # outside the closure
    assert code_digest(_stage(name).run) == before
    package({"stage": STAGE + "\n\n    def added():\n        return 1\n"})  # a definition it does not use
    assert code_digest(_stage(name).run) == before
    package({"lazy": "def twice(x):\n    return 3 * x\n"})
    changed = code_digest(_stage(name).run)
    assert changed != before
    package({"registry": "MEMBERS = ['one']\n"})
    assert code_digest(_stage(name).run) not in (before, changed)


def test_the_digest_includes_gan_augs_version(package, monkeypatch):
    name = package({})
    before = code_digest(_stage(name).run)
    digests.forget()
    monkeypatch.setattr(digests, "_version", lambda: "99.0")
    assert code_digest(_stage(name).run) != before


def test_the_report_is_not_in_the_split_stages_code_but_in_the_report_stages():
    from flows.tasks import report_task, split_task

    split, report = code_sources(split_task.fn), code_sources(report_task.fn)
    assert "flows.tasks:split_task" in split and "gan_aug.data.split" in split
    assert not [m for m in split if m.startswith(("gan_aug.report", "gan_aug.oversampler", "gan_aug.cli"))]
    assert "gan_aug.report.html" in report and "flows.tasks:ARTIFACT_TABLES" in report
    assert code_digest(split_task.fn) != code_digest(report_task.fn)


def test_the_same_code_gives_the_same_digest_in_another_process():
    """A rerun, a deployment's worker: a new process must find the keys the last one wrote."""
    from gan_aug.train import train_gan

    script = "from gan_aug.code_digest import code_digest; from gan_aug.train import train_gan; " \
             "print(code_digest(train_gan))"
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert other.strip() == code_digest(train_gan)


def test_a_digest_is_computed_once_per_process():
    """ContentKey asks for it on every task call: after the first, a lookup."""
    from gan_aug.data.load import make_splits

    code_digest(make_splits)
    started = time.perf_counter()
    for _ in range(1000):
        code_digest(make_splits)
    assert time.perf_counter() - started < 0.5
