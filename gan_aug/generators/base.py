"""What the pipeline needs from a class-conditional generator, whatever kind it is.

Generation, the filters and the shards ask only this: sample images of a data-set class from
per-sample seeds, with whatever per-sample scores the model can give (a GAN's critic score); score
real images the same way, so a filter can calibrate its threshold on them; train to a budget; save
and load. The conditional GAN (gan_aug/generators/gan.py) is the first implementation.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

from gan_aug.data.imageset import ImageSet


@dataclass(frozen=True)
class Samples:
    """One batch from a generator: uint8 N×C×H×W images and per-sample scores by name."""

    images: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)


class ConditionalGenerator(ABC):
    """Makes images of the data set's classes; every sample is reproducible from (weights, label, seed).

    ``scores`` names the per-sample scores ``sample`` returns (and ``score_real`` computes), so a
    filter that needs one is refused before anything is sampled when the generator cannot give it.
    """

    name: str = "generator"
    scores: tuple[str, ...] = ()
    # Its scores of different classes are on one scale, so a filter may calibrate on pooled classes.
    shared_scale: bool = False
    sha256: str  # identifies the weights: shards record it with each row's seed
    image_shape: tuple[int, int, int]  # C, H, W

    @abstractmethod
    def sample(self, label: int, seeds: np.ndarray) -> Samples:
        """One sample of data-set class ``label`` per seed, with the scores named in ``scores``."""

    def score_real(self, score: str, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The named score of real uint8 images of the given data-set classes (for calibration)."""
        raise ValueError(f"generator {self.name!r} cannot score images with {score!r} (it gives: "
                         f"{', '.join(self.scores) or 'no scores'})")

    @classmethod
    @abstractmethod
    def fit(cls: type[G], train: ImageSet, val: ImageSet, path: str | Path, **settings) -> G:
        """Train on ``train`` to the budget the settings give (checking on ``val``), save to ``path``."""

    @abstractmethod
    def save(self, path: str | Path) -> Path:
        """Write the model so ``load`` gives back a generator that samples the same images."""

    @classmethod
    @abstractmethod
    def load(cls: type[G], path: str | Path, **options) -> G:
        """The generator ``save`` wrote."""


G = TypeVar("G", bound=ConditionalGenerator)

_GENERATORS: dict[str, type[ConditionalGenerator]] = {}


def register_generator(name: str) -> Callable[[type[G]], type[G]]:
    """Class decorator: make a ConditionalGenerator available by name."""
    def decorate(cls: type[G]) -> type[G]:
        cls.name = name
        _GENERATORS[name] = cls
        return cls

    return decorate


def generator_class(name: str) -> type[ConditionalGenerator]:
    import gan_aug.generators.gan  # noqa: F401  (registers the built-in GAN)

    if name not in _GENERATORS:
        raise ValueError(f"unknown generator {name!r}; registered generators: {', '.join(_GENERATORS)}")
    return _GENERATORS[name]
