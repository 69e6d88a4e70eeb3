"""GANOverSampler as a scikit-learn / imbalanced-learn citizen: the estimator checks both libraries
ship, 2-D float X as `load_digits(return_X_y=True)` gives it, and a pipeline under cross_validate.

The checks that feed tabular data (2, 3 or 20 random features a row) cannot apply to an image
sampler; imbalanced-learn's data-driven sampler checks run a second time on image rows instead (their
data generator swapped for 8×8 digits), so what they assert is still checked."""
from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest
from imblearn.pipeline import make_pipeline
from imblearn.utils import estimator_checks as imblearn_checks
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.utils import estimator_checks as sklearn_checks

from gan_aug import GANOverSampler

# The cheapest settings that still run every stage: a 5-step GAN, no sample filters, every synthetic
# row the classes need (a fixed dose no class reaches).
FAST = dict(gan=dict(steps=5, eval_every=0), filter=dict(filters=[], feature_steps=5, fd_max_ratio=1e6,
                                                          bootstrap_rounds=10),
            mix=dict(policy="fixed", dose=100.0, min_agreement=0.0), evaluate=dict(steps=5))

# imbalanced-learn's checks whose data are not images, and why they do not apply.
TABULAR = {
    "check_samplers_fit": "30 rows of 2 random features: not an image",
    "check_samplers_fit_resample": "20 random features a row: not an image (runs on image rows below)",
    "check_samplers_sampling_strategy_fit_resample": "20 random features a row (runs on image rows below)",
    "check_samplers_pandas": "20 random features a row (runs on image rows below)",
    "check_samplers_pandas_sparse": "sparse pixel matrices are not supported (sparse tag off)",
    "check_samplers_list": "20 random features a row (runs on image rows below)",
    "check_samplers_multiclass_ova": "20 random features a row (runs on image rows below)",
    "check_samplers_preserve_dtype": "20 random features a row (runs on image rows below)",
    "check_samplers_sample_indices": "20 random features a row (runs on image rows below)",
    "check_samplers_2d_target": "20 random features a row (runs on image rows below)",
    "check_sampler_get_feature_names_out": "3 features a row: not an image",
    "check_sampler_get_feature_names_out_pandas": "3 features a row: not an image",
}
# The ones that run again with image rows: everything above but the truly tabular ones.
ON_IMAGES = [name for name, why in TABULAR.items() if "below" in why]


def _name(check) -> str:
    return getattr(getattr(check, "func", check), "__name__", str(check))


def _run(checks) -> dict[str, str]:
    """Each check's outcome: 'passed', or the exception that stopped it."""
    outcome = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for estimator, check in checks:
            try:
                check(estimator)
                outcome[_name(check)] = "passed"
            except Exception as error:  # noqa: BLE001 - the outcome is the test's data
                outcome[_name(check)] = f"{type(error).__name__}: {error}"
    return outcome


@pytest.mark.slow
def test_scikit_learns_estimator_checks_pass():
    outcome = _run(sklearn_checks.estimator_checks_generator(GANOverSampler(**FAST), legacy=True))
    failed = {name: why for name, why in outcome.items() if why != "passed"}
    # Array API inputs are checked only with SCIPY_ARRAY_API=1 (a scipy-wide switch): skipped there.
    assert set(failed) <= {"check_array_api_input"}, failed
    assert len(outcome) >= 40 and "check_do_not_raise_errors_in_init_or_set_params" in outcome


@pytest.mark.slow
def test_imbalanced_learns_sampler_checks_pass_where_they_apply():
    outcome = _run(imblearn_checks.estimator_checks_generator(GANOverSampler(**FAST)))
    assert {name for name, why in outcome.items() if why == "passed"} == {
        "check_target_type", "check_samplers_one_label"}
    for name, _why in TABULAR.items():  # fails because the data are not images, and says so
        assert "not a square grayscale image" in outcome[name] or "Sparse data" in outcome[name], (name, outcome[name])


def _digit_rows():
    """1000 digit rows (64 floats 0..16) in three classes of 200/300/500, as the checks' own data."""
    X, y = load_digits(return_X_y=True)
    rows = np.concatenate([np.flatnonzero(y == k) for k in range(3)])
    rng = np.random.default_rng(0)
    picks = np.concatenate([rng.choice(rows[y[rows] == k], n) for k, n in enumerate([200, 300, 497])])
    return X[picks], y[picks]


@pytest.mark.slow
def test_imbalanced_learns_data_checks_pass_on_image_rows(monkeypatch, tmp_path):
    monkeypatch.setattr(imblearn_checks, "sample_dataset_generator", _digit_rows)
    sampler = GANOverSampler(image_shape=(8, 8), pixel_range=(0, 16), work_dir=str(tmp_path), **FAST)
    checks = [(sampler, check) for sampler, check in imblearn_checks.estimator_checks_generator(sampler)
              if _name(check) in ON_IMAGES]
    outcome = _run(checks)
    assert outcome == {name: "passed" for name in ON_IMAGES}


@pytest.mark.slow
def test_digits_as_loaded_in_a_pipeline_under_cross_validate(tmp_path):
    """2-D float X from 0 to 16, as `load_digits(return_X_y=True)` gives it, through
    make_pipeline(GANOverSampler(image_shape=(8, 8)), LogisticRegression()) in cross_validate: the
    sampler resamples each training fold only, and the pipeline scores the untouched test folds."""
    X, y = load_digits(return_X_y=True)
    rows = np.concatenate([np.flatnonzero(y == k)[:n] for k, n in enumerate([60, 60, 15])])
    X, y = X[rows], y[rows]
    sampler = GANOverSampler(image_shape=(8, 8), work_dir=str(tmp_path), **FAST)
    model = make_pipeline(sampler, LogisticRegression(max_iter=500))
    with pytest.warns(UserWarning, match=r"pixel_range not given: X holds float64 values from 0 to 16"):
        scores = cross_validate(model, X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0),
                                return_estimator=True, error_score="raise")
    assert len(scores["test_score"]) == 3 and min(scores["test_score"]) > 0.8
    for fitted in scores["estimator"]:
        resampler = fitted.steps[0][1]
        assert resampler.sampling_strategy_ == {1: 0, 2: 30} and resampler.n_features_in_ == 64
    X_res, y_res = GANOverSampler(image_shape=(8, 8), pixel_range=(0, 16), work_dir=str(tmp_path),
                                  **FAST).fit_resample(X, y)
    assert Counter(y_res.tolist()) == {0: 60, 1: 60, 2: 60} and X_res.dtype == np.float64
    assert np.array_equal(X_res[: len(X)], X)  # real rows unchanged
    synthetic = X_res[len(X):]
    assert synthetic.shape == (45, 64) and synthetic.min() >= 0 and synthetic.max() <= 16  # the caller's units
