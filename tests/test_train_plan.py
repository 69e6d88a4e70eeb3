"""A training run's budget, width and precision when settings are left unset, and the time budget at work."""
from __future__ import annotations

import math

import torch

from gan_aug.checkpoint import load_checkpoint
from gan_aug.config import GANConfig
from gan_aug.models.generator import Generator
from gan_aug.train import Budget, budget, network_width, train_gan
from gan_aug.train.loss import group_spectral_penalty

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
TINY = dict(z_dim=8, base_channels=8, batch_size=8, checkpoint_every=5)


def test_unset_budgets_follow_the_device_and_the_data():
    cfg = GANConfig()
    assert budget(cfg, CUDA, 10_000, 28) == Budget(20_000, None)
    assert budget(cfg, CPU, 10_000, 28) == Budget(200_000, 500.0)  # 0.05 s per 28×28 image
    assert budget(cfg, CPU, 1_000, 8).seconds == 30.0  # never below 30 s
    assert budget(cfg, CPU, 100_000, 64).seconds == 1800.0  # never above 30 min
    assert budget(GANConfig(time_budget_s=0), CPU, 10_000, 28) == Budget(20_000, None)  # 0: no time limit


def test_a_step_count_that_was_set_is_cut_short_only_by_a_time_budget_that_was_set():
    assert budget(GANConfig(steps=1500), CPU, 10_000, 28) == Budget(1500, None)
    assert budget(GANConfig(steps=1500, time_budget_s=60), CPU, 10_000, 28) == Budget(1500, 60.0)
    assert Budget(100, 10.0).reason_to_stop(100, 1.0) == "steps"
    assert Budget(100, 10.0).reason_to_stop(50, 10.0) == "time budget"
    assert Budget(100, 10.0).reason_to_stop(50, 9.0) is None
    assert Budget(1000, 10.0).expected_steps(50, 5.0) == 100 and Budget(1000).expected_steps(50, 5.0) == 1000


def test_small_images_get_narrower_networks():
    assert network_width(GANConfig(), 28) == 16 and network_width(GANConfig(), 64) == 32
    assert network_width(GANConfig(base_channels=48), 28) == 48


def test_a_time_budget_ends_the_run_and_the_finished_run_is_not_continued(tmp_path, tiny_set):
    cfg = GANConfig(steps=100_000, time_budget_s=0.5, **TINY)
    first = train_gan(tiny_set, cfg, tmp_path / "g.pt", config_hash="h")
    assert first.stop_reason == "time budget" and 0 < first.steps < 100_000 and first.train_seconds >= 0.5
    state = load_checkpoint(first.checkpoint)
    assert state["stop_reason"] == "time budget" and state["step"] == first.steps  # saved at the stop
    again = train_gan(tiny_set, cfg, tmp_path / "g.pt", config_hash="h")
    assert again.resumed_from == again.steps == first.steps and again.sha256 == first.sha256


def test_gsr_is_zero_at_rest_and_grows_with_a_dominant_direction():
    generator = Generator(8, 3, 8, 1, 8)
    assert group_spectral_penalty(generator).item() == 0.0  # gains 1, biases 0: nothing to regularise
    with torch.no_grad():
        generator.blocks[0].norm1.gain.weight[2] += 0.5
    penalty = group_spectral_penalty(generator)
    assert penalty.item() > 0 and penalty.requires_grad


def test_gsr_trains(tmp_path, tiny_set):
    result = train_gan(tiny_set, GANConfig(steps=4, gsr_weight=0.5, **TINY), tmp_path / "g.pt", config_hash="h",
                       log_every=1)
    assert result.steps == 4 and all(math.isfinite(r["loss_g"]) for r in result.history)
