"""bench/bound.py, the perfect-generator bound of bench/gain.py: which real images stand in for a
generator, how far "fill" goes, and when recovery is divided out. Nothing is trained."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from gan_aug.data.imageset import ImageSet
from gan_aug.mix import build_mix

BOUND = Path(__file__).resolve().parents[1] / "bench" / "bound.py"
_SPEC = importlib.util.spec_from_file_location("bench_bound", BOUND)
bound = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bound)


def _full(per_class: int = 10, classes: int = 3) -> ImageSet:
    labels = np.repeat(np.arange(classes, dtype=np.int64), per_class)
    images = np.arange(len(labels), dtype=np.uint8).reshape(-1, 1, 1, 1).repeat(4, axis=2).repeat(4, axis=3)
    return ImageSet(images, labels, tuple(f"c{k}" for k in range(classes)))


def test_left_out_rows_are_the_class_images_the_subset_did_not_keep_in_a_seeded_order():
    full = _full()
    kept = full.subset(np.array([0, 1, 2, 3, 4, 5, 10, 11, 20]))  # class 0: 6 kept, class 1: 2, class 2: 1
    rows = bound.left_out(full, kept.source_index, [1, 2], seed=0)
    assert sorted(rows.seeds[rows.labels == 1].tolist()) == list(range(12, 20))
    assert sorted(rows.seeds[rows.labels == 2].tolist()) == list(range(21, 30))
    assert not np.isin(rows.seeds, kept.source_index).any() and 0 not in rows.labels
    assert (rows.images[:, 0, 0, 0] == rows.seeds).all()  # each row is the image its seed names
    assert set(rows.generator_sha256) == {bound.LEFT_OUT_SHA256}
    again = bound.left_out(full, kept.source_index, [1, 2], seed=0)
    assert rows.seeds.tolist() == again.seeds.tolist()
    assert rows.seeds.tolist() != bound.left_out(full, kept.source_index, [1, 2], seed=1).seeds.tolist()


def test_fill_reaches_every_target_with_left_out_rows_as_far_as_they_go():
    full = _full(per_class=10)
    train = full.subset(np.array([0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 20]))  # 8 / 2 / 1
    targets = np.array([8, 8, 8])
    assert bound.minority(train, targets) == [1, 2]
    dose = bound.fill_dose(train.class_counts(), targets)
    assert dose == 7.0  # class 2: 7 more rows per 1 real image
    rows = bound.left_out(full, train.source_index, [1, 2], seed=0)
    mix = build_mix(train, rows, targets, {0: 0.0, 1: dose, 2: dose})
    assert mix.class_counts("synthetic").tolist() == [0, 6, 7]
    assert mix.class_counts().tolist() == [8, 8, 8] and len(mix.duplicates) == 0
    assert bound.points([0.0, 1.0, 0.5, 1.0], dose) == [("d0.5", 0.5), ("d1", 1.0), ("fill", 7.0)]


def test_recovery_is_divided_out_only_over_half_a_point():
    assert bound.recovery(0.80, 0.78, 0.82) == (0.80 - 0.78) / (0.82 - 0.78)
    assert bound.recovery(0.80, 0.78, 0.784) is None
    assert bound.recovery(0.80, 0.78, 0.70) is None


def test_bound_lines_say_plainly_when_no_generator_can_show_a_gain():
    flat = {"d1": {"dose": 1.0, "balanced_accuracy": 0.002, "few_shot_recall": 0.004},
            "fill": {"dose": 74.0, "balanced_accuracy": 0.09, "few_shot_recall": 0.3}}
    lines = bound.bound_lines(flat)
    assert lines[0].startswith("bound at dose 1: perfect − duplication = +0.2 points balanced accuracy")
    assert lines[1].startswith("bound at dose fill (74)")
    assert "no generator can show a gain on this protocol at this classifier budget" in lines[2]
    assert "filling the classes with real images would" in lines[3]
    steep = {**flat, "d2": {"dose": 2.0, "balanced_accuracy": 0.03, "few_shot_recall": 0.1}}
    assert not any("no generator" in line for line in bound.bound_lines(steep))
