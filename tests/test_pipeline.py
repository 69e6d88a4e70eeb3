"""The composition itself (gan_aug.pipeline.synthesise): which steps run in what order and the decisions
between them, with steps that record what they are asked. The real steps run in the flow, oversampler
and benchmark tests; here nothing is trained, so each decision can be checked exactly."""
from __future__ import annotations

import numpy as np
import pytest

from gan_aug.config import MixConfig
from gan_aug.mix.policy import MixChoice
from gan_aug.pipeline import synthesise
from gan_aug.stages import ClassSampler, GANJob, TrainedGAN, Usefulness


class Recorded:
    """Steps that return small stand-ins and keep every call, in order."""

    def __init__(self, agreement: dict[int, float]):
        self.calls: list[tuple] = []
        self.agreement = agreement

    def features(self):
        self.calls.append(("features",))
        return "features"

    def train_gans(self, jobs: list[GANJob], features):
        self.calls.append(("train_gans", [job.classes for job in jobs], features))
        return [TrainedGAN(job, None, {label: ClassSampler(label, f"gan-{job.key}.pt", "sha", job.model_label(label), 0,
                                                           job.shared)
                                       for label in (range(4) if job.shared else job.classes)})
                for job in jobs]

    def generate(self, asks, features):
        self.calls.append(("generate", [(sampler.label, sampler.checkpoint, wanted) for sampler, wanted in asks]))
        return [f"rows-{sampler.label}" for sampler, _ in asks]

    def accept(self, generated, features):
        self.calls.append(("accept", list(generated)))
        return "accepted", "report"

    def usefulness(self, accepted, samplers, features):
        self.calls.append(("usefulness", accepted, [sampler.label for sampler in samplers]))
        return Usefulness(self.agreement, [], None, None, 0)

    def choose_mix(self, accepted, eligible):
        self.calls.append(("choose_mix", accepted, list(eligible)))
        return MixChoice("fixed", 1.0, 1.0, 0.0, {k: 1.0 for k in eligible}, list(eligible), "test")


COUNTS = np.array([100, 40, 10, 100])  # class 3 is full: nothing to make
TARGETS = np.array([100, 100, 100, 100])


def test_the_stages_run_in_order_with_the_decisions_between_them():
    steps = Recorded(agreement={1: 0.95, 2: 0.5})
    found = synthesise(steps, COUNTS, TARGETS, [2, 1, 3], "shared", MixConfig(doses=[0.5, 2.0], min_agreement=0.7))
    assert [call[0] for call in steps.calls] == ["features", "train_gans", "generate", "accept", "usefulness",
                                                "choose_mix"]
    # One shared GAN for the classes with rows to make, in the caller's order; class 3 has none.
    assert steps.calls[1] == ("train_gans", [(2, 1)], "features")
    # Each class asks for what the largest dose (2) allows, capped by its need: 2 → 20, 1 → 60.
    assert steps.calls[2] == ("generate", [(2, "gan-shared.pt", 20), (1, "gan-shared.pt", 60)])
    assert steps.calls[3] == ("accept", ["rows-2", "rows-1"])
    assert steps.calls[4] == ("usefulness", "accepted", [0, 1, 2, 3])  # every class the shared GAN samples
    assert steps.calls[5] == ("choose_mix", "accepted", [1])  # class 2's rows are recognised too rarely
    assert found.makes == [2, 1] and found.eligible == [1] and found.wanted.tolist() == [0, 60, 20, 0]
    assert found.acceptance == "report" and found.generated == ["rows-2", "rows-1"]


def test_per_class_plans_one_gan_per_class_and_a_fixed_dose_asks_for_that_dose():
    steps = Recorded(agreement={1: 1.0, 2: 1.0})
    found = synthesise(steps, COUNTS, TARGETS, [1, 2], "per_class", MixConfig(policy="fixed", dose=1.0))
    assert steps.calls[1][1] == [(1,), (2,)]
    assert steps.calls[2][1] == [(1, "gan-1.pt", 40), (2, "gan-2.pt", 10)]  # dose 1: one row per real image
    assert found.eligible == [1, 2] and set(found.samplers) == {1, 2}


def test_no_rows_to_make_still_chooses_on_nothing():
    """As the flow always did: the shared GAN is planned (for no class) and the mix chosen over none."""
    steps = Recorded(agreement={})
    found = synthesise(steps, COUNTS, COUNTS, [1, 2], "shared", MixConfig())
    assert found.makes == [] and steps.calls[1] == ("train_gans", [()], "features")
    assert steps.calls[-1] == ("choose_mix", "accepted", [])


def test_an_unknown_strategy_is_named_before_any_work():
    steps = Recorded(agreement={})
    with pytest.raises(ValueError, match="gan.strategy must be one of"):
        synthesise(steps, COUNTS, TARGETS, [1], "ensemble", MixConfig())
    assert steps.calls == []
