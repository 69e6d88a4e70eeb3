"""The mix grid's classifier runs, really trained (small budgets): grid points that build the same mix train
once, and successive halving stops the points that fall behind after one seed."""
from __future__ import annotations

import numpy as np

from gan_aug.config import EvaluateConfig, MixConfig
from gan_aug.evaluate.mix_choice import choose_mix
from gan_aug.mix import build_mix
from gan_aug.synthetic import SyntheticSet
from mix_helpers import long_tail

QUICK = EvaluateConfig(model="small_cnn", width=8, steps=60, patience=0, seeds=1)


def test_grid_points_that_build_the_same_mix_are_trained_once(digits_set):
    """Three accepted rows of the rare class: doses 0.5 and 1 both ship all three (the same mix, trained
    once, scored the same), and a point with no synthetic rows to weigh is duplication's."""
    train, val, targets = long_tail(digits_set)
    few = train.subset(np.flatnonzero(train.labels == 3)[:3])
    accepted = SyntheticSet(few.images, few.labels, np.arange(3), "copies")
    cfg = MixConfig(doses=[0.5, 1.0], weights=[1.0], seeds=1, bootstrap_rounds=50, headroom=[])
    runs = []
    choice = choose_mix(train, val, accepted, targets, [3], cfg,
                        QUICK,
                        progress=lambda done, total: runs.append(total))
    assert set(runs) == {2}  # duplication, and the one mix both doses build
    half, one = (next(p for p in choice.curve if p["dose"] == d) for d in (0.5, 1.0))
    assert half["synthetic_rows"] == one["synthetic_rows"] == 3
    assert half["balanced_accuracy"] == one["balanced_accuracy"] and choice.headroom is None
    nothing = SyntheticSet.empty(train.images.shape[1:], "")
    plain = build_mix(train, nothing, targets, 0.0)
    assert build_mix(train, nothing, targets, 1.0, weight=0.5).fingerprint() == plain.fingerprint()
    assert build_mix(train, accepted, targets, 1.0, weight=0.5).fingerprint() != (
        build_mix(train, accepted, targets, 1.0).fingerprint())


def test_halving_runs_the_other_seeds_only_for_duplication_and_the_points_ahead(digits_set):
    """Doses 0.5 and 1 at weights 1 and 0.5 (four distinct mixes with synthetic rows) on two seeds: every mix
    runs once, then duplication and at most two of the four (those not behind it) run again; the others
    keep one seed and cannot ship. Without halving, every point runs on both seeds."""
    train, val, targets = long_tail(digits_set)
    copies = train.subset(np.flatnonzero(train.labels == 3))
    accepted = SyntheticSet(copies.images, copies.labels, np.arange(len(copies)), "copies")
    cfg = MixConfig(doses=[0.5, 1.0], weights=[1.0, 0.5], seeds=2, bootstrap_rounds=50, headroom=[])
    totals = []
    choice = choose_mix(train, val, accepted, targets, [3], cfg, QUICK, progress=lambda done, total: totals.append(
        (done, total)))
    seeds = {(p["dose"], p["weight"]): p["seeds"] for p in choice.curve}
    assert seeds[(0.0, 1.0)] == 2 and sorted(seeds.values()).count(2) <= 3
    again = [point for point, n in seeds.items() if n == 2 and point[0] > 0]
    stopped = [point for point, n in seeds.items() if n == 1]
    assert totals[-1] == (6 + len(again), 6 + len(again))  # five first runs; duplication's and the others' seconds
    assert all(not p["clears"] for p in choice.curve if (p["dose"], p["weight"]) in stopped)
    if stopped:
        assert f"{len(stopped)} of the 4 points with synthetic rows stopped after one seed" in choice.reason
    full = choose_mix(train, val, accepted, targets, [3], cfg.model_copy(update={"halving": False}), QUICK)
    assert {p["seeds"] for p in full.curve} == {2} and "stopped after one seed" not in full.reason
