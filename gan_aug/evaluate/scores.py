"""Classification scores on the real test set, as plain floats and ints that go straight to JSON."""
from __future__ import annotations

import numpy as np
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    recall_score,
)

# The numbers every method is compared on (means and intervals over seeds).
HEADLINE_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "g_mean", "few_shot_recall")
FEW_SHOT = 3  # few-shot recall: the mean recall of this many rarest training classes


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict:
    """Headline scores, per-class recall and the confusion matrix.

    Per-class recall is listed for every class (zero when a class is absent from ``y_true``),
    since the rare classes are the ones a user needs to see. Balanced accuracy follows
    scikit-learn (mean recall over the classes present in ``y_true``); G-mean is the geometric
    mean of those recalls (imbalanced-learn), so one class never recognised makes it zero.
    The confusion matrix has true classes as rows and predictions as columns.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(f"y_true and y_pred must be equal-length non-empty 1-D arrays, "
                         f"got shapes {y_true.shape} and {y_pred.shape}")
    labels = list(range(num_classes))
    present = sorted(set(y_true.tolist()))
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "g_mean": float(geometric_mean_score(y_true, y_pred, labels=present, average="multiclass")),
        "per_class_recall": [float(value) for value in recall],
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).astype(int).tolist(),
    }
