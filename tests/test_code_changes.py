"""Results of other code are never reused: a cached stage whose code changed runs again (real Prefect
runs of a flow whose stages live in a package the test edits), a GAN checkpoint of other code is kept
beside and training starts anew, and the feature files are made again. Unchanged code reuses all."""
from __future__ import annotations

import logging
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from prefect import flow

from flows.caching import cached
from flows.tasks import features_task
from gan_aug import code_digest as digests
from gan_aug.checkpoint import load_checkpoint, save_checkpoint
from gan_aug.code_digest import code_digest
from gan_aug.config import GANConfig
from gan_aug.io import read_json, write_json
from gan_aug.run_dir import RunDir
from gan_aug.train import train_gan

TINY = dict(z_dim=8, base_channels=8, batch_size=8, checkpoint_every=5)  # as tests/test_train.py

# Two stages in one module, as in flows/tasks.py, each calling a library function of its own module.
STAGES = {
    "__init__": "",
    "lib_a": "def double(x):\n    return 2 * x\n",
    "lib_b": "def inc(x):\n    return x + 1\n",
    "tasks": """
        from prefect import task

        from PKG.lib_a import double
        from PKG.lib_b import inc


        @task
        def stage_a(x):
            return double(x)


        @task
        def stage_b(x):
            return inc(x)
        """,
}


@pytest.fixture
def stages(tmp_path, monkeypatch):
    """The STAGES package on sys.path; ``write(files)`` edits modules and loads the package anew, as an
    upgrade followed by a new process would. Returns the package's name."""
    name = f"stagepkg_{uuid.uuid4().hex[:8]}"
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # an edit within a second must not load old bytecode

    def write(files: dict[str, str]) -> str:
        (tmp_path / "src" / name).mkdir(parents=True, exist_ok=True)
        for module, source in files.items():
            (tmp_path / "src" / name / f"{module}.py").write_text(textwrap.dedent(source).replace("PKG", name))
        _unload(name)
        __import__(f"{name}.tasks")
        return name

    write(STAGES)
    yield write
    _unload(name)


def _unload(package: str) -> None:
    for module in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
        del sys.modules[module]
    digests.forget()


@flow
def two_stages(package: str, out_dir: str, x: int) -> dict:
    """Both stages cached in the run folder, as the augment flow caches its own: (state name, result) each."""
    tasks, run = sys.modules[f"{package}.tasks"], RunDir(Path(out_dir))
    states = {name: cached(getattr(tasks, name), True, run)(x, return_state=True) for name in ("stage_a", "stage_b")}
    return {name: (state.name, state.result()) for name, state in states.items()}


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_an_unchanged_rerun_reuses_every_cached_stage(stages, tmp_path):
    name = stages({})
    assert two_stages(name, str(tmp_path / "run"), 5) == {"stage_a": ("Completed", 10), "stage_b": ("Completed", 6)}
    stages({})  # loaded again from the same files: a new process, a scheduled run
    assert two_stages(name, str(tmp_path / "run"), 5) == {"stage_a": ("Cached", 10), "stage_b": ("Cached", 6)}


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_a_changed_stage_runs_again_and_only_that_stage(stages, tmp_path):
    name = stages({})
    run = str(tmp_path / "run")
    two_stages(name, run, 5)
    stages({"lib_a": "def double(x):\n    return x + x + 1  # fixed\n"})  # a library module only stage_a uses
    assert two_stages(name, run, 5) == {"stage_a": ("Completed", 11), "stage_b": ("Cached", 6)}
    tasks = STAGES["tasks"].replace("return inc(x)", "return inc(x) * 10")  # stage_b's own body
    stages({"tasks": tasks})
    assert two_stages(name, run, 5) == {"stage_a": ("Cached", 11), "stage_b": ("Completed", 60)}
    assert two_stages(name, run, 5) == {"stage_a": ("Cached", 11), "stage_b": ("Cached", 60)}


# --------------------------------------------------------------------------- the GAN checkpoint

def _made_by(path: Path, digest: str) -> bytes:
    """Rewrite the code digest a checkpoint records."""
    save_checkpoint(path, {**load_checkpoint(path), "code_digest": digest})
    return path.read_bytes()


def test_a_checkpoint_of_other_code_is_kept_beside_and_training_starts_anew(tmp_path, tiny_set):
    cfg, path = GANConfig(steps=5, **TINY), tmp_path / "gan.pt"
    train_gan(tiny_set, cfg, path, config_hash="h")
    assert load_checkpoint(path)["code_digest"] == code_digest(train_gan)
    assert train_gan(tiny_set, cfg, path, config_hash="h").resumed_from == 5  # the same code resumes
    old = _made_by(path, "0123456789ab" + "f" * 52)
    warnings = []
    again = train_gan(tiny_set, cfg, path, config_hash="h", warn=warnings.append)
    assert (again.resumed_from, again.steps) == (0, 5)
    stale = tmp_path / "gan.0123456789ab.stale.pt"
    assert stale.read_bytes() == old and load_checkpoint(path)["code_digest"] == code_digest(train_gan)
    assert len(warnings) == 1 and str(path) in warnings[0] and str(stale) in warnings[0], warnings
    assert "0123456789ab" in warnings[0] and "training anew" in warnings[0]
    _made_by(path, "0123456789ab" + "e" * 52)  # the same short tag again: the first stale copy is kept
    train_gan(tiny_set, cfg, path, config_hash="h", warn=warnings.append)
    assert stale.read_bytes() == old and (tmp_path / "gan.0123456789ab-1.stale.pt").is_file()


def test_other_settings_stay_an_error_whatever_the_code(tmp_path, tiny_set):
    from gan_aug.checkpoint import CheckpointError

    cfg, path = GANConfig(steps=5, **TINY), tmp_path / "gan.pt"
    train_gan(tiny_set, cfg, path, config_hash="h")
    _made_by(path, "0" * 64)
    with pytest.raises(CheckpointError, match="other data or GAN settings"):
        train_gan(tiny_set, cfg, path, config_hash="other")
    # Refused, nothing renamed: the checkpoint and its timing file stay as they were.
    assert sorted(tmp_path.iterdir()) == [path, tmp_path / "gan.timing.json"]


# --------------------------------------------------------------------------- the feature files

def _features(train_path: Path, run: RunDir) -> dict[str, int]:
    """Run the features stage (its body, outside a flow); the files' mtimes after."""
    features_task.fn(str(train_path), 3, run, "cpu")
    return {path.name: path.stat().st_mtime_ns for path in (run.extractor, run.train_features)}


def test_feature_files_are_reused_only_when_made_by_the_same_code(tmp_path, tiny_set, caplog, monkeypatch):
    monkeypatch.setattr("flows.tasks.get_run_logger", lambda: logging.getLogger("test.features"))
    train_path, run = tiny_set.save(tmp_path / "train.npz"), RunDir(tmp_path / "run")
    made = _features(train_path, run)
    origin = read_json(run.features_origin)
    assert origin["code"] == code_digest(features_task.fn) and _features(train_path, run) == made
    run.train_features.unlink()  # a crash before the second file: the extractor is reused
    again = _features(train_path, run)
    assert again["features.pt"] == made["features.pt"] and run.train_features.is_file()
    write_json(run.features_origin, {**origin, "code": "0" * 64})  # made by other code
    with caplog.at_level(logging.WARNING):
        remade = _features(train_path, run)
    assert all(remade[name] != again[name] for name in remade) and read_json(run.features_origin) == origin
    assert "features.pt, train-features.npy" in caplog.text and "making them again" in caplog.text
    run.features_origin.unlink()  # a run folder from before the record
    assert all(t != remade[name] for name, t in _features(train_path, run).items())
