import numpy as np
import pytest

from gan_aug.config import DataConfig, demo_config
from gan_aug.data.analysis import analyse
from gan_aug.data.imageset import ImageSet
from gan_aug.data.load import load_source, make_splits
from gan_aug.data.longtail import long_tail_counts, subsample_counts, subsample_long_tail
from gan_aug.data.split import stratified_split


def test_digits_is_the_real_scikit_learn_set(digits_set):
    from sklearn.datasets import load_digits

    raw = load_digits()
    assert digits_set.images.shape == (1797, 1, 8, 8) and digits_set.images.dtype == np.uint8
    assert digits_set.class_names == tuple(str(i) for i in range(10))
    np.testing.assert_array_equal(digits_set.labels, raw.target)
    # 16 (the maximum ink) maps to 255, 0 to 0, and order is preserved.
    np.testing.assert_array_equal(digits_set.images[:, 0] == 255, raw.images == 16)
    np.testing.assert_array_equal(digits_set.images[:, 0] == 0, raw.images == 0)


def test_imageset_rejects_broken_contracts():
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(np.zeros((2, 1, 4, 4), np.float32), np.zeros(2, np.int64), ("a",))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\)"):
        ImageSet(np.zeros((2, 1, 4, 4), np.uint8), np.array([0, 1]), ("a",))


def test_imageset_save_load_round_trip(tmp_path, tiny_set):
    back = ImageSet.load(tiny_set.subset(np.array([3, 1, 20])).save(tmp_path / "s.npz"))
    np.testing.assert_array_equal(back.images, tiny_set.images[[3, 1, 20]])
    np.testing.assert_array_equal(back.source_index, [3, 1, 20])
    assert back.class_names == tiny_set.class_names


def test_exponential_profile_hits_the_ratio_and_decreases():
    counts = long_tail_counts(np.array([100] * 10), "exponential", 20.0)
    assert counts[0] == 100 and counts[-1] == 5
    assert (np.diff(counts) <= 0).all()


def test_step_profile_has_two_levels():
    counts = long_tail_counts(np.array([60, 80, 90, 70]), "step", 10.0, step_minority_classes=2)
    np.testing.assert_array_equal(counts, [60, 60, 6, 6])


def test_unknown_profile_is_named():
    with pytest.raises(ValueError, match="'zipf'"):
        long_tail_counts(np.array([10, 10]), "zipf", 2.0)


def test_subsample_is_seeded_and_keeps_provenance(digits_set):
    a = subsample_long_tail(digits_set, "exponential", 20.0, seed=3)
    b = subsample_long_tail(digits_set, "exponential", 20.0, seed=3)
    c = subsample_long_tail(digits_set, "exponential", 20.0, seed=4)
    np.testing.assert_array_equal(a.source_index, b.source_index)
    assert not np.array_equal(a.source_index, c.source_index)
    np.testing.assert_array_equal(a.images, digits_set.images[a.source_index])
    np.testing.assert_array_equal(a.class_counts(), long_tail_counts(digits_set.class_counts(), "exponential", 20.0))


def test_subsample_counts_keeps_exact_counts_and_names_shortfalls(digits_set):
    counts = [150, 100, 60, 40, 20, 10, 8, 6, 4, 2]  # a step-like protocol, in the spirit of GAMO's
    out = subsample_counts(digits_set, counts, seed=0)
    assert out.class_counts().tolist() == counts
    np.testing.assert_array_equal(out.images, digits_set.images[out.source_index])
    with pytest.raises(ValueError, match=r"class 3 \(3\): 500 wanted, 183 available"):
        subsample_counts(digits_set, [10, 10, 10, 500, 10, 10, 10, 10, 10, 10], seed=0)
    with pytest.raises(ValueError, match="9 counts given for 10 classes"):
        subsample_counts(digits_set, counts[:9], seed=0)


def test_split_is_stratified_and_disjoint(digits_set):
    splits = stratified_split(digits_set, 0.15, 0.25, seed=0)
    parts = [set(p.source_index.tolist()) for p in (splits.train, splits.val, splits.test)]
    assert sum(map(len, parts)) == len(digits_set) and len(set().union(*parts)) == len(digits_set)
    share = splits.test.class_counts() / digits_set.class_counts()
    assert np.allclose(share, 0.25, atol=0.02)


def test_split_error_names_the_settings(tiny_set):
    lonely = tiny_set.subset(np.array([0, 1, 2, 3, 12, 13, 18]))  # class 'c' has one image
    with pytest.raises(ValueError, match="data.val_fraction"):
        stratified_split(lonely, 0.15, 0.25, seed=0)


def test_demo_protocol_long_tails_train_and_val_but_not_test():
    config = demo_config().data
    source = load_source(config).data
    splits = make_splits(source, config)
    train_counts, test_counts = splits.train.class_counts(), splits.test.class_counts()
    assert train_counts[0] / train_counts[-1] >= 19  # imbalance ratio 20, rounded
    assert (np.diff(train_counts) <= 0).all()
    assert test_counts.min() >= 40  # the test split keeps every class measurable
    assert splits.val.class_counts()[-1] < splits.val.class_counts()[0]
    for part in (splits.val, splits.test):  # real images, traceable to the source
        np.testing.assert_array_equal(part.images, source.images[part.source_index])


def test_no_long_tail_keeps_all_rows():
    config = DataConfig(long_tail=None)
    splits = make_splits(load_source(config).data, config)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 1797


def test_analyse_targets_and_minorities(tiny_set):
    balance = analyse(tiny_set)
    assert balance.targets == (12, 12, 12)
    assert balance.needed == (0, 6, 9)
    assert balance.minority_classes == (1, 2)
    assert balance.imbalance_ratio == 4.0
    assert analyse(tiny_set, target_count=8).needed == (0, 2, 5)


def test_analyse_refuses_a_class_without_images(tiny_set):
    with pytest.raises(ValueError, match="'c'"):
        analyse(tiny_set.subset(np.arange(18)))
