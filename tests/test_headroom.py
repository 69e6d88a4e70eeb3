"""The headroom (the real rows' learning curve) and the worth of synthetic rows counted in real images:
the arithmetic on hits whose answers are known, then the real classifier runs beside the mix grid."""
from __future__ import annotations

import numpy as np
import pytest

from gan_aug.config import ConfigError, EvaluateConfig, MixConfig, parse_config
from gan_aug.evaluate.mix_choice import choose_mix
from gan_aug.headroom import Headroom, cut_rows, measure, minority_classes
from gan_aug.mix.policy import MixChoice
from gan_aug.synthetic import SyntheticSet
from mix_helpers import long_tail

MINORITY = [1, 2]
PER_CLASS = 400  # validation images of each minority class: enough for tight intervals


def _hits(recalls: list[float]) -> np.ndarray:
    """Validation hits over class 0 (always right) then the minority classes, with these exact recalls."""
    parts = [np.ones(PER_CLASS)]
    for recall in recalls:
        right = round(recall * PER_CLASS)
        parts.append(np.r_[np.ones(right), np.zeros(PER_CLASS - right)])
    return np.concatenate(parts)


LABELS = np.repeat([0, 1, 2], PER_CLASS)
ROWS = np.array([[5, 10], [10, 20], [20, 40]])  # per minority class at ¼, ½ and all


def _measure(curve: list[float], mix: float | None, **extra) -> Headroom:
    found = {"hits": _hits([mix, mix]), "shipped": True, "dose": 1.0, "weight": 1.0,
             "synthetic_rows": 60} if mix is not None else None
    return measure([_hits([r, r]) for r in curve], ROWS, [0.25, 0.5, 1.0], LABELS, MINORITY, seeds=2, rounds=400,
                   mix=found, **extra)


def test_a_rising_curve_gives_its_gain_per_doubling_and_the_worth_of_the_rows():
    # Recall 0.5, 0.6, 0.7 at 15, 30, 60 pooled real rows: +10 points a doubling. A mix at 0.8 does what
    # one more doubling would: 60 more real rows.
    room = _measure([0.5, 0.6, 0.7], 0.8)
    assert room.real_rows == [15, 30, 60] and room.score == pytest.approx([0.5, 0.6, 0.7])
    assert room.per_doubling == pytest.approx(0.1)
    assert room.per_doubling_ci[0] < 0.1 < room.per_doubling_ci[1] and room.per_doubling_ci[0] > 0
    assert room.curve == "rising" and "+10.0 points" in room.says and "next doubling (60 more)" in room.says
    assert room.worth.real_images == pytest.approx(60, rel=1e-6)
    low, high = room.worth.interval
    assert 0 < low < 60 < high
    assert room.worth.says.startswith("the 60 shipped synthetic rows did as much as about 60 more real images")
    # Per class: the same curve on 5, 10, 20 and 10, 20, 40 rows.
    assert room.per_class[1].per_doubling == pytest.approx(0.1) and room.per_class[1].worth.real_images == (
        pytest.approx(20, rel=1e-6))
    assert room.per_class[2].worth.real_images == pytest.approx(40, rel=1e-6)


def test_a_mix_below_the_real_rows_is_worth_fewer_real_images():
    room = _measure([0.5, 0.6, 0.7], 0.6)  # as good as half the real rows: worth -30
    assert room.worth.real_images == pytest.approx(-30, rel=1e-6) and "about 30 fewer real images" in room.worth.says


def test_a_flat_curve_says_no_generator_can_help_and_the_worth_cannot_be_told():
    room = _measure([0.7, 0.7, 0.7], 0.75)
    assert room.curve == "flat" and room.per_doubling == 0
    assert "would hardly help" in room.says and "effort is better spent elsewhere" in room.says
    assert room.worth.real_images is None and room.worth.interval is None
    assert room.worth.says.startswith("cannot tell") and "not shown to rise" in room.worth.says


def test_a_noisy_curve_is_unclear_and_a_wide_worth_is_not_a_number():
    global PER_CLASS, LABELS
    saved = PER_CLASS, LABELS
    PER_CLASS, LABELS = 5, np.repeat([0, 1, 2], 5)  # five validation images a class
    try:
        room = _measure([0.4, 0.4, 0.6], 0.8)
    finally:
        PER_CLASS, LABELS = saved
    assert room.curve == "unclear" and room.says.startswith("Cannot tell whether")
    assert room.worth.real_images is None and room.worth.says.startswith("cannot tell")


def test_no_synthetic_point_means_no_worth():
    assert _measure([0.5, 0.6, 0.7], None).worth is None


def test_cut_rows_keeps_nested_subsets_of_the_minority_classes_and_every_other_row(digits_set):
    train = digits_set.subset(np.flatnonzero(digits_set.labels < 3))
    half, quarter = (cut_rows(train, [1, 2], f, seed=0) for f in (0.5, 0.25))
    counts = train.class_counts()
    assert half.class_counts()[:3].tolist() == [counts[0], -(-counts[1] // 2), -(-counts[2] // 2)]
    assert quarter.class_counts()[:3].tolist() == [counts[0], -(-counts[1] // 4), -(-counts[2] // 4)]
    assert set(quarter.source_index) <= set(half.source_index)  # a smaller cut keeps rows of the larger
    one = train.subset(np.r_[np.flatnonzero(train.labels != 2), np.flatnonzero(train.labels == 2)[:1]])
    assert cut_rows(one, [2], 0.25, seed=0).class_counts()[2] == 1  # never below one row
    assert minority_classes(one, counts) == [2]  # below its target; the others at theirs (or empty)


def test_headroom_fractions_are_checked():
    assert MixConfig(headroom=[0.5, 0.25, 0.5]).headroom == [0.25, 0.5]
    assert MixConfig(headroom=[]).headroom == []
    with pytest.raises(ConfigError, match="mix.headroom"):
        parse_config({"mix": {"headroom": [0.5, 1.0]}})


@pytest.mark.parametrize("policy", ["validation", "fixed"])
def test_choose_mix_measures_the_curve_beside_the_grid(digits_set, policy):
    """Real classifier runs: the cuts of the rare class and the grid's duplication point make the curve;
    the grid's synthetic point (copies of real rows, so recognisable) is valued on it, and it all survives
    to_dict / from_dict. A fixed mix has no grid runs to build on: no headroom."""
    train, val, targets = long_tail(digits_set)
    copies = train.subset(np.flatnonzero(train.labels == 3))
    accepted = SyntheticSet(copies.images, copies.labels, np.arange(len(copies)), "copies")
    cfg = MixConfig(policy=policy, doses=[1.0], weights=[1.0], seeds=1, bootstrap_rounds=200, headroom=[0.25, 0.5])
    runs = []
    choice = choose_mix(train, val, accepted, targets, [3], cfg,
                        EvaluateConfig(model="small_cnn", width=8, steps=120, patience=0, seeds=1),
                        progress=lambda done, total: runs.append((done, total)))
    if policy == "fixed":
        assert choice.headroom is None and runs == []
        return
    assert runs[-1] == (4, 4)  # two grid points, then the two cuts
    room = choice.headroom
    assert room.fractions == [0.25, 0.5, 1.0] and room.real_rows == [3, 6, 12]
    assert room.validation_images == 30 and room.seeds == 1 and list(room.per_class) == [3]
    assert room.worth is not None and room.worth.dose == 1.0 and room.worth.synthetic_rows == 12
    assert room.worth.shipped == (choice.dose == 1.0)
    assert room.curve in {"flat", "rising", "unclear"} and room.says
    assert MixChoice.from_dict(choice.to_dict()) == choice


def test_a_handful_of_validation_images_claims_nothing():
    """Two validation images that every classifier gets right have no bootstrap spread at all: the curve
    must not be called flat, nor the rows given a worth."""
    hits = [np.ones(2)] * 3
    room = measure(hits, np.array([[3], [5], [10]]), [0.25, 0.5, 1.0], np.array([1, 1]), [1], seeds=1, rounds=100,
                   mix={"hits": np.ones(2), "shipped": False, "dose": 1.0, "weight": 1.0, "synthetic_rows": 10})
    assert room.per_doubling_ci == (0.0, 0.0) and room.curve == "unclear"
    assert room.says.startswith("Cannot tell whether") and "their 2 validation images are too few" in room.says
    assert "too few to measure it (at least 20)" in room.says
    assert room.worth.real_images is None and "2 validation images are too few" in room.worth.says
    assert room.per_class[1].worth.real_images is None


def test_seeds_that_disagree_widen_the_intervals():
    """The same mean hits, from two seeds 20 points apart at every point of the curve, or from one seed:
    the per-doubling interval counts the run-to-run noise only when the seeds are given apart."""
    def seeds(recall: float) -> np.ndarray:
        return np.stack([_hits([recall + 0.1] * 2), _hits([recall - 0.1] * 2)])

    curve = [0.5, 0.6, 0.7]
    apart = measure([seeds(r) for r in curve], ROWS, [0.25, 0.5, 1.0], LABELS, MINORITY, seeds=2, rounds=400)
    averaged = measure([seeds(r).mean(axis=0) for r in curve], ROWS, [0.25, 0.5, 1.0], LABELS, MINORITY, seeds=2,
                       rounds=400)
    assert apart.per_doubling == pytest.approx(averaged.per_doubling) == pytest.approx(0.1)
    width = lambda room: room.per_doubling_ci[1] - room.per_doubling_ci[0]  # noqa: E731
    assert width(apart) > 2 * width(averaged)
