"""The one-standard-error rule of gan_aug.evaluate.mix_choice on validation curves built by hand: per grid point,
which validation images its classifiers got right, chosen so that the answer is known in advance.

The run: class 0 has 20 real rows and needs none, class 1 has 10 and needs 30 to reach 40, and 30 of
its synthetic rows were accepted; so dose 0.5 ships 5 synthetic rows, dose 1 ships 10, dose 2 ships 20.
Validation holds 100 images of each class.
"""
from __future__ import annotations

import numpy as np
import pytest

from gan_aug.config import MixConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.evaluate.mix_choice import _pick, _survivors, paired_standard_error
from gan_aug.mix.policy import grid
from gan_aug.stages.usefulness import Usefulness
from gan_aug.synthetic import SyntheticSet

VAL_PER_CLASS = 100
CFG = MixConfig(doses=[0.5, 1.0, 2.0], weights=[1.0, 0.5])
POINTS = grid(CFG)  # (0, 1), (0.5, 1), (0.5, 0.5), (1, 1), (1, 0.5), (2, 1), (2, 0.5)
ROWS = {0.0: 0, 0.5: 5, 1.0: 10, 2.0: 20}


def _images(labels: list[int]) -> ImageSet:
    labels = np.asarray(labels, dtype=np.int64)
    return ImageSet(np.zeros((len(labels), 1, 2, 2), np.uint8), labels, ("a", "b"))


TRAIN = _images([0] * 20 + [1] * 10)
VAL = _images([0] * VAL_PER_CLASS + [1] * VAL_PER_CLASS)
TARGETS = np.array([20, 40])
ACCEPTED = SyntheticSet(np.zeros((30, 1, 2, 2), np.uint8), np.ones(30, np.int64), np.arange(30, dtype=np.int64),
                        "0" * 64)


def _base() -> np.ndarray:
    """Every grid point's classifiers get the first 70 images of each class right, the rest wrong."""
    correct = np.zeros(2 * VAL_PER_CLASS)
    correct[:70] = correct[VAL_PER_CLASS:VAL_PER_CLASS + 70] = 1.0
    return correct


def _better_on(images, worse_on=()) -> np.ndarray:
    """The base with class-1 images ``images`` (indices within the class) right and ``worse_on`` wrong."""
    correct = _base()
    correct[[VAL_PER_CLASS + i for i in images]] = 1.0
    correct[[VAL_PER_CLASS + i for i in worse_on]] = 0.0
    return correct


def pick(curves: dict[tuple[float, float], np.ndarray], eligible=(1,)):
    """_pick over the whole grid: points not in ``curves`` score the base."""
    correct = [curves.get(point, _base()) for point in POINTS]
    return _pick(POINTS, correct, VAL, list(eligible), CFG, ACCEPTED, TRAIN, TARGETS)


def _point(choice, dose, weight) -> dict:
    return next(p for p in choice.curve if (p["dose"], p["weight"]) == (dose, weight))


def test_the_curve_counts_the_synthetic_rows_each_point_would_ship():
    choice = pick({})
    assert [p["synthetic_rows"] for p in choice.curve] == [ROWS[dose] for dose, _ in POINTS]
    assert [(p["dose"], p["weight"]) for p in choice.curve] == POINTS


def test_a_top_score_only_a_fraction_of_a_standard_error_above_loses_to_fewer_rows():
    # Dose 2 gets 30 more class-1 images right than the others but 29 others wrong: one image net, in noise.
    choice = pick({(2.0, 1.0): _better_on(range(70, 100), worse_on=range(29))})
    top = _point(choice, 2.0, 1.0)
    assert top["balanced_accuracy"] == pytest.approx(0.705)
    # Every other point scores 0.700: 0.005 below, a small fraction of the standard error of the difference.
    assert 0.1 < top["vs_duplication"] / top["duplication_se"] < 0.2  # about 0.13
    # Its gain over duplication is a fraction of its standard error: it may not ship, so the best point
    # that may ship is duplication itself, and nothing else is within noise of it (none may ship).
    assert top["vs_duplication"] == pytest.approx(0.005) and not top["clears"]
    assert [p["clears"] for p in choice.curve] == [True] + [False] * 6
    assert [p["within_noise"] for p in choice.curve] == [True] + [False] * 6
    assert top["vs_top"] == pytest.approx(0.005)  # above the best point that may ship
    assert (choice.dose, choice.weight) == (0.0, 1.0) and choice.doses == {0: 0.0, 1: 0.0}
    assert choice.reason.startswith("no dose of synthetic rows beat duplicating real rows on validation (200 "
                                    "images) at 95% confidence: the largest gain, +0.005 balanced accuracy (dose 2, "
                                    "weight 1), had to exceed 2.39 standard errors")


def test_a_point_several_standard_errors_above_is_chosen_whatever_its_rows():
    # Dose 2 at weight 0.5 gets 30 more class-1 images right and none wrong.
    choice = pick({(2.0, 0.5): _better_on(range(70, 100))})
    assert (choice.dose, choice.weight) == (2.0, 0.5) and choice.doses == {0: 0.0, 1: 2.0}
    assert all(not p["within_noise"] and -p["vs_top"] / p["standard_error"] > 5
               for p in choice.curve if (p["dose"], p["weight"]) != (2.0, 0.5))
    assert choice.reason.startswith("dose 2, weight 0.5 scored highest on validation (0.850 balanced accuracy on "
                                    "200 images), and no point with fewer synthetic rows came within one standard "
                                    "error of it; it beat duplication by +0.150, more than 2.39 standard errors")


def test_the_fewest_rows_within_noise_is_chosen_not_the_top_nor_none():
    # Dose 2 at weight 1 tops at 0.800: 30 more class-1 images right than the base, 10 others wrong.
    # Dose 1 scores 0.790 with other misses (0.4 standard errors below); none and dose 0.5 score 0.700
    # (over 3 standard errors below).
    dose_1 = _better_on(range(82, 100))
    choice = pick({(2.0, 1.0): _better_on(range(70, 100), worse_on=range(10)), (1.0, 1.0): dose_1,
                   (1.0, 0.5): dose_1})
    assert (choice.dose, choice.weight) == (1.0, 0.5)  # 10 rows, and at equal rows the lower weight
    assert [p["within_noise"] for p in choice.curve] == [False, False, False, True, True, True, False]
    assert 0.3 < -_point(choice, 1.0, 0.5)["vs_top"] / _point(choice, 1.0, 0.5)["standard_error"] < 0.6
    assert -_point(choice, 0.0, 1.0)["vs_top"] / _point(choice, 0.0, 1.0)["standard_error"] > 3
    assert "dose 1, weight 0.5: 0.790 on validation (200 images), within one standard error" in choice.reason
    assert "of the top score 0.800 (dose 2, weight 1)" in choice.reason


def test_no_synthetic_rows_on_top_ships_none():
    worse = _better_on([], worse_on=range(40, 70))  # every dose gets 30 class-1 images fewer right
    choice = pick({point: worse for point in POINTS[1:]})
    assert (choice.dose, choice.weight) == (0.0, 1.0) and choice.doses == {0: 0.0, 1: 0.0}
    assert choice.reason == ("no synthetic rows scored highest on validation (0.700 balanced accuracy on 200 "
                             "images): no dose of synthetic rows beat duplicating real rows")


def test_ties_go_to_fewer_rows_then_the_lower_weight():
    same = _better_on(range(70, 100))
    tied = pick({point: same for point in POINTS})  # every point alike: the top is the first, no synthetic rows
    assert (tied.dose, tied.weight) == (0.0, 1.0) and all(p["standard_error"] == 0.0 for p in tied.curve)
    assert tied.reason.startswith("no synthetic rows scored highest")
    doses = pick({point: same for point in POINTS[1:]})  # every dose alike, above none: the smallest dose
    assert (doses.dose, doses.weight) == (0.5, 0.5)


@pytest.mark.parametrize("se, chosen", [(0.25, 0.0), (0.2499, 1.0)])
def test_a_score_exactly_one_standard_error_below_the_top_is_within_noise(monkeypatch, se, chosen):
    """Balanced accuracies 0.75 and 1.0 (exact in binary): with a standard error of exactly their gap
    the smaller point is within noise, with a hair less it is not."""
    monkeypatch.setattr("gan_aug.evaluate.mix_choice.paired_standard_error", lambda *args: se)
    val = _images([0, 0, 0, 0, 1, 1, 1, 1])
    points, correct = [(0.0, 1.0), (1.0, 1.0)], [np.array([1.0, 1, 1, 1, 1, 1, 0, 0]), np.ones(8)]
    barely = CFG.model_copy(update={"confidence": 0.5001})  # any gain over duplication may ship
    choice = _pick(points, correct, val, [1], barely, ACCEPTED, TRAIN, TARGETS)
    assert [p["balanced_accuracy"] for p in choice.curve] == [0.75, 1.0] and choice.dose == chosen


@pytest.mark.parametrize("doses, weights, ships", [([1.0], [1.0], True), ([0.5, 1.0, 2.0], [1.0, 0.5], False)])
def test_a_gain_of_two_standard_errors_ships_when_it_is_the_only_point_tried(monkeypatch, doses, weights, ships):
    """Dose 1 scores 0.125 above duplication with a standard error of 0.0625: two standard errors clear
    the one-sided 95% bound of one test (1.64), not the Bonferroni bound of six (2.39); the other
    points score like duplication."""
    monkeypatch.setattr("gan_aug.evaluate.mix_choice.paired_standard_error", lambda *args: 0.0625)
    cfg = MixConfig(doses=doses, weights=weights)
    val = _images([0, 0, 0, 0, 1, 1, 1, 1])
    duplication, better = np.array([1.0, 1, 1, 1, 1, 1, 0, 0]), np.array([1.0, 1, 1, 1, 1, 1, 1, 0])
    points = grid(cfg)
    choice = _pick(points, [better if p == (1.0, 1.0) else duplication for p in points], val, [1], cfg, ACCEPTED,
                   TRAIN, TARGETS)
    dose_1 = _point(choice, 1.0, 1.0)
    assert dose_1["vs_duplication"] == 0.125 and dose_1["clears"] is ships
    assert choice.dose == (1.0 if ships else 0.0)


def test_the_standard_error_is_that_of_the_mean_paired_difference():
    """One class: the bootstrap standard error of the mean difference is std(diff) / sqrt(n)."""
    rng = np.random.default_rng(3)
    a, b, labels = rng.random(400), rng.random(400), np.zeros(400, np.int64)
    expected = np.std(a - b) / np.sqrt(400)
    assert paired_standard_error(a, b, labels, rounds=4000) == pytest.approx(expected, rel=0.05)
    assert paired_standard_error(a, a, labels, rounds=100) == 0.0
    # Two classes of the same spread: balanced accuracy halves each class's error, so the total is 1/sqrt(2).
    both = np.concatenate([labels, labels + 1])
    two = paired_standard_error(np.tile(a, 2), np.tile(b, 2), both, rounds=4000)
    assert two == pytest.approx(expected / np.sqrt(2), rel=0.05)


def test_classes_outside_eligible_get_no_synthetic_rows():
    # Class 0 needs rows too here; only class 1 is eligible.
    targets = np.array([40, 40])
    accepted = SyntheticSet.concat([ACCEPTED, SyntheticSet(np.zeros((20, 1, 2, 2), np.uint8),
                                                           np.zeros(20, np.int64), np.arange(20, dtype=np.int64),
                                                           "0" * 64)])
    correct = [_better_on(range(70, 100)) if dose == 2.0 else _base() for dose, _ in POINTS]
    choice = _pick(POINTS, correct, VAL, [1], CFG, accepted, TRAIN, targets)
    assert (choice.dose, choice.doses, choice.eligible) == (2.0, {0: 0.0, 1: 2.0}, [1])
    assert [p["synthetic_rows"] for p in choice.curve] == [ROWS[dose] for dose, _ in POINTS]  # class 1's only
    assert Usefulness({0: 0.69, 1: 0.7}, [], None, None, 0).eligible([0, 1], 0.7) == [1]
    assert Usefulness({1: 0.9}, [], None, None, 0).eligible([0, 1], 0.7) == [1]  # unmeasured: not eligible


def test_halving_keeps_duplication_and_the_better_half_of_the_points_not_behind_it():
    # Seven mixes (duplication first): two behind duplication, four ahead of it by 1 to 4 images.
    correct = [_base(), _better_on([], worse_on=[0]), _better_on([70]), _better_on([70, 71, 72]),
               _better_on([70, 71]), _better_on([], worse_on=[0, 1]), _better_on([70, 71, 72, 73])]
    assert _survivors(correct, 0, VAL) == {0, 6, 3, 4}  # ceil(6 / 2) = 3 of the four ahead, best first
    assert _survivors([_base(), _better_on([], worse_on=[0])], 0, VAL) == {0}  # behind: it stops


def test_a_point_halving_stopped_cannot_ship_whatever_its_one_seed_scored():
    far_ahead = _better_on(range(70, 100))  # every class-1 image right: clears by many standard errors
    assert pick({(2.0, 1.0): far_ahead}).dose == 2.0
    correct = [{(2.0, 1.0): far_ahead}.get(point, _base()) for point in POINTS]
    stopped = {POINTS.index((2.0, 1.0))}
    choice = _pick(POINTS, correct, VAL, [1], CFG, ACCEPTED, TRAIN, TARGETS, seeds=[2, 2, 2, 2, 2, 1, 2],
                   stopped=stopped)
    assert choice.dose == 0.0 and not _point(choice, 2.0, 1.0)["clears"] and _point(choice, 2.0, 1.0)["seeds"] == 1
    assert "1 of the 6 points with synthetic rows stopped after one seed" in choice.reason
