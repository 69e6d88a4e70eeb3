"""Per-class best weights and early stop, from quality checks: keeps, for every class, the weights that
gave it its lowest FD, and says when no class improves any more, in FD or in how often a classifier
recognises its samples. Knows nothing of GANs: it is fed the check's numbers and a way to read the
current weights."""
from __future__ import annotations

from typing import Callable

import torch

WeightsFn = Callable[[], dict[str, torch.Tensor]]  # the current weights, read only when some class improved
AGREEMENT_GAIN = 0.01  # a rise in the share of recognised samples that counts as improving


class EarlyStopTracker:
    """Stops after ``patience`` checks in a row where no class's FD fell by more than ``min_delta``
    (relative) and no class's recognition rose by more than ``AGREEMENT_GAIN``; 0 never stops, and a
    check at ``last_step`` is the end, never an early stop."""

    def __init__(self, patience: int, min_delta: float, last_step: int):
        self.patience, self.min_delta, self.last_step = patience, min_delta, last_step
        self.quality_history: list[dict] = []  # {"step", "fd": {class: FD}} per check
        self.best: dict[int, dict] = {}  # class → {"step", "fd"} of the weights kept
        self.best_agreement: dict[int, float] = {}  # class → the highest share of its samples recognised
        self.snapshots: dict[int, dict] = {}  # step → weights, for steps some class's best refers to
        self.checks_without_gain, self.stopped_early = 0, False

    def check(self, step: int, distances: dict[int, float | None], weights: WeightsFn,
              agreement: dict[int, float] | None = None) -> dict:
        """Record one check at ``step`` (FD None: not measurable for that class; ``agreement``: the share
        of each class's samples a classifier gives that class) and return its record."""
        improved = self._update_best(step, distances)
        improved |= self._update_agreement(agreement or {})
        self._keep_snapshots(step, weights)
        self.checks_without_gain = 0 if improved else self.checks_without_gain + 1
        self.stopped_early = (bool(self.patience) and self.checks_without_gain >= self.patience
                              and step < self.last_step)
        record = {"step": step, "fd": {str(k): None if v is None else round(v, 4) for k, v in distances.items()}}
        if agreement:
            record["agreement"] = {str(k): round(v, 4) for k, v in agreement.items()}
        self.quality_history.append(record)
        return record

    def _update_best(self, step: int, distances: dict[int, float | None]) -> bool:
        """A class's best follows any decrease; only a drop beyond ``min_delta`` counts as a gain."""
        improved = False
        for label, fd in distances.items():
            best = self.best.get(label)
            if fd is not None and (best is None or fd < best["fd"]):
                improved |= best is None or fd < best["fd"] * (1.0 - self.min_delta)
                self.best[label] = {"step": step, "fd": round(fd, 4)}
        return improved

    def _update_agreement(self, agreement: dict[int, float]) -> bool:
        improved = False
        for label, share in agreement.items():
            improved |= share > self.best_agreement.get(label, -1.0) + AGREEMENT_GAIN
            self.best_agreement[label] = max(share, self.best_agreement.get(label, share))
        return improved

    def _keep_snapshots(self, step: int, weights: WeightsFn) -> None:
        if any(entry["step"] == step for entry in self.best.values()):
            self.snapshots[step] = {k: v.detach().to("cpu", copy=True) for k, v in weights().items()}
        kept = {entry["step"] for entry in self.best.values()}
        self.snapshots = {s: state for s, state in self.snapshots.items() if s in kept}

    def state_dict(self) -> dict:
        return {
            "quality_history": self.quality_history, "best": {str(k): v for k, v in self.best.items()},
            "snapshots": {str(k): v for k, v in self.snapshots.items()},
            "checks_without_gain": self.checks_without_gain, "stopped_early": self.stopped_early,
            "best_agreement": {str(k): v for k, v in self.best_agreement.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.quality_history = list(state["quality_history"])
        self.best = {int(k): dict(v) for k, v in state["best"].items()}
        self.snapshots = {int(k): v for k, v in state["snapshots"].items()}
        self.checks_without_gain, self.stopped_early = int(state["checks_without_gain"]), bool(state["stopped_early"])
        self.best_agreement = {int(k): float(v) for k, v in state["best_agreement"].items()}
