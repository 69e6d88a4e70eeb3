"""The generator's auxiliary classification loss (``gan.classifier_weight``): a frozen classifier of the
real data scores every generated batch against the labels it was asked for.

Why: on a tail class of a few dozen images the discriminator learns those images by heart, and the
conditional generator's samples of the class drift toward the head classes it resembles; the label
filter then rejects almost all of them (Fashion-MNIST fewshot: 7, 3 and 0 of 680 kept). AC-GAN's
term pulls samples toward their class; here the classifier is the domain classifier the filters use,
trained class-balanced on real images only, so the pull comes from real data and not from a head
that D learns alongside the fakes. The risk, measured rather than assumed: samples that satisfy the
classifier without looking more like the class (bench/gain.py scores them on real test images).
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gan_aug.hashing import chunks_sha256


class ClassifierGuide(nn.Module):
    """``classifier`` (taking model inputs in [-1, 1]) frozen in eval mode, and ``labels``: the classifier's
    class for each of the generator's labels (a one-class GAN's label 0 is its data-set class)."""

    def __init__(self, classifier: nn.Module, labels: Sequence[int]):
        super().__init__()
        self.classifier = copy.deepcopy(classifier).eval().requires_grad_(False)
        self.register_buffer("labels", torch.as_tensor(list(labels), dtype=torch.long))

    def train(self, mode: bool = True) -> "ClassifierGuide":
        """Always eval: batch norm keeps the statistics of real images, whatever the trainer sets."""
        return super().train(False)

    def forward(self, images: torch.Tensor, model_labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the classifier on ``images`` against the classes of ``model_labels``."""
        return F.cross_entropy(self.classifier(images).float(), self.labels[model_labels])

    def fingerprint(self) -> str:
        """sha256 of the classifier's weights and the label map: a GAN trained with another guide is
        another GAN, so its checkpoint must not be resumed or reused."""
        tensors = [*self.classifier.state_dict().values(), self.labels]
        return chunks_sha256(t.detach().cpu().contiguous().numpy().tobytes() for t in tensors)
