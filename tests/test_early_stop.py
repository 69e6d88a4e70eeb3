"""The per-class best-weights tracker and its early-stop rule, fed FD values directly: no GAN needed."""
import io

import pytest
import torch

from gan_aug.train.early_stop import EarlyStopTracker


class Weights:
    """Stands in for the EMA generator: weights that change every step, and how often they were read."""

    def __init__(self):
        self.step, self.reads = 0, 0

    def __call__(self) -> dict[str, torch.Tensor]:
        self.reads += 1
        return {"w": torch.full((2,), float(self.step))}


def run(tracker: EarlyStopTracker, checks: dict[int, dict[int, float | None]], weights: Weights | None = None):
    weights = weights or Weights()
    for step, distances in checks.items():
        weights.step = step
        tracker.check(step, distances, weights)
    return tracker


def test_a_drop_smaller_than_min_delta_updates_the_best_but_not_patience():
    tracker = run(EarlyStopTracker(patience=3, min_delta=0.1, last_step=100), {10: {0: 10.0}, 20: {0: 9.5}})
    assert tracker.best[0] == {"step": 20, "fd": 9.5}  # the lower FD is kept...
    assert tracker.checks_without_gain == 1 and not tracker.stopped_early  # ...but is no gain


def test_a_drop_beyond_min_delta_resets_patience():
    tracker = run(EarlyStopTracker(patience=3, min_delta=0.1, last_step=100),
                  {10: {0: 10.0}, 20: {0: 9.9}, 30: {0: 9.8}, 40: {0: 8.0}})
    assert tracker.checks_without_gain == 0 and tracker.best[0]["step"] == 40


def test_one_class_improving_is_enough_and_a_rise_never_replaces_the_best():
    tracker = run(EarlyStopTracker(patience=1, min_delta=0.0, last_step=100),
                  {10: {0: 5.0, 1: 5.0}, 20: {0: 6.0, 1: 4.0}})
    assert tracker.best == {0: {"step": 10, "fd": 5.0}, 1: {"step": 20, "fd": 4.0}}
    assert tracker.checks_without_gain == 0 and not tracker.stopped_early


def test_stops_after_patience_checks_without_gain():
    tracker = EarlyStopTracker(patience=2, min_delta=0.0, last_step=100)
    run(tracker, {10: {0: 5.0}, 20: {0: 5.0}})
    assert not tracker.stopped_early
    run(tracker, {30: {0: 7.0}})
    assert tracker.stopped_early and tracker.checks_without_gain == 2


def test_patience_zero_never_stops():
    tracker = run(EarlyStopTracker(patience=0, min_delta=0.0, last_step=100),
                  {step: {0: 5.0} for step in range(10, 100, 10)})
    assert tracker.checks_without_gain == 8 and not tracker.stopped_early


def test_the_last_step_is_the_end_not_an_early_stop():
    tracker = run(EarlyStopTracker(patience=1, min_delta=0.0, last_step=20), {10: {0: 5.0}, 20: {0: 5.0}})
    assert tracker.checks_without_gain == 1 and not tracker.stopped_early


def test_unmeasurable_classes_are_skipped_and_recorded_as_none():
    tracker = run(EarlyStopTracker(patience=1, min_delta=0.0, last_step=100), {10: {0: None, 1: 3.14159}})
    assert tracker.best == {1: {"step": 10, "fd": 3.1416}}
    assert tracker.quality_history == [{"step": 10, "fd": {"0": None, "1": 3.1416}}]
    run(tracker, {20: {0: None, 1: None}})
    assert tracker.stopped_early  # nothing measurable is no gain


def test_snapshots_are_kept_only_for_steps_some_best_refers_to():
    weights = Weights()
    tracker = run(EarlyStopTracker(patience=0, min_delta=0.0, last_step=100),
                  {10: {0: 5.0, 1: 5.0}, 20: {0: 4.0, 1: 6.0}, 30: {0: 4.5, 1: 7.0}, 40: {0: 3.0, 1: 4.0}}, weights)
    assert set(tracker.snapshots) == {40}  # 10 and 20 were superseded; 30 improved no class
    assert weights.reads == 3  # the weights are read only when some class improved
    torch.testing.assert_close(tracker.snapshots[40]["w"], torch.full((2,), 40.0))


def test_snapshots_are_copies_not_views_of_the_live_weights():
    live = {"w": torch.zeros(2)}
    tracker = EarlyStopTracker(patience=0, min_delta=0.0, last_step=100)
    tracker.check(10, {0: 5.0}, lambda: live)
    live["w"].add_(1.0)
    assert torch.equal(tracker.snapshots[10]["w"], torch.zeros(2))


def test_state_round_trips_through_a_checkpoint_and_decides_the_same():
    checks = {10: {0: 5.0, 1: 5.0}, 20: {0: 4.0, 1: 6.0}}
    original = run(EarlyStopTracker(patience=2, min_delta=0.1, last_step=100), checks)
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)  # as in a checkpoint: string keys, weights_only on load
    restored = EarlyStopTracker(patience=2, min_delta=0.1, last_step=100)
    restored.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    for tracker in (original, restored):
        run(tracker, {30: {0: 3.9, 1: 6.5}, 40: {0: 4.0, 1: 5.0}})
    for key in ("best", "checks_without_gain", "stopped_early", "quality_history"):
        assert getattr(restored, key) == getattr(original, key)
    assert restored.stopped_early and set(restored.snapshots) == set(original.snapshots) == {10, 30}


def test_state_dict_uses_the_checkpoint_keys():
    tracker = run(EarlyStopTracker(patience=1, min_delta=0.0, last_step=100), {10: {3: 2.0}})
    state = tracker.state_dict()
    assert list(state) == ["quality_history", "best", "snapshots", "checks_without_gain", "stopped_early",
                           "best_agreement"]
    assert state["best"] == {"3": {"step": 10, "fd": 2.0}} and set(state["snapshots"]) == {"10"}


@pytest.mark.parametrize("min_delta", [0.0, 0.5])
def test_the_first_measurement_of_a_class_is_always_a_gain(min_delta):
    tracker = run(EarlyStopTracker(patience=1, min_delta=min_delta, last_step=100), {10: {0: 5.0}, 20: {1: 9.0}})
    assert tracker.checks_without_gain == 0 and not tracker.stopped_early


def test_a_class_that_is_recognised_more_often_is_a_gain_even_when_fd_stalls():
    tracker = EarlyStopTracker(patience=2, min_delta=0.1, last_step=100)
    weights = Weights()
    for step, share in ((10, 0.50), (20, 0.70), (30, 0.705), (40, 0.70)):
        weights.step = step
        tracker.check(step, {0: 5.0}, weights, agreement={0: share})
    # 10: first check; 20: recognition rose 0.2 (a gain though FD stayed); 30: +0.005 is no gain; 40: none.
    assert tracker.checks_without_gain == 2 and tracker.stopped_early
    assert tracker.best_agreement == {0: 0.705} and tracker.quality_history[1]["agreement"] == {"0": 0.7}
