"""GANOverSampler end to end on real digits made imbalanced: one short GAN per module, trained once in a
work_dir and reused by the later calls (which is itself under test), no mocks."""
from __future__ import annotations

import logging
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from imblearn.pipeline import make_pipeline
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

from gan_aug import GANOverSampler
from gan_aug.config import GANConfig
from gan_aug.filters import FDAcceptanceError

COUNTS = [60] * 5 + [25, 25, 20, 20, 12]  # class 9 alone is the minority
GAN = dict(steps=150, base_channels=16, batch_size=32, eval_every=75, eval_samples=64)
# Memorisation only, so every class fills within the budget and the counts are exact; a short GAN's
# FD is far above the floor, which is not what these tests are about (the FD policy test sets its own).
FILTER = dict(filters=["memorisation"], feature_steps=150, bootstrap_rounds=10, fd_max_ratio=1e6)
# Every row a class needs from the GAN (a dose no class reaches, whatever its label agreement), so the
# counts below are the GAN's alone;
# the validation policy has its own test.
FILL = dict(policy="fixed", dose=100.0, min_agreement=0.0)


@pytest.fixture(scope="module")
def data(digits_set):
    """Grayscale N×8×8 uint8 and int labels, imbalanced as COUNTS."""
    rows = np.concatenate([np.flatnonzero(digits_set.labels == k)[:n] for k, n in enumerate(COUNTS)])
    return np.ascontiguousarray(digits_set.images[rows, 0]), digits_set.labels[rows].copy()


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("oversampler")


def _sampler(work_dir, strategy="auto", **filter_overrides):
    return GANOverSampler(strategy, gan=GAN, filter={**FILTER, **filter_overrides}, mix=FILL, work_dir=str(work_dir))


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def auto_fit(data, work_dir):
    """The one training run ("auto", 3-D input); its log lines are kept for the progress test."""
    logger, handler = logging.getLogger("gan_aug.oversampler"), _Lines()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        sampler = _sampler(work_dir)
        X_res, y_res = sampler.fit_resample(*data)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    return sampler, X_res, y_res, handler.lines


@pytest.mark.slow
def test_auto_fills_every_class_to_the_majority_count(data, auto_fit):
    X, y = data
    sampler, X_res, y_res, _ = auto_fit
    assert Counter(y_res.tolist()) == {k: 60 for k in range(10)}
    # imblearn's "auto" leaves out the (first) majority class; the other full classes get 0.
    assert sampler.sampling_strategy_ == {k: 60 - n for k, n in enumerate(COUNTS) if k != 0}
    assert X_res.dtype == np.uint8 and X_res.shape == (600, 8, 8) and y_res.dtype == y.dtype
    assert X_res[: len(X)].tobytes() == X.tobytes() and np.array_equal(y_res[: len(y)], y)
    synthetic_labels = y_res[len(y):]
    assert np.all(np.diff(synthetic_labels) >= 0)  # grouped by class, in label order
    assert sorted(sampler.generation_) == [5, 6, 7, 8, 9]
    assert all(g["used"] == g["needed"] == 60 - COUNTS[k] for k, g in sampler.generation_.items())
    assert sampler.gan_["steps"] == GAN["steps"] and sampler.gan_["resumed_from"] == 0
    assert set(sampler.acceptance_) == set(sampler.quality_) == {5, 6, 7, 8, 9}


@pytest.mark.slow
def test_synthetic_rows_are_not_copies_of_real_images(data, auto_fit):
    X, _ = data
    _, X_res, _, _ = auto_fit
    real = {image.tobytes() for image in X}
    synthetic = X_res[len(X):]
    assert not any(image.tobytes() in real for image in synthetic)
    assert len({image.tobytes() for image in synthetic}) == len(synthetic)  # no sample repeats either


@pytest.mark.slow
def test_progress_is_logged_per_tenth(auto_fit):
    lines = auto_fit[3]
    assert sum(line.startswith("GAN step") and "loss_d" in line for line in lines) == 10
    assert any("FD per class" in line for line in lines)
    for label in range(5, 10):
        assert any(line.startswith(f"class {label}: ") and "accepted" in line for line in lines)


@pytest.mark.slow
def test_minority_on_4d_input_reuses_the_checkpoint(data, auto_fit, work_dir):
    X, y = data
    X4 = X[:, None]
    sampler = _sampler(work_dir, "minority")
    X_res, y_res = sampler.fit_resample(X4, y)
    assert sampler.gan_["resumed_from"] == GAN["steps"] and sampler.gan_["sha256"] == auto_fit[0].gan_["sha256"]
    assert Counter(y_res.tolist()) == {**dict(enumerate(COUNTS)), 9: 60}
    assert X_res.shape == (len(X) + 48, 1, 8, 8) and X_res.dtype == np.uint8
    assert X_res[: len(X)].tobytes() == X4.tobytes()
    assert sampler.sampling_strategy_ == {9: 48}


@pytest.mark.slow
def test_dict_strategy_with_string_labels(data, auto_fit, work_dir):
    X, y = data
    names = np.array([f"digit-{k}" for k in y])
    sampler = _sampler(work_dir, {"digit-5": 40, "digit-9": 30})
    X_res, y_res = sampler.fit_resample(X, names)
    assert y_res.dtype == names.dtype and np.array_equal(y_res[: len(y)], names)
    expected = {f"digit-{k}": n for k, n in enumerate(COUNTS)} | {"digit-5": 40, "digit-9": 30}
    assert Counter(y_res.tolist()) == expected
    assert list(y_res[len(y):]) == ["digit-5"] * 15 + ["digit-9"] * 18
    assert sampler.sampling_strategy_["digit-5"] == 15 and set(sampler.generation_) == {"digit-5", "digit-9"}
    assert sampler.gan_["resumed_from"] == GAN["steps"]


@pytest.mark.slow
def test_a_class_short_of_its_target_warns_and_returns_what_passed(data, auto_fit, work_dir):
    X, y = data
    sampler = GANOverSampler({9: 60}, gan=GAN, filter={**FILTER, "filters": ["discriminator", "label",
                             "memorisation"], "d_quantile": 0.9}, generate={"budget_factor": 1.0}, mix=FILL,
                             work_dir=str(work_dir))
    with pytest.warns(UserWarning, match=r"class 9: only \d+ of 48 synthetic samples .* duplicated real rows"):
        _, y_res = sampler.fit_resample(X, y)
    used, duplicates = sampler.generation_[9]["used"], sampler.generation_[9]["duplicates"]
    assert used < 48 and duplicates == 48 - used and sampler.generation_[9]["generated"] == 48
    assert (y_res == 9).sum() == 60  # balanced to the row: duplicated real rows make up the rest
    assert np.all(sampler.sample_weight_ == 1.0) and len(sampler.sample_weight_) == len(y_res)


@pytest.mark.slow
def test_fd_policy_drop_and_fail(data, auto_fit, work_dir):
    X, y = data
    strict = dict(fd_max_ratio=1e-6, fd_min_real=4)
    sampler = _sampler(work_dir, {5: 40, 8: 40}, fd_policy="drop", **strict)
    with pytest.warns(UserWarning, match="dropped the synthetic rows"):
        X_res, y_res = sampler.fit_resample(X, y)
    assert sampler.acceptance_ == {5: "dropped", 8: "dropped"} and np.array_equal(y_res[:len(y)], y)
    assert sampler.quality_[5]["n_synthetic"] == 15 and sampler.generation_[5]["used"] == 0
    # No synthetic row ships; duplicated real rows of the class still bring it to its target.
    assert Counter(y_res[len(y):].tolist()) == {5: 15, 8: 20} and len(X_res) == len(X) + 35
    real = {image.tobytes() for image in X}
    assert all(image.tobytes() in real for image in X_res[len(X):])
    with pytest.raises(FDAcceptanceError, match="fd_max_ratio"):
        _sampler(work_dir, {5: 40}, fd_policy="fail", **strict).fit_resample(X, y)


@pytest.mark.slow
def test_drops_into_an_imblearn_pipeline(data, auto_fit, work_dir):
    """Resampled in fit only: the classifier trains on the balanced rows, predicts on the caller's."""
    X, y = data
    seen = []
    flatten = FunctionTransformer(lambda images: seen.append(len(images)) or images.reshape(len(images), -1) / 255)
    pipe = make_pipeline(_sampler(work_dir), flatten, LogisticRegression(max_iter=300)).fit(X, y)
    assert seen == [600] and pipe.predict(X[:5]).shape == (5,) and seen == [600, 5]


@pytest.mark.slow
def test_the_validation_policy_chooses_a_dose_and_returns_weights(data, auto_fit, work_dir, capfd):
    """The default policy: a grid scored on the held-out rows, synthetic rows capped by the chosen dose,
    duplicated real rows for the rest, and a weight per returned row; verbose says what it does on stderr."""
    X, y = data
    sampler = GANOverSampler({9: 60}, gan=GAN, filter=FILTER, work_dir=str(work_dir), verbose=1,
                             mix={"doses": [1.0], "weights": [1.0, 0.5], "seeds": 1}, evaluate={"steps": 60})
    X_res, y_res = sampler.fit_resample(X, y)
    assert "mix: " in capfd.readouterr().err
    mix = sampler.mix_
    assert [(p["dose"], p["weight"]) for p in mix["curve"]] == [(0.0, 1.0), (1.0, 1.0), (1.0, 0.5)]
    assert mix["policy"] == "validation" and mix["reason"]  # the rule itself: tests/test_mix_policy.py
    shipped = sampler.generation_[9]["used"]
    assert shipped == (12 if mix["dose"] == 1.0 and 9 in mix["eligible"] else 0)  # at most 1 per real image
    assert (y_res == 9).sum() == 60 and sampler.generation_[9]["duplicates"] == 48 - shipped
    weights = sampler.sample_weight_
    assert len(weights) == len(y_res) and np.all(weights[: len(y)] == 1.0)
    assert set(weights[len(y): len(y) + shipped]) <= {mix["weight"]} and np.all(weights[len(y) + shipped:] == 1.0)
    assert 0.0 <= sampler.usefulness_["label_agreement"]["9"] <= 1.0
    room = sampler.headroom_  # the real rows of class 9 (held-out split) cut to ¼ and ½ beside the grid
    assert room.fractions == [0.25, 0.5, 1.0] and room.real_rows == [3, 5, 10] and list(room.per_class) == [9]
    assert room.validation_images == 2 and room.curve == "unclear" and "too few to measure it" in room.says
    offered = [p for p in mix["curve"] if p["dose"] and p["synthetic_rows"]]
    assert (room.worth is None) == (not offered)  # no grid point with synthetic rows: nothing to value


@pytest.mark.slow
def test_rgb_per_class_gans_in_a_temporary_folder(data):
    X, y = data
    keep = y < 3
    rgb = np.repeat(X[keep][:, None], 3, axis=1)  # 60/60/60 → make class 2 rare
    rows = np.concatenate([np.flatnonzero(y[keep] == k)[:n] for k, n in enumerate([30, 20, 8])])
    sampler = GANOverSampler(gan=dict(GAN, steps=20, eval_every=0, strategy="per_class"),
                             filter={**FILTER, "feature_steps": 30}, mix=FILL)
    X_res, y_res = sampler.fit_resample(rgb[rows], y[keep][rows])
    assert X_res.shape == (90, 3, 8, 8) and X_res.dtype == np.uint8 and Counter(y_res.tolist()) == {0: 30, 1: 30, 2: 30}
    assert X_res[: len(rows)].tobytes() == rgb[rows].tobytes()
    assert set(sampler.gan_) == {1, 2} and sampler.gan_[2]["checkpoint"] is None  # the folder is gone
    assert sampler.gan_[1]["sha256"] != sampler.gan_[2]["sha256"]


def test_balanced_input_comes_back_unchanged_without_training():
    X = np.random.default_rng(0).integers(0, 256, (10, 8, 8), dtype=np.uint8)
    y = np.repeat(["a", "b"], 5)
    sampler = GANOverSampler()
    X_res, y_res = sampler.fit_resample(X, y)
    assert np.array_equal(X_res, X) and np.array_equal(y_res, y) and X_res is not X
    assert sampler.sampling_strategy_ == {"b": 0} and sampler.gan_ is None and sampler.generation_ == {}


def test_a_callable_strategy_sees_the_callers_labels():
    X, y = _digits_like(classes=2)
    names = np.where(y == 0, "a", "b")
    seen = []
    sampler = GANOverSampler(lambda labels: seen.append(labels) or {"b": 20})  # 20 already: nothing to add
    X_res, y_res = sampler.fit_resample(X, names)
    assert seen[0] is not None and np.array_equal(seen[0], names) and sampler.sampling_strategy_ == {"b": 0}
    assert np.array_equal(y_res, names) and sampler.gan_ is None


def test_clone_and_get_params_round_trip(tmp_path):
    sampler = GANOverSampler("minority", gan=GANConfig(steps=7), filter={"filters": []}, val_fraction=0.2,
                             random_state=3, work_dir=str(tmp_path))
    params = sampler.get_params()
    assert params == {"sampling_strategy": "minority", "image_shape": None, "channel_order": "first",
                      "pixel_range": None, "gan": GANConfig(steps=7), "generate": None, "filter": {"filters": []},
                      "mix": None, "evaluate": None, "val_fraction": 0.2, "device": "auto", "random_state": 3,
                      "work_dir": str(tmp_path), "n_jobs": None, "verbose": 0}
    copy = clone(sampler)
    assert copy is not sampler and copy.get_params() == params and copy.gan is not sampler.gan
    assert GANOverSampler(**params).get_params() == params
    assert copy.set_params(val_fraction=0.1).val_fraction == 0.1 and sampler.val_fraction == 0.2


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(gan={"steps": 0}), ValueError, r"gan\.steps: Input should be greater than or equal to 1"),
    (dict(gan={"stepz": 10}), ValueError, r"gan\.stepz: Extra inputs are not permitted"),
    (dict(filter={"fd_policy": "maybe"}), ValueError, r"filter\.fd_policy"),
    (dict(generate={"target_count": 50}), ValueError, r"generate\.target_count .* sampling_strategy"),
    (dict(evaluate={"workers": 2}), ValueError, r"evaluate\.workers is not used .* n_jobs"),
    (dict(gan="fast"), ValueError, r"'gan' parameter of GANOverSampler must be"),
    (dict(channel_order="middle"), ValueError, r"'channel_order' parameter .* \{'first', 'last'\}|'last', 'first'"),
    (dict(val_fraction=1.0), ValueError, r"'val_fraction' parameter .* range \[0(\.0)?, 1(\.0)?\)"),
    (dict(val_fraction="0.2"), ValueError, r"'val_fraction' parameter"),
    (dict(n_jobs="all"), ValueError, r"'n_jobs' parameter"),
])
def test_bad_settings_are_named_before_any_work(kwargs, error, message):
    """scikit-learn's convention: the constructor only stores (clone and set_params rely on it); the
    first fit_resample names a bad setting before it touches the data."""
    sampler = GANOverSampler(**kwargs)
    with pytest.raises(error, match=message):
        sampler.fit_resample(*_digits_like())


def _digits_like(n=40, classes=2):
    X = np.random.default_rng(0).integers(0, 256, (n, 8, 8), dtype=np.uint8)
    return X, np.arange(n) % classes


@pytest.mark.parametrize("change, message", [
    (lambda X, y: (X.reshape(len(X), -1)[:, :60], y),
     r"60 values per row, which is not a square grayscale image: pass image_shape=\(H, W\)"),
    (lambda X, y: (np.stack([X, X], axis=1), y), r"1 \(grayscale\) or 3 \(RGB\) channels, got 2"),
    (lambda X, y: (np.stack([X] * 3, axis=-1), y), r"channels last\? pass channel_order='last'"),
    (lambda X, y: (X[:, :, :6], y), r"square .* 8×6"),
    (lambda X, y: (X, y[:-1]), r"inconsistent numbers of samples: \[40, 39\]"),
    (lambda X, y: (X, np.where(np.arange(len(y)) == 0, 7, y)), r"at least 2 images .* \{7: 1\}"),
    (lambda X, y: (X.astype(str), y), r"dtype='numeric' is not compatible with arrays of bytes/strings"),
])
def test_bad_inputs_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        GANOverSampler(mix=FILL).fit_resample(*change(*_digits_like()))


@pytest.mark.parametrize("kwargs, message", [
    (dict(image_shape=(8, 9)), r"image_shape=\(8, 9\) does not fit X's 64 values per row"),
    (dict(pixel_range=(1, 1)), r"pixel_range must be \(low, high\) with high > low, got \(1, 1\)"),
])
def test_bad_image_settings_are_named(kwargs, message):
    X, y = _digits_like()
    with pytest.raises(ValueError, match=message):
        GANOverSampler(**kwargs).fit_resample(X.reshape(len(X), -1), y)


@pytest.mark.parametrize("strategy, message", [
    ({5: 30}, r"The \{5\} target class is/are not present in the data"),
    ({0: 3}, r"Originally, there is 14 samples and 3 samples are asked"),
    ("bogus", r"'sampling_strategy' parameter of GANOverSampler must be"),
    (0.5, r"float.* binary"),
])
def test_bad_sampling_strategies_are_named(strategy, message):
    with pytest.raises(ValueError, match=message):
        GANOverSampler(strategy).fit_resample(*_digits_like(classes=3))


def test_random_state_none_or_a_generator_draws_a_seed():
    X, y = _digits_like()
    for state in (None, np.random.RandomState(1)):
        sampler = GANOverSampler("minority", random_state=state)
        sampler.fit_resample(X, y)  # balanced: nothing to train
        assert isinstance(sampler.random_state_, int)


def test_package_exports_the_sampler_lazily():
    code = "import sys, gan_aug.config; print(sorted({'gan_aug.oversampler', 'torch'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
    import gan_aug
    from gan_aug import config, oversampler  # submodules still import through the module __getattr__

    assert gan_aug.__all__ == ["GANOverSampler"] and gan_aug.GANOverSampler is oversampler.GANOverSampler
    assert config.GANConfig is GANConfig and "GANOverSampler" in dir(gan_aug)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = gan_aug.nope
