"""The filter interface and the chain that runs filters in order and counts what each let through."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """One batch of generated samples for one class, before any filter has looked at them."""

    label: int  # the data-set class the samples are meant to show
    images: np.ndarray  # uint8 N×C×H×W
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # the generator's per-sample scores by name

    def __len__(self) -> int:
        return len(self.images)

    def score(self, name: str) -> np.ndarray:
        """The generator's score ``name`` of each sample (check_needs refuses a chain that lacks one)."""
        if name not in self.scores:
            raise KeyError(f"the generator gave no {name!r} score (it gave: {', '.join(self.scores) or 'none'})")
        return self.scores[name]


class SampleFilter(ABC):
    """Scores each candidate and keeps those on the good side of a threshold calibrated on real images.

    ``score`` sees every candidate (not only the survivors of earlier filters), so every row carries
    every score and a funnel in any order can be read off the same numbers.
    """

    name: str
    threshold: float

    @abstractmethod
    def score(self, batch: Candidates) -> np.ndarray:
        """One float per candidate."""

    def keep(self, scores: np.ndarray) -> np.ndarray:
        """Higher is better unless a filter says otherwise."""
        return scores >= self.threshold

    def describe(self) -> dict:
        """The calibration, for metrics.json."""
        return {"threshold": float(self.threshold)}


@dataclass(frozen=True)
class ChainResult:
    keep: np.ndarray  # bool N: passed every filter
    scores: dict[str, np.ndarray]  # filter name → its score of every candidate
    first_rejection: np.ndarray  # int N: index of the first filter that rejected the row, -1 when none
    survivors: list[int]  # after each filter in order, how many rows were still kept


class FilterChain:
    """Filters applied in order; a row is kept only if every filter keeps it."""

    def __init__(self, filters: list[SampleFilter]):
        names = [f.name for f in filters]
        if len(set(names)) != len(names):
            raise ValueError(f"each filter may appear once in a chain; got {names}")
        self.filters = list(filters)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.filters]

    def describe(self) -> dict[str, dict]:
        return {f.name: f.describe() for f in self.filters}

    def apply(self, batch: Candidates) -> ChainResult:
        alive = np.ones(len(batch), dtype=bool)
        first = np.full(len(batch), -1, dtype=np.int64)
        scores, survivors = {}, []
        for index, sample_filter in enumerate(self.filters):
            scores[sample_filter.name] = values = np.asarray(sample_filter.score(batch), dtype=np.float64)
            if values.shape != (len(batch),):
                raise ValueError(f"filter {sample_filter.name!r} gave {values.shape} scores for {len(batch)} samples")
            passed = np.asarray(sample_filter.keep(values), dtype=bool)
            first[alive & ~passed] = index
            alive &= passed
            survivors.append(int(alive.sum()))
        return ChainResult(alive, scores, first, survivors)
