"""The classifier trainer's row weights and deferred rows, checked against closed forms."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_aug.classify import _RowSampler, _WeightedLoss, train_classifier


def test_the_weighted_loss_is_pytorchs_class_weighted_mean_when_rows_weigh_one():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    class_weights = np.array([1.0, 2.0, 0.5])
    ours = _WeightedLoss(class_weights, None, torch.device("cpu"))(logits, y, torch.arange(6))
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(class_weights, dtype=torch.float32))(logits, y)
    torch.testing.assert_close(ours, theirs)


def test_row_weights_scale_each_rows_share_of_the_loss():
    torch.manual_seed(0)
    logits, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    rows = torch.tensor([0, 1, 2, 3])
    weights = np.array([1.0, 0.5, 0.0, 1.0])
    per_row = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    expected = (per_row * torch.tensor(weights, dtype=torch.float32)).sum() / 4
    torch.testing.assert_close(_WeightedLoss(None, weights, torch.device("cpu"))(logits, y, rows), expected)


def test_deferred_rows_are_drawn_only_after_their_share_of_training():
    late = np.zeros(100, bool)
    late[80:] = True
    sampler = _RowSampler(100, 64, seed=0, late=late, late_step=10)
    early = torch.cat([sampler(step) for step in range(1, 11)])
    later = torch.cat([sampler(step) for step in range(11, 51)])
    assert early.max() < 80  # none of the deferred rows before step 10
    assert (later >= 80).float().mean() == pytest.approx(0.2, abs=0.05)  # then drawn like any row
    with pytest.raises(ValueError, match="every row is deferred"):
        _RowSampler(10, 4, seed=0, late=np.ones(10, bool), late_step=5)


def test_without_deferral_or_weights_the_draws_are_unchanged():
    plain = _RowSampler(50, 8, seed=3, late=None, late_step=0)
    rng = torch.Generator().manual_seed(3)
    assert torch.equal(plain(1), torch.randint(50, (8,), generator=rng))


def test_a_classifier_trains_with_weights_and_deferral(tiny_set):
    weights = np.where(tiny_set.labels == 2, 0.5, 1.0)
    model = train_classifier(tiny_set.images, tiny_set.labels, 3, steps=5, batch_size=8, sample_weights=weights,
                             late_rows=tiny_set.labels == 2, late_from=0.4)
    assert not model.training


def test_the_model_is_a_name_built_after_seeding_or_a_network_trained_as_given(tiny_set):
    """An architecture name is built after the seed is set (the seed fixes the initial weights); a built
    network is trained itself, from the weights it came with."""
    from gan_aug.models.classifier import SmallCNN

    args = (tiny_set.images, tiny_set.labels, 3)
    by_name = train_classifier(*args, steps=3, batch_size=8, seed=4, model="small_cnn", width=8)
    torch.manual_seed(4)
    given = SmallCNN(3, channels=1, width=8)
    trained = train_classifier(*args, steps=3, batch_size=8, seed=4, model=given)
    assert trained is given
    assert all(torch.equal(a, b) for a, b in zip(by_name.state_dict().values(), given.state_dict().values()))
    with pytest.raises(ValueError, match="unknown classifier"):
        train_classifier(*args, steps=1, model="vgg")
