"""Would a classifier learn from the synthetic rows? Per class, beside FD and KID.

FD does not predict usefulness for classification (Ravuri & Vinyals 2019); these do:
- label agreement: the share of a class's accepted rows that a classifier trained class-balanced on
  the real rows (oversampled, with shifts: the evaluation's ``standard_aug`` recipe) gives the class.
  It is a second opinion, independent of the label filter's own classifier, and it gates the mix: a
  class below ``mix.min_agreement`` gets no synthetic rows;
- the label filter's recall on real validation images per class: how far its verdicts can be trusted;
- Classification Accuracy Score (CAS): the evaluation classifier trained on unfiltered samples of
  every class only, its per-class recall on the real test split, next to the same classifier trained
  on the real rows. Reported, never used for a choice (choices are made on validation).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan_aug.classify import predict
from gan_aug.config import EvaluateConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.evaluate.methods import METHOD_REGISTRY, TrainingSet
from gan_aug.evaluate.runner import fit_method, with_steps
from gan_aug.evaluate.scores import classification_metrics
from gan_aug.metrics.extractors import DomainExtractor
from gan_aug.synthetic import SyntheticSet


@dataclass(frozen=True)
class Usefulness:
    label_agreement: dict[int, float]  # class → share of its accepted rows the balanced classifier agrees with
    filter_val_recall: list[float]  # per class: the label filter's classifier on real validation images
    real_recall: list[float] | None  # per class: the balanced real-rows classifier on the test split
    cas: list[float] | None  # per class: the classifier trained on samples only, on the test split
    cas_samples: int  # per class

    @classmethod
    def from_dict(cls, found: dict) -> "Usefulness":
        """Back from ``to_dict`` (a benchmark keeps it in JSON)."""
        return cls({int(k): v for k, v in found["label_agreement"].items()}, found["filter_val_recall"],
                   found["real_recall"], found["cas"], found["cas_samples"])

    def eligible(self, classes: list[int], min_agreement: float) -> list[int]:
        """The classes whose accepted rows are recognised often enough to ship."""
        return [k for k in classes if self.label_agreement.get(k, 0.0) >= min_agreement]

    def to_dict(self) -> dict:
        overall = lambda values: None if values is None else float(np.mean(values))  # noqa: E731
        return {"label_agreement": {str(k): v for k, v in self.label_agreement.items()},
                "filter_val_recall": self.filter_val_recall, "real_recall": self.real_recall, "cas": self.cas,
                "cas_overall": overall(self.cas), "real_overall": overall(self.real_recall),
                "cas_samples": self.cas_samples}


def recall_per_class(predicted: np.ndarray, data: ImageSet) -> list[float]:
    """Per class of ``data``, the share of its images ``predicted`` (labels, in row order) gets right."""
    return classification_metrics(data.labels, predicted, data.num_classes)["per_class_recall"]


def assess(train: ImageSet, val: ImageSet, test: ImageSet | None, accepted: SyntheticSet,
           cas_rows: SyntheticSet | None, domain: DomainExtractor, evaluate: EvaluateConfig, *,
           device: torch.device | str = "cpu") -> Usefulness:
    """Train the balanced real-rows classifier (and, given samples of every class and a test split, the
    CAS classifier) with the evaluation settings and its first seed, and measure each class."""
    seed, evaluate = evaluate.seed, with_steps(evaluate, len(train))
    judge = fit_method("standard_aug", METHOD_REGISTRY["standard_aug"](train, None, seed), evaluate, seed, device)
    agreement = {}
    for label in np.unique(accepted.labels).tolist():
        rows = accepted.images[accepted.labels == label]
        agreement[int(label)] = float((predict(judge, rows) == label).mean())
    filter_recall = recall_per_class(domain.probabilities(val.images).argmax(axis=1), val)
    cas = None
    if test is not None and cas_rows is not None and len(cas_rows):
        samples = ImageSet(cas_rows.images, cas_rows.labels.astype(np.int64), train.class_names)
        sample_model = fit_method("plain", TrainingSet(samples), evaluate, seed, device)
        cas = recall_per_class(predict(sample_model, test.images), test)
    per_class = int(np.bincount(cas_rows.labels).max()) if cas_rows is not None and len(cas_rows) else 0
    real_recall = None if test is None else recall_per_class(predict(judge, test.images), test)
    return Usefulness(agreement, filter_recall, real_recall, cas, per_class)
