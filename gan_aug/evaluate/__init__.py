"""Downstream evaluation: does training on the GAN's mix beat what people would do instead?

Every method (plain, class-weighted loss, random oversampling, SMOTE, ordinary augmentation, and
the GAN's shipped mix with its weights) trains the same classifier with the same budget on the same
seeds and is scored on the same real test set, so the only thing that changes is the data.
"""
from gan_aug.data.resample import random_oversample
from gan_aug.evaluate.intervals import mean_interval, paired_comparison
from gan_aug.evaluate.methods import (
    GAN_METHODS,
    METHOD_REGISTRY,
    METHODS,
    TrainingSet,
    balanced_class_weights,
    register_method,
    smote,
)
from gan_aug.evaluate.runner import (
    PRIMARY_METRIC,
    evaluate_downstream,
    evaluation_seeds,
    fit_and_score,
    fit_method,
    rarest_classes,
    with_steps,
)
from gan_aug.evaluate.scores import HEADLINE_METRICS, classification_metrics

__all__ = [
    "GAN_METHODS", "HEADLINE_METRICS", "METHODS", "METHOD_REGISTRY", "PRIMARY_METRIC", "TrainingSet",
    "balanced_class_weights", "classification_metrics", "evaluate_downstream", "evaluation_seeds",
    "fit_and_score", "fit_method", "mean_interval", "rarest_classes", "with_steps", "paired_comparison",
    "random_oversample", "register_method", "smote",
]
