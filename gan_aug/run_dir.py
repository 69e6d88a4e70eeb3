"""Where each artifact of a run lives: one folder per run, the same names every time."""
from __future__ import annotations

import json
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

import yaml
from filelock import FileLock, Timeout

from gan_aug.config import EXECUTION_KEYS, AugmentConfig, ConfigError
from gan_aug.io import atomic_write_text, read_json

LOCK = ".lock"
HOLDER = ".lock.holder"  # who holds the lock: beside it, since lock files' contents belong to filelock


class RunDirInUse(ValueError):
    """Another gan-aug run holds the folder. A ValueError, so entry points report it as one line, as
    they report bad input: the way out is the same (wait, or choose another folder)."""


@dataclass(frozen=True)
class RunDir:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())

    config = property(lambda self: self.root / "config.yaml")
    source = property(lambda self: self.root / "data" / "source.npz")
    extractor = property(lambda self: self.root / "checkpoints" / "features.pt")
    # Every training image's domain features: the memorisation filter's nearest-neighbour index.
    train_features = property(lambda self: self.root / "checkpoints" / "train-features.npy")
    # What made the two above (code digest, training images): they are reused only for the same.
    features_origin = property(lambda self: self.root / "checkpoints" / "features.json")
    accepted = property(lambda self: self.root / "generated" / "accepted.npz")
    metrics = property(lambda self: self.root / "metrics.json")
    report = property(lambda self: self.root / "report.html")

    def split(self, name: str) -> Path:
        return self.root / "data" / f"{name}.npz"

    def checkpoint(self, generator: str, single_class: int | None = None) -> Path:
        """The saved generator of kind ``generator`` (gan.generator): the shared one (checkpoints/gan.pt for
        the GAN), or ``single_class``'s own under ``gan.strategy: per_class`` (gan-class-0003.pt)."""
        name = generator if single_class is None else f"{generator}-class-{single_class:04d}"
        return self.root / "checkpoints" / f"{name}.pt"

    def generated(self, label: int) -> Path:
        return self.root / "generated" / f"class-{label:04d}.npz"

    def rejected(self, label: int) -> Path:
        """A few samples each filter rejected, for the report."""
        return self.root / "generated" / f"rejected-{label:04d}.npz"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold ``<run>/.lock`` for a whole run: a second run on this folder fails at once, naming the
        folder and the holder, instead of interleaving its writes with this one's. The lock is the
        OS's (flock), so it ends with the holding process, even one killed with SIGKILL: a crash never
        leaves the folder locked."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.root / LOCK, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise RunDirInUse(f"{self.root} is in use by another gan-aug run ({self._holder()}); wait for it "
                              f"or choose another --out") from None
        try:
            atomic_write_text(self.root / HOLDER, json.dumps({
                "pid": os.getpid(), "host": socket.gethostname(),
                "since": datetime.now().astimezone().isoformat(timespec="seconds")}))
            yield
        finally:
            (self.root / HOLDER).unlink(missing_ok=True)  # before the lock goes: the next holder writes its own
            lock.release()

    def _holder(self) -> str:
        """Who holds the lock (pid, host, since when), as the holder wrote it: it may not have yet."""
        try:
            holder = read_json(self.root / HOLDER)
            return f"pid {holder['pid']} on host {holder['host']} since {holder['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder not known yet"

    def claim(self, config: AugmentConfig) -> None:
        """Save the resolved config; refuse a folder that holds a run of another config.

        Re-running the same config resumes and reuses; mixing two configs' outputs would corrupt both.
        """
        resolved = config.to_yaml()
        if self.config.exists():
            previous = yaml.safe_load(self.config.read_text(encoding="utf-8"))
            current = yaml.safe_load(resolved)
            if _results_part(previous) != _results_part(current):
                changed = _changed_keys(_results_part(previous), _results_part(current))
                raise ConfigError(
                    f"{self.root} already holds a run made with another config (differs in: "
                    f"{', '.join(changed) or 'layout'}); choose another output folder or delete it"
                )
            if previous == current:
                return
        atomic_write_text(self.config, resolved)  # new, or only where/how it runs changed


def _results_part(config: dict | None) -> dict:
    return {key: value for key, value in (config or {}).items() if key not in EXECUTION_KEYS}


def _changed_keys(old: object, new: object, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [k for key in keys for k in _changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [] if old == new else [prefix.rstrip(".")]
