"""The conditional GAN training loop: hinge loss, EMA generator, periodic atomic checkpoints, resume.

The loop knows nothing about its caller: progress goes through a callback.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from gan_aug.checkpoint import Architecture, CheckpointError, load_checkpoint, save_checkpoint
from gan_aug.config import GANConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.device import to_model_input
from gan_aug.io import sha256_file

ProgressFn = Callable[[int, int, dict], None]  # (step, total_steps, latest losses)


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path
    sha256: str
    steps: int
    seconds: float
    resumed_from: int
    history: list[dict] = field(default_factory=list)  # {"step", "loss_d", "loss_g"} every log interval


def class_sampling_weights(labels: np.ndarray, num_classes: int, mode: str) -> torch.Tensor:
    """Per-row sampling weight: 'uniform' keeps class frequencies, 'sqrt' and 'balanced' lift rare classes."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    exponent = {"uniform": 0.0, "sqrt": 0.5, "balanced": 1.0}[mode]
    per_class = np.where(counts > 0, counts ** -exponent, 0.0)
    return torch.as_tensor(per_class[labels], dtype=torch.float64)


def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for ema_p, p in zip(ema.parameters(), model.parameters()):
            ema_p.lerp_(p, 1.0 - decay)
        for ema_b, b in zip(ema.buffers(), model.buffers()):
            ema_b.copy_(b)


class _Trainer:
    """Holds the networks, optimisers and RNG so a step and a checkpoint are each one method."""

    def __init__(self, arch: Architecture, cfg: GANConfig, device: torch.device):
        self.cfg, self.arch, self.device = cfg, arch, device
        torch.manual_seed(cfg.seed)
        generator, discriminator = arch.build()
        self.g, self.d = generator.to(device), discriminator.to(device)
        self.g_ema = copy.deepcopy(self.g).eval()
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr_g, betas=(0.0, 0.9))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr_d, betas=(0.0, 0.9))
        self.rng = torch.Generator().manual_seed(cfg.seed)
        self.step, self.history = 0, []

    def train_step(self, images: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> dict:
        rows = torch.multinomial(weights, self.cfg.batch_size, replacement=True, generator=self.rng)
        real, y = to_model_input(images[rows.to(images.device)]), labels[rows.to(labels.device)]
        z = torch.randn(len(y), self.arch.z_dim, generator=self.rng).to(self.device)
        fake = self.g(z, y)
        loss_d = F.relu(1.0 - self.d(real, y)).mean() + F.relu(1.0 + self.d(fake.detach(), y)).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        loss_g = -self.d(fake, y).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.step += 1
        # Warm-up: early on the average would be dominated by the random initial weights.
        _update_ema(self.g_ema, self.g, min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step)))
        return {"step": self.step, "loss_d": loss_d, "loss_g": loss_g}

    def state(self, config_hash: str) -> dict:
        return {
            "arch": vars(self.arch), "config_hash": config_hash, "step": self.step, "history": self.history,
            "generator": self.g.state_dict(), "generator_ema": self.g_ema.state_dict(),
            "discriminator": self.d.state_dict(), "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(), "rng": self.rng.get_state(),
        }

    def restore(self, state: dict) -> None:
        self.g.load_state_dict(state["generator"])
        self.g_ema.load_state_dict(state["generator_ema"])
        self.d.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.rng.set_state(state["rng"])
        self.step, self.history = int(state["step"]), list(state["history"])


def _resume(trainer: _Trainer, path: Path, config_hash: str) -> None:
    state = load_checkpoint(path, map_location=trainer.device)
    if state["config_hash"] != config_hash or state["arch"] != vars(trainer.arch):
        raise CheckpointError(
            f"{path}: made with other data or GAN settings than this run's; "
            "use a new output folder, or delete the checkpoint to retrain"
        )
    trainer.restore(state)


def train_gan(
    train: ImageSet,
    cfg: GANConfig,
    checkpoint_path: str | Path,
    *,
    config_hash: str,
    device: torch.device | str = "cpu",
    progress: ProgressFn | None = None,
    log_every: int = 50,
) -> TrainResult:
    """Train (or resume, or reuse) the shared conditional GAN; the checkpoint is the only output."""
    checkpoint_path, device, started = Path(checkpoint_path), torch.device(device), time.perf_counter()
    arch = Architecture(cfg.z_dim, train.num_classes, train.image_size, train.channels, cfg.base_channels)
    trainer = _Trainer(arch, cfg, device)
    if checkpoint_path.exists():
        _resume(trainer, checkpoint_path, config_hash)
    resumed_from = trainer.step
    images = torch.from_numpy(train.images).to(device)
    labels = torch.from_numpy(train.labels).to(device)
    weights = class_sampling_weights(train.labels, train.num_classes, cfg.class_sampling)
    trainer.g.train(), trainer.d.train()
    while trainer.step < cfg.steps:
        losses = trainer.train_step(images, labels, weights)
        if trainer.step % log_every == 0 or trainer.step == cfg.steps:
            # .item() syncs with the device: only at log steps, never every step.
            record = {k: (v if k == "step" else round(float(v.detach()), 5)) for k, v in losses.items()}
            trainer.history.append(record)
            if progress is not None:
                progress(trainer.step, cfg.steps, record)
        if trainer.step % cfg.checkpoint_every == 0 or trainer.step == cfg.steps:
            save_checkpoint(checkpoint_path, trainer.state(config_hash))
    return TrainResult(
        checkpoint_path, sha256_file(checkpoint_path), trainer.step,
        time.perf_counter() - started, resumed_from, trainer.history,
    )
