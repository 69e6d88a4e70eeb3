"""Downstream evaluation: closed-form metric checks, oversampling invariants, and a short real run on digits."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from gan_aug.classify import EarlyStop, predict, train_classifier
from gan_aug.config import ConfigError, EvaluateConfig, parse_config
from gan_aug.data.imageset import ImageSet
from gan_aug.evaluate import (
    GAN_METHODS,
    METHOD_REGISTRY,
    METHODS,
    TrainingSet,
    balanced_class_weights,
    classification_metrics,
    evaluate_downstream,
    fit_and_score,
    mean_interval,
    paired_comparison,
    random_oversample,
    register_method,
    smote,
)
from gan_aug.evaluate.runner import batch_augment
from gan_aug.mix import TrainingMix, real_only
from gan_aug.synthetic import SyntheticSet

CONFIG = EvaluateConfig(steps=120, batch_size=64, seeds=2, seed=0)


def _toy_set(counts: list[int]) -> ImageSet:
    """One distinct 1×2×2 image per row (pixel 0 = row index), so rows can be traced after resampling."""
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    images = np.zeros((len(labels), 1, 2, 2), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(len(labels))
    return ImageSet(images, labels, tuple(f"c{i}" for i in range(len(counts))))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """These nets are tiny: on 2 shared cores one thread is several times faster than two fighting for them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits() -> tuple[ImageSet, ImageSet]:
    """Balanced digits as uint8 N×1×8×8, split 75/25 stratified."""
    raw = load_digits()
    images = np.round(raw.images * 255 / 16).astype(np.uint8)[:, None]
    labels = raw.target.astype(np.int64)
    names = tuple(str(name) for name in raw.target_names)
    train_rows, test_rows = train_test_split(np.arange(len(labels)), test_size=0.25,
                                             stratify=labels, random_state=0)
    whole = ImageSet(images, labels, names)
    return whole.subset(train_rows), whole.subset(test_rows)


@pytest.fixture(scope="module")
def evaluated(digits):
    """One evaluation run shared by the checks below, on an imbalanced train set (classes 7–9 cut to 15
    images); ``augmented`` stands in for the GAN's mix: train, 15 held-back real images of class 9 as
    "synthetic" rows weighing 0.5, and a second copy of class 0 as duplicates."""
    full, test = digits
    keep = np.concatenate([np.flatnonzero(full.labels == k)[: 15 if k >= 7 else None] for k in range(10)])
    train = full.subset(np.sort(keep))
    spare = np.flatnonzero(full.labels == 9)[15:30]
    synthetic = SyntheticSet(full.images[spare], full.labels[spare], np.arange(15), "sha",
                             {"d_score": np.zeros(15, np.float32)})
    augmented = TrainingMix(train, synthetic, np.flatnonzero(train.labels == 0), synthetic_weight=0.5)
    calls: list[dict] = []
    result = evaluate_downstream(train, augmented, test, CONFIG,
                                 progress=lambda done, total, **details: calls.append(dict(details, done=done,
                                                                                         total=total)))
    return train, augmented, test, result, calls


# --- classification_metrics -------------------------------------------------------------------

def test_metrics_match_hand_computed_values():
    # class 0: 1 of 2 right; class 1: 2 of 2; class 2: 0 of 1 → recalls 0.5, 1, 0.
    # precision: class 0 1/2, class 1 2/3, class 2 0 → F1 = 0.5, 0.8, 0 → macro 1.3/3.
    m = classification_metrics(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 3)
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["per_class_recall"] == pytest.approx([0.5, 1.0, 0.0])
    assert m["balanced_accuracy"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx(1.3 / 3)
    assert m["g_mean"] == 0.0  # class 2 never recognised: the geometric mean of recalls collapses
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]  # rows: true class


def test_g_mean_is_the_geometric_mean_of_recalls():
    m = classification_metrics(np.array([0, 0, 1, 1, 1, 1]), np.array([0, 1, 1, 1, 1, 0]), 2)
    assert m["g_mean"] == pytest.approx((0.5 * 0.75) ** 0.5)


def test_metrics_list_every_class_and_are_json_plain():
    # Class 3 never appears: it still gets a recall entry (0), and macro F1 averages over 4 classes.
    m = classification_metrics([0, 1, 1], [0, 1, 1], num_classes=4)
    assert m["per_class_recall"] == [1.0, 1.0, 0.0, 0.0]
    assert m["macro_f1"] == pytest.approx(0.5)
    assert all(type(v) is float for v in [m["accuracy"], m["balanced_accuracy"], m["macro_f1"], m["g_mean"]])
    assert all(type(v) is float for v in m["per_class_recall"])
    assert json.loads(json.dumps(m)) == m


def test_metrics_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="equal-length"):
        classification_metrics([0, 1], [0], num_classes=2)


# --- random_oversample ------------------------------------------------------------------------

def test_oversample_balances_and_keeps_every_original_row():
    train = _toy_set([9, 3, 1])
    out = random_oversample(train, seed=0)
    assert out.class_counts().tolist() == [9, 9, 9]
    assert out.class_names == train.class_names
    # Originals come first and unchanged; every added row is a copy of a real row of its own class.
    np.testing.assert_array_equal(out.images[: len(train)], train.images)
    np.testing.assert_array_equal(out.source_index[: len(train)], train.source_index)
    added = out.source_index[len(train):]
    np.testing.assert_array_equal(train.labels[added], out.labels[len(train):])
    np.testing.assert_array_equal(train.images[added], out.images[len(train):])


def test_oversample_is_seeded():
    train = _toy_set([40, 10, 5])
    first, again, other = (random_oversample(train, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(first.source_index, again.source_index)
    assert not np.array_equal(first.source_index, other.source_index)


def test_oversample_leaves_balanced_set_alone():
    train = _toy_set([4, 4])
    np.testing.assert_array_equal(random_oversample(train, seed=0).source_index, train.source_index)


# --- intervals over seeds ---------------------------------------------------------------------

def test_mean_interval_is_students_t():
    summary = mean_interval([1.0, 2.0, 3.0])
    half = stats.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)  # sd of 1, 2, 3 is 1
    assert summary["mean"] == pytest.approx(2.0)
    assert summary["ci"] == pytest.approx([2.0 - half, 2.0 + half])
    assert mean_interval([0.7]) == {"mean": 0.7, "ci": None, "n": 1}  # one seed: no interval, not a fake one


def test_paired_comparison_pairs_seed_by_seed():
    ours, base = [0.80, 0.83, 0.85], [0.78, 0.809, 0.831]
    c = paired_comparison(ours, base)
    assert c["per_seed"] == pytest.approx([0.02, 0.021, 0.019])
    assert c["mean_diff"] == pytest.approx(0.02)
    assert c["p_value"] == pytest.approx(stats.ttest_rel(ours, base).pvalue)
    assert c["wins"] == 3 and c["ci"][0] > 0 and c["outcome"] == "win"  # consistent small gains: above 0
    noisy = paired_comparison([0.80, 0.70, 0.90], [0.75, 0.80, 0.80])
    assert noisy["ci"][0] < 0 < noisy["ci"][1] and noisy["outcome"] == "tie"  # a mean of +0.5 points, still a tie
    assert paired_comparison([0.70, 0.72, 0.71], [0.75, 0.78, 0.76])["outcome"] == "loss"
    assert paired_comparison([0.8], [0.7])["outcome"] == "unknown"  # one seed: no interval, no claim
    with pytest.raises(ValueError, match="same seeds"):
        paired_comparison([0.1, 0.2], [0.1])


# --- baselines --------------------------------------------------------------------------------

def test_balanced_class_weights_give_every_class_the_same_total():
    weights = balanced_class_weights(np.array([9, 3, 0]))
    assert weights == pytest.approx([12 / 18, 12 / 6, 0.0])
    assert 9 * weights[0] == pytest.approx(3 * weights[1])


def test_smote_balances_with_interpolated_rows():
    train = _toy_set([20, 6, 1])
    train.images[train.labels == 1, 0, 0, 0] = np.arange(6) * 50  # spread out: interpolations fall between
    out = smote(train, seed=0)
    assert out.class_counts().tolist() == [20, 20, 20]
    np.testing.assert_array_equal(out.images[: len(train)], train.images)  # originals first, unchanged
    added = out.labels[len(train):] == 1
    values = out.images[len(train):][added][:, 0, 0, 0].astype(int)
    class_1 = train.images[train.labels == 1][:, 0, 0, 0].astype(int)
    # Interpolations between class-1 rows stay within class 1's range, and are not all copies.
    assert values.min() >= class_1.min() and values.max() <= class_1.max()
    assert len(set(values) - set(class_1)) > 0
    assert (out.source_index[len(train) + 1:] == -1).sum() > 0  # new rows have no source row
    np.testing.assert_array_equal(smote(train, seed=0).images, out.images)  # seeded
    # The singleton class is filled with its only image (nothing to interpolate between).
    assert set(out.images[out.labels == 2][:, 0, 0, 0]) == {train.images[train.labels == 2][0, 0, 0, 0]}


def test_batch_augment_shifts_and_flips():
    x = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8).repeat(32, 1, 1, 1)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(batch_augment(EvaluateConfig(shift=0.0, flip=False))(x, generator), x)
    shifted = batch_augment(EvaluateConfig(shift=0.25, flip=False))(x, generator)
    assert shifted.shape == x.shape and not torch.equal(shifted, x)
    # Every image keeps its row structure: a shift moves rows of 8 consecutive values, repeating the border.
    assert set(torch.unique(shifted).tolist()) <= set(range(64))
    flipped = batch_augment(EvaluateConfig(shift=0.0, flip=True))(x, generator)
    mirrored = torch.all(flipped == x.flip(3), dim=(1, 2, 3))
    assert 0 < int(mirrored.sum()) < 32  # about half flipped, the rest untouched
    assert torch.equal(flipped[~mirrored], x[~mirrored])


# --- evaluate_downstream ----------------------------------------------------------------------

def test_registry_holds_the_baselines_and_the_gan():
    assert METHODS == ("plain", "class_weighted", "oversampled", "smote", "standard_aug", "gan")
    assert set(METHODS) == set(METHOD_REGISTRY) and set(GAN_METHODS) <= set(METHODS)
    assert tuple(EvaluateConfig().methods) == METHODS


def test_a_registered_method_is_valid_in_the_config_and_an_unknown_one_is_refused():
    with pytest.raises(ConfigError, match=r"evaluate\.methods\.1: .*unknown evaluation method 'mixup'; "
                                          r"registered: plain, class_weighted, .*gan"):
        parse_config({"evaluate": {"methods": ["plain", "mixup"]}})
    register_method("mixup")(lambda train, augmented, seed: TrainingSet(train))
    try:
        assert parse_config({"evaluate": {"methods": ["plain", "mixup"]}}).evaluate.methods == ["plain", "mixup"]
        assert EvaluateConfig().methods == [*METHODS, "mixup"]  # the default: every registered method
    finally:
        del METHOD_REGISTRY["mixup"]
    with pytest.raises(ConfigError, match="'mixup'"):
        parse_config({"evaluate": {"methods": ["mixup"]}})


def test_evaluate_reports_every_method_over_every_seed(evaluated):
    train, augmented, test, result, _ = evaluated
    assert set(result["methods"]) == set(METHODS) and result["seeds"] == [0, 1]
    for scores in result["methods"].values():
        for key in ("accuracy", "balanced_accuracy", "macro_f1", "g_mean", "few_shot_recall"):
            assert 0.0 <= scores[key] <= 1.0
            assert len(scores["per_seed"][key]) == 2
            assert scores[key] == pytest.approx(np.mean(scores["per_seed"][key]))
            low, high = scores["ci"][key]
            assert low <= scores[key] <= high
        assert len(scores["per_class_recall"]) == test.num_classes
        matrix = np.array(scores["confusion_matrix"])
        assert matrix.shape == (10, 10) and matrix.sum() == 2 * len(test)  # summed over the two seeds
    assert result["methods"]["plain"]["accuracy"] > 0.6  # chance is 0.1
    assert json.loads(json.dumps(result)) == result


def test_evaluate_trains_each_method_on_its_own_rows(evaluated):
    train, augmented, _, result, _ = evaluated
    rows = {name: scores["train_rows"] for name, scores in result["methods"].items()}
    balanced = int(train.class_counts().max()) * train.num_classes
    assert rows == {"plain": len(train), "class_weighted": len(train), "oversampled": balanced, "smote": balanced,
                    "standard_aug": balanced, "gan": len(augmented)}


def test_class_weights_and_augmentation_change_the_classifier(evaluated):
    _, _, _, result, _ = evaluated
    seeds = {name: result["methods"][name]["per_seed"]["balanced_accuracy"] for name in METHODS}
    assert seeds["class_weighted"] != seeds["plain"]
    assert seeds["standard_aug"] != seeds["oversampled"]


def test_evaluate_compares_the_gan_with_the_best_baseline(evaluated):
    _, _, _, result, _ = evaluated
    methods = result["methods"]
    baselines = [name for name in METHODS if name not in GAN_METHODS]
    best = max(baselines, key=lambda name: methods[name]["balanced_accuracy"])
    assert result["best_baseline"] == best
    for name in GAN_METHODS:
        c = result["comparison"][name]
        expected = np.subtract(methods[name]["per_seed"]["balanced_accuracy"],
                               methods[best]["per_seed"]["balanced_accuracy"])
        assert c["baseline"] == best and c["per_seed"] == pytest.approx(expected.tolist())
        assert c["mean_diff"] == pytest.approx(expected.mean())
    gain = result["gain"]
    assert set(gain) == {f"{g}_vs_{b}" for g in GAN_METHODS for b in baselines}
    for key, value in gain["gan_vs_smote"].items():
        assert value == pytest.approx(methods["gan"][key] - methods["smote"][key])


def test_few_shot_recall_is_the_mean_recall_of_the_three_rarest_classes(evaluated):
    train, _, test, result, _ = evaluated
    assert result["few_shot_classes"] == [7, 8, 9]  # 15 training images each, the fewest
    again = fit_and_score("plain", TrainingSet(train), test, CONFIG, seed=0, rare=[7, 8, 9])
    assert again["few_shot_recall"] == pytest.approx(np.mean(np.array(again["per_class_recall"])[[7, 8, 9]]))
    assert again["few_shot_recall"] == result["methods"]["plain"]["per_seed"]["few_shot_recall"][0]
    few = result["comparison"]["gan"]["few_shot_recall"]
    best = result["best_baseline"]
    expected = np.subtract(result["methods"]["gan"]["per_seed"]["few_shot_recall"],
                           result["methods"][best]["per_seed"]["few_shot_recall"])
    assert few["per_seed"] == pytest.approx(expected.tolist())


def test_the_gan_method_trains_on_the_mix_with_its_weights(evaluated):
    train, augmented, _, _, _ = evaluated
    training = METHOD_REGISTRY["gan"](train, augmented, 0)
    assert len(training.data) == len(augmented) and training.late_rows is None
    assert np.array_equal(training.sample_weights, augmented.weights)
    assert set(training.sample_weights[len(train):len(train) + 15]) == {0.5}
    deferred = TrainingMix(train, augmented.synthetic, augmented.duplicates, late_from=0.5)
    late = METHOD_REGISTRY["gan"](train, deferred, 0)
    assert late.sample_weights is None and late.late_from == 0.5 and late.late_rows.sum() == 15
    with pytest.raises(ValueError, match="needs the GAN's training mix"):
        METHOD_REGISTRY["gan"](train, None, 0)


def test_evaluate_is_reproducible_run_by_run(evaluated):
    # Training one method on one seed directly must reproduce that seed's scores exactly.
    train, _, test, result, _ = evaluated
    again = fit_and_score("plain", TrainingSet(train), test, CONFIG, seed=1)
    assert again["balanced_accuracy"] == result["methods"]["plain"]["per_seed"]["balanced_accuracy"][1]


def test_evaluate_reports_progress_per_method_and_seed(evaluated):
    *_, calls = evaluated
    finished = [(c["method"], c["seed"]) for c in calls if c["done"] == c["total"]]
    assert finished == [(name, seed) for name in METHODS for seed in (0, 1)]
    assert all(c["total"] == CONFIG.steps and np.isfinite(c["loss"]) for c in calls)


def test_resnet18_option_trains_on_small_images(digits):
    train, test = digits
    config = EvaluateConfig(model="resnet18", steps=3, batch_size=16, seeds=1)
    scores = fit_and_score("plain", TrainingSet(train.subset(np.arange(64))), test.subset(np.arange(40)), config, 0)
    assert len(scores["per_class_recall"]) == 10 and 0.0 <= scores["accuracy"] <= 1.0


def test_evaluate_rejects_mismatched_class_names(digits):
    train, test = digits
    renamed = ImageSet(test.images, test.labels, tuple(f"digit_{n}" for n in test.class_names))
    with pytest.raises(ValueError, match="class_names"):
        evaluate_downstream(train, real_only(train), renamed, CONFIG)
    with pytest.raises(ValueError, match="mix"):
        evaluate_downstream(train, real_only(renamed), test, CONFIG)


def test_evaluate_rejects_mismatched_image_shape(digits):
    train, test = digits
    wider = ImageSet(np.repeat(test.images, 3, axis=1), test.labels, test.class_names)
    with pytest.raises(ValueError, match="C×H×W"):
        evaluate_downstream(train, real_only(train), wider, CONFIG)


def test_evaluate_rejects_unknown_method(digits):
    train, test = digits
    with pytest.raises(ValueError, match="unknown evaluation methods"):
        evaluate_downstream(train, real_only(train), test, CONFIG, methods=("plain", "mixup"))


def test_runs_side_by_side_in_processes_give_the_same_scores(digits):
    """Two worker processes of one thread each, against one after another in this (one-thread) process."""
    train, test = digits
    config = EvaluateConfig(steps=30, batch_size=64, seeds=2, methods=["plain", "oversampled"])
    alone = evaluate_downstream(train, None, test, config.model_copy(update={"workers": 1}))
    side_by_side = evaluate_downstream(train, None, test, config.model_copy(update={"workers": 2}))
    for name in ("plain", "oversampled"):
        assert side_by_side["methods"][name]["per_seed"] == alone["methods"][name]["per_seed"]


def test_automatic_workers_stay_in_this_process_for_work_too_small_to_pay_for_a_pool():
    import os

    from gan_aug.parallel import POOL_MIN_SECONDS, classifier_seconds, worker_count

    small = classifier_seconds(4, 50, 256, (1, 8, 8))  # a test-sized grid: about a second
    big = classifier_seconds(18, 1500, 128, (1, 28, 28))  # a benchmark's evaluation: minutes
    assert small < POOL_MIN_SECONDS < big
    assert worker_count(0, "cpu", 4, small) == 1
    assert worker_count(0, "cpu", 18, big) == min(18, os.cpu_count() or 1)
    assert worker_count(2, "cpu", 4, small) == 2  # an explicit setting is obeyed
    assert worker_count(0, "cuda", 18, big) == 1


# --- training until validation stops improving ----------------------------------------------------

def _val_score(model, val: ImageSet) -> float:
    return classification_metrics(val.labels, predict(model, val.images), val.num_classes)["balanced_accuracy"]


def test_early_stop_keeps_the_best_checked_weights_and_records_the_steps(digits):
    """A learning rate that wrecks the net after a few checks: training stops ``patience`` checks after the
    best, and the weights returned score exactly that best on validation (not the last step's)."""
    train, val = digits
    stop = EarlyStop(val.images, val.labels, every=20, patience=2)
    model = train_classifier(train.images, train.labels, 10, steps=2_000, lr=0.3, batch_size=32, seed=0, stop=stop)
    assert 0 < stop.best_step < stop.steps_run < 2_000  # stopped before the cap
    assert stop.steps_run - stop.best_step == 2 * 20
    assert _val_score(model, val) == pytest.approx(stop.best_score)
    plain = train_classifier(train.images, train.labels, 10, steps=stop.steps_run, lr=0.3, batch_size=32, seed=0)
    assert _val_score(plain, val) < stop.best_score  # the last step's weights are worse than the ones kept


def test_evaluation_runs_stop_on_validation_and_say_how_many_steps_ran(digits):
    train, test = digits
    val = test.subset(np.arange(0, len(test), 2))
    capped = CONFIG.model_copy(update={"steps": 3_000, "seeds": 1, "patience": 2, "check_every": 50})
    result = evaluate_downstream(train, None, test, capped, methods=("plain",), val=val)
    steps = result["methods"]["plain"]["steps"]
    assert len(steps) == 1 and 100 <= steps[0] < 3_000
    assert result["classifier"]["patience"] == 2
    short = capped.model_copy(update={"steps": 150})
    unstopped = evaluate_downstream(train, None, test, short, methods=("plain",))  # no validation: the cap
    assert unstopped["methods"]["plain"]["steps"] == [150] and unstopped["classifier"]["patience"] == 0


def test_early_stop_refuses_settings_it_cannot_use():
    with pytest.raises(ValueError, match="patience"):
        EarlyStop(np.zeros((1, 1, 2, 2), np.uint8), np.zeros(1, np.int64), every=10, patience=0)
    with pytest.raises(ConfigError, match="patience"):
        parse_config({"evaluate": {"patience": -1}})
