"""Downstream evaluation: closed-form metric checks, oversampling invariants, and a short real run on digits."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from gan_aug.classify import predict, train_classifier
from gan_aug.config import EvaluateConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.evaluate import (
    METHOD_REGISTRY,
    METHODS,
    classification_metrics,
    evaluate_downstream,
    random_oversample,
)

CONFIG = EvaluateConfig(steps=120, batch_size=64, lr=1e-3, seed=0)


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
    """One evaluation run shared by the checks below; ``augmented`` is train plus a second copy of class 0."""
    train, test = digits
    augmented = train.subset(np.concatenate([np.arange(len(train)), np.flatnonzero(train.labels == 0)]))
    calls: list[tuple[str, int, int, float]] = []
    result = evaluate_downstream(train, augmented, test, CONFIG,
                                 progress=lambda *args: calls.append(args))
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


def test_metrics_list_every_class_and_are_json_plain():
    # Class 3 never appears: it still gets a recall entry (0), and macro F1 averages over 4 classes.
    m = classification_metrics([0, 1, 1], [0, 1, 1], num_classes=4)
    assert m["per_class_recall"] == [1.0, 1.0, 0.0, 0.0]
    assert m["macro_f1"] == pytest.approx(0.5)
    assert all(type(v) is float for v in [m["accuracy"], m["balanced_accuracy"], m["macro_f1"]])
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


# --- evaluate_downstream ----------------------------------------------------------------------

def test_registry_holds_the_default_methods():
    assert METHODS == ("real", "oversampled", "augmented")
    assert set(METHODS) <= set(METHOD_REGISTRY)


def test_evaluate_reports_every_method_with_valid_metrics(evaluated):
    train, augmented, test, result, _ = evaluated
    assert set(result["methods"]) == set(METHODS)
    for scores in result["methods"].values():
        for key in ("accuracy", "balanced_accuracy", "macro_f1"):
            assert 0.0 <= scores[key] <= 1.0
        assert len(scores["per_class_recall"]) == test.num_classes
        assert all(0.0 <= r <= 1.0 for r in scores["per_class_recall"])
    # 10 balanced classes: chance is 0.1, a 120-step CNN should be far above it.
    assert result["methods"]["real"]["accuracy"] > 0.7
    assert json.loads(json.dumps(result)) == result


def test_evaluate_trains_each_method_on_its_own_rows(evaluated):
    train, augmented, _, result, _ = evaluated
    rows = {name: scores["train_rows"] for name, scores in result["methods"].items()}
    assert rows == {
        "real": len(train),
        "oversampled": int(train.class_counts().max()) * train.num_classes,
        "augmented": len(augmented),
    }


def test_evaluate_gain_is_the_difference_of_methods(evaluated):
    _, _, _, result, _ = evaluated
    methods, gain = result["methods"], result["gain"]
    assert set(gain) == {"augmented_vs_real", "augmented_vs_oversampled"}
    for baseline in ("real", "oversampled"):
        diff = gain[f"augmented_vs_{baseline}"]
        assert set(diff) == {"accuracy", "balanced_accuracy", "macro_f1"}
        for key, value in diff.items():
            assert value == pytest.approx(methods["augmented"][key] - methods[baseline][key])


def test_evaluate_uses_the_shared_classifier_settings(evaluated):
    # Training directly with the config's budget and seed must reproduce the "real" scores exactly.
    train, _, test, result, _ = evaluated
    model = train_classifier(train.images, train.labels, train.num_classes, steps=CONFIG.steps,
                             batch_size=CONFIG.batch_size, lr=CONFIG.lr, seed=CONFIG.seed)
    expected = classification_metrics(test.labels, predict(model, test.images), test.num_classes)
    real = result["methods"]["real"]
    for key, value in expected.items():
        assert real[key] == pytest.approx(value), key


def test_evaluate_reports_progress_per_method(evaluated):
    *_, calls = evaluated
    assert [c[0] for c in calls if c[1] == c[2]] == list(METHODS)  # each method finishes, in order
    assert all(c[2] == CONFIG.steps and np.isfinite(c[3]) for c in calls)


def test_evaluate_rejects_mismatched_class_names(digits):
    train, test = digits
    renamed = ImageSet(test.images, test.labels, tuple(f"digit_{n}" for n in test.class_names))
    with pytest.raises(ValueError, match="class_names"):
        evaluate_downstream(train, train, renamed, CONFIG)
    with pytest.raises(ValueError, match="augmented"):
        evaluate_downstream(train, renamed, test, CONFIG)


def test_evaluate_rejects_mismatched_image_shape(digits):
    train, test = digits
    wider = ImageSet(np.repeat(test.images, 3, axis=1), test.labels, test.class_names)
    with pytest.raises(ValueError, match="C×H×W"):
        evaluate_downstream(train, train, wider, CONFIG)


def test_evaluate_rejects_unknown_method(digits):
    train, test = digits
    with pytest.raises(ValueError, match="unknown evaluation methods"):
        evaluate_downstream(train, train, test, CONFIG, methods=("real", "smote"))
