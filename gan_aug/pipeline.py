"""The order of the synthesis stages, written once: features → GAN(s) → generate and filter per class →
FD acceptance → usefulness → the mix chosen on validation.

Every entry point runs ``synthesise``: the Prefect flow (each step a cached, retried, mapped task that
passes run-folder paths), ``GANOverSampler`` (each step a call in memory) and bench/gain.py (each step
kept in its results.json). An entry point decides *how* a step runs by implementing ``Steps``; this
module decides *which* steps run, in what order, and the decisions between them (which classes get a
GAN and how many rows each is asked for, which classes may ship rows). A new stage, or a changed
order, is made here once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, Sequence, TypeVar

import numpy as np

from gan_aug.config import MixConfig
from gan_aug.mix.policy import MixChoice, most_wanted
from gan_aug.stages import ClassSampler, GANJob, TrainedGAN, Usefulness, plan_gans
from gan_aug.stages.acceptance import AcceptanceReport

F = TypeVar("F")  # the domain features as a step passes them (a path, or a model in memory)
G = TypeVar("G")  # one class's generated rows (a record of the file, or the rows)
A = TypeVar("A")  # the accepted rows of every class


class Steps(Protocol[F, G, A]):
    """How each step of ``synthesise`` runs, given what the previous ones returned."""

    def features(self) -> F:
        """The domain classifier the FD checks, filters and usefulness use."""

    def train_gans(self, jobs: list[GANJob], features: F) -> list[TrainedGAN]:
        """Each GAN of ``jobs`` trained (or resumed, or reused), in order."""

    def generate(self, asks: list[tuple[ClassSampler, int]], features: F) -> list[G]:
        """Each (class sampler, rows wanted) generated and filtered, in order."""

    def accept(self, generated: list[G], features: F) -> tuple[A, AcceptanceReport]:
        """Per-class quality and the FD acceptance policy over every class's rows."""

    def usefulness(self, accepted: A, samplers: list[ClassSampler], features: F) -> Usefulness:
        """Label agreement of the accepted rows (and, where the step has them, CAS and test recalls)."""

    def choose_mix(self, accepted: A, eligible: list[int]) -> MixChoice:
        """The dose and weight of synthetic rows for the ``eligible`` classes."""


@dataclass(frozen=True)
class Synthesis(Generic[F, G, A]):
    """What the stages made, as the steps returned it, and the decisions taken between them."""

    features: F
    makes: list[int]  # minority classes with rows worth generating, in the caller's order
    wanted: np.ndarray  # per class, the synthetic rows the largest choosable dose could ship
    trained: list[TrainedGAN]
    generated: list[G]  # one per class of ``makes``
    accepted: A
    acceptance: AcceptanceReport
    usefulness: Usefulness
    eligible: list[int]  # classes whose rows are recognised often enough to ship
    choice: MixChoice

    @property
    def samplers(self) -> dict[int, ClassSampler]:
        return samplers_by_class(self.trained)


def samplers_by_class(trained: Sequence[TrainedGAN]) -> dict[int, ClassSampler]:
    """Class → where its samples come from, over every trained GAN."""
    return {label: sampler for gan in trained for label, sampler in gan.samplers.items()}


def synthesise(steps: Steps[F, G, A], counts: np.ndarray, targets: np.ndarray, minority: Sequence[int],
               strategy: str, mix: MixConfig) -> Synthesis[F, G, A]:
    """Run the stages in order. ``counts`` and ``targets`` are the real rows and the rows wanted per class
    (their difference is what synthetic rows and duplicates fill); ``minority`` the classes to fill, in
    the order their work runs; ``strategy`` the GAN plan (``gan.strategy``)."""
    wanted = most_wanted(np.asarray(counts), np.asarray(targets), mix)
    makes = [int(label) for label in minority if wanted[label] > 0]
    jobs = plan_gans(strategy, makes)  # a bad strategy fails here, before any work
    features = steps.features()
    trained = steps.train_gans(jobs, features)
    samplers = samplers_by_class(trained)
    generated = steps.generate([(samplers[label], int(wanted[label])) for label in makes], features)
    accepted, acceptance = steps.accept(generated, features)
    usefulness = steps.usefulness(accepted, [samplers[label] for label in sorted(samplers)], features)
    eligible = usefulness.eligible(makes, mix.min_agreement)
    choice = steps.choose_mix(accepted, eligible)
    return Synthesis(features, makes, wanted, trained, generated, accepted, acceptance, usefulness, eligible, choice)

