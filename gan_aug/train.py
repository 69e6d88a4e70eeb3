"""The conditional GAN training loop, built for small classes and fast on a GPU.

Hinge loss; DiffAugment on everything the discriminator sees; LeCam or R1 regularisation; an EMA
generator for sampling; per-class FD checks on held-out images that keep the best EMA weights per
class and stop early when no class improves. On CUDA: bf16 autocast, channels-last, fused Adam,
optional ``torch.compile``, and random draws on the device so the inner loop never waits for the
host. The loop knows nothing about its caller: progress goes through a callback.
"""
from __future__ import annotations

import contextlib
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
from gan_aug.io import DiskFullError, remove_stale_temps, sha256_file
from gan_aug.models.diffaugment import diff_augment, resolve_policy
from gan_aug.monitor import QualityMonitor

ProgressFn = Callable[[int, int, dict], None]  # (step, total_steps, latest record)
LECAM_DECAY = 0.99
# Adaptive augmentation (Karras et al. 2020): raise p while the share of real images D scores
# positive exceeds ADA_TARGET (D is memorising them), lower it otherwise. p can cross [0, 1] in
# ADA_SPEED_IMAGES real images, adjusted every ADA_INTERVAL steps.
ADA_TARGET, ADA_SPEED_IMAGES, ADA_INTERVAL = 0.6, 100_000, 4


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path
    sha256: str
    steps: int
    seconds: float
    resumed_from: int
    history: list[dict] = field(default_factory=list)  # {"step", "loss_d", "loss_g", "images_per_s"}
    quality_history: list[dict] = field(default_factory=list)  # {"step", "fd": {class: FD}} per check
    best: dict[int, dict] = field(default_factory=dict)  # class → {"step", "fd"} of the weights kept
    stopped_early: bool = False

    def to_dict(self) -> dict:
        """JSON-ready (class keys as strings), for Prefect task results and metrics.json."""
        return {
            "checkpoint": str(self.checkpoint), "sha256": self.sha256, "steps": self.steps,
            "seconds": round(self.seconds, 2), "resumed_from": self.resumed_from, "history": self.history,
            "quality_history": self.quality_history, "best": {str(k): v for k, v in self.best.items()},
            "stopped_early": self.stopped_early,
        }


def class_sampling_weights(labels: np.ndarray, num_classes: int, mode: str) -> torch.Tensor:
    """Per-row sampling weight: 'uniform' keeps class frequencies, 'sqrt' and 'balanced' lift rare classes."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    exponent = {"uniform": 0.0, "sqrt": 0.5, "balanced": 1.0}[mode]
    per_class = np.where(counts > 0, counts ** -exponent, 0.0)
    return torch.as_tensor(per_class[labels], dtype=torch.float32)


def amp_dtype(cfg: GANConfig, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on CUDA by default (no loss scaling needed, unlike fp16); fp32 on CPU."""
    if cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


class _Trainer:
    """Holds the networks, optimisers and RNG so a step and a checkpoint are each one method."""

    def __init__(self, arch: Architecture, cfg: GANConfig, device: torch.device):
        self.cfg, self.arch, self.device = cfg, arch, device
        torch.manual_seed(cfg.seed)
        cuda = device.type == "cuda"
        self.memory_format = torch.channels_last if cuda and cfg.channels_last else torch.contiguous_format
        generator, discriminator = arch.build()
        self.g = generator.to(device, memory_format=self.memory_format)
        self.d = discriminator.to(device, memory_format=self.memory_format)
        self.g_ema = copy.deepcopy(self.g).eval().requires_grad_(False)
        adam = dict(betas=(0.0, 0.9), fused=cuda)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr_g, **adam)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr_d, **adam)
        self.rng = torch.Generator(device=device).manual_seed(cfg.seed)
        self.policy = resolve_policy(cfg.diffaugment, arch.channels)
        self.amp = amp_dtype(cfg, device)
        self.lecam = torch.zeros(2, device=device)  # EMA of D's mean output on real, fake
        self.adaptive = cfg.augment_p is None
        self.augment_p = torch.full((), 0.0 if self.adaptive else cfg.augment_p, device=device)
        self.overfit_sum = torch.zeros(2, device=device)  # Σ sign(D(real)), count since the last adjustment
        self.step, self.history, self.quality_history = 0, [], []
        self.best: dict[int, dict] = {}
        self.snapshots: dict[int, dict] = {}  # step → EMA weights, for steps some class's best refers to
        self.checks_without_gain, self.stopped_early = 0, False
        if cfg.compile:
            self.g.compile()
            self.d.compile()

    def _autocast(self):
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        """Augment a random share ``augment_p`` of the batch (all of it when p = 1)."""
        if not self.policy:
            return x
        if self.device.type == "cpu" and self.adaptive and float(self.augment_p) == 0.0:
            return x  # reading p is free on the CPU; on CUDA it would stall the queue, so there we mask
        if not self.adaptive and self.cfg.augment_p == 1.0:
            return diff_augment(x, self.policy, self.rng)
        chosen = torch.rand(x.shape[0], 1, 1, 1, device=x.device, generator=self.rng) < self.augment_p
        return torch.where(chosen, diff_augment(x, self.policy, self.rng), x)

    def _adapt_augmentation(self, d_real: torch.Tensor) -> None:
        """Device-side update of p from the overfitting heuristic E[sign D(real)]: never waits for the host."""
        self.overfit_sum += torch.stack([torch.sign(d_real.detach()).sum(), torch.tensor(float(len(d_real)),
                                                                                          device=self.device)])
        if self.step % ADA_INTERVAL == 0:
            overfit = self.overfit_sum[0] / self.overfit_sum[1]
            delta = torch.sign(overfit - ADA_TARGET) * self.overfit_sum[1] / ADA_SPEED_IMAGES
            self.augment_p.add_(delta).clamp_(0.0, 1.0)
            self.overfit_sum.zero_()

    def train_step(self, images: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> dict:
        cfg = self.cfg
        rows = torch.multinomial(weights, cfg.batch_size, replacement=True, generator=self.rng)
        real = to_model_input(images[rows]).contiguous(memory_format=self.memory_format)
        y = labels[rows]
        z = torch.randn(len(y), self.arch.z_dim, device=self.device, generator=self.rng)

        self.d.requires_grad_(True)
        real_in = self._augment(real)
        if cfg.regularization == "r1":
            real_in = real_in.detach().requires_grad_(True)
        with self._autocast():
            fake = self.g(z, y)
            d_real = self.d(real_in, y).float()
            d_fake = self.d(self._augment(fake.detach()), y).float()
        loss_d = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
        penalty = self._penalty(real_in, d_real, d_fake)
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d + penalty).backward()
        self.opt_d.step()

        self.d.requires_grad_(False)  # the G step needs gradients through D, not for D's weights
        with self._autocast():
            loss_g = -self.d(self._augment(fake), y).float().mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.step += 1
        if self.adaptive and self.policy:
            self._adapt_augmentation(d_real)
        # Warm-up: early on the average would be dominated by the random initial weights.
        self._update_ema(min(cfg.ema_decay, (1 + self.step) / (10 + self.step)))
        return {"step": self.step, "loss_d": loss_d, "loss_g": loss_g, "penalty": penalty,
                "augment_p": self.augment_p}

    def _penalty(self, real_in: torch.Tensor, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        if cfg.regularization == "lecam":
            # Tseng et al. 2021: pull D's outputs towards the moving average of the other side's,
            # which bounds how far D can separate a handful of memorised real images.
            self.lecam.lerp_(torch.stack([d_real.detach().mean(), d_fake.detach().mean()]), 1 - LECAM_DECAY)
            ema_real, ema_fake = self.lecam[0], self.lecam[1]
            reg = F.relu(d_real - ema_fake).pow(2).mean() + F.relu(ema_real - d_fake).pow(2).mean()
            return cfg.lecam_weight * reg
        if cfg.regularization == "r1":
            (grad,) = torch.autograd.grad(d_real.sum(), real_in, create_graph=True)
            return 0.5 * cfg.r1_gamma * grad.pow(2).sum(dim=(1, 2, 3)).mean()
        return torch.zeros((), device=self.device)

    @torch.no_grad()
    def _update_ema(self, decay: float) -> None:
        ema_params, params = list(self.g_ema.parameters()), list(self.g.parameters())
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)  # one fused kernel, not one per tensor
        for ema_b, b in zip(self.g_ema.buffers(), self.g.buffers()):
            ema_b.copy_(b)

    def check_quality(self, monitor: QualityMonitor) -> dict:
        """Measure FD, keep the EMA weights of every class that improved, count checks without gain."""
        distances = monitor.measure(self.g_ema)
        improved = False
        for label, fd in distances.items():
            if fd is None:
                continue
            best = self.best.get(label)
            if best is None or fd < best["fd"]:
                if best is None or fd < best["fd"] * (1.0 - self.cfg.early_stop_min_delta):
                    improved = True
                self.best[label] = {"step": self.step, "fd": round(fd, 4)}
        if any(entry["step"] == self.step for entry in self.best.values()):
            self.snapshots[self.step] = {k: v.detach().to("cpu", copy=True) for k, v in self.g_ema.state_dict().items()}
        kept = {entry["step"] for entry in self.best.values()}
        self.snapshots = {step: state for step, state in self.snapshots.items() if step in kept}
        self.checks_without_gain = 0 if improved else self.checks_without_gain + 1
        patience = self.cfg.early_stop_patience
        self.stopped_early = bool(patience) and self.checks_without_gain >= patience and self.step < self.cfg.steps
        record = {"step": self.step, "fd": {str(k): None if v is None else round(v, 4) for k, v in distances.items()}}
        self.quality_history.append(record)
        return record

    def state(self, config_hash: str) -> dict:
        return {
            "arch": vars(self.arch), "config_hash": config_hash, "step": self.step, "history": self.history,
            "quality_history": self.quality_history, "best": {str(k): v for k, v in self.best.items()},
            "snapshots": {str(k): v for k, v in self.snapshots.items()},
            "checks_without_gain": self.checks_without_gain, "stopped_early": self.stopped_early,
            "generator": self.g.state_dict(), "generator_ema": self.g_ema.state_dict(),
            "discriminator": self.d.state_dict(), "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(), "rng": self.rng.get_state(), "lecam": self.lecam,
            "augment_p": self.augment_p, "overfit_sum": self.overfit_sum,
        }

    def restore(self, state: dict) -> None:
        self.g.load_state_dict(state["generator"])
        self.g_ema.load_state_dict(state["generator_ema"])
        self.d.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.rng.set_state(state["rng"].cpu())
        self.lecam.copy_(state["lecam"])
        self.augment_p.copy_(state["augment_p"])
        self.overfit_sum.copy_(state["overfit_sum"])
        self.step, self.history = int(state["step"]), list(state["history"])
        self.quality_history = list(state["quality_history"])
        self.best = {int(k): dict(v) for k, v in state["best"].items()}
        self.snapshots = {int(k): v for k, v in state["snapshots"].items()}
        self.checks_without_gain, self.stopped_early = int(state["checks_without_gain"]), bool(state["stopped_early"])


def _resume(trainer: _Trainer, path: Path, config_hash: str) -> None:
    state = load_checkpoint(path, map_location=trainer.device)
    if state.get("config_hash") != config_hash or state["arch"] != vars(trainer.arch):
        raise CheckpointError(
            f"{path}: made with other data or GAN settings than this run's; "
            "use a new output folder, or delete the checkpoint to retrain"
        )
    try:
        trainer.restore(state)
    except (KeyError, RuntimeError, ValueError) as error:
        raise CheckpointError(f"{path}: checkpoint is incomplete ({error}); delete it to retrain") from None


def _save(path: Path, state: dict, step: int, saved: int | None) -> int:
    """Save the step's checkpoint; on a full disk say which step a rerun will resume from."""
    try:
        save_checkpoint(path, state)
    except DiskFullError as error:
        kept = (f"the step-{saved} checkpoint there is intact and a rerun resumes from it; " if saved is not None
                else "no checkpoint was written; ")
        raise DiskFullError.at(path, error.needed, f"saving the step-{step} checkpoint", kept) from error
    return step


def train_gan(
    train: ImageSet,
    cfg: GANConfig,
    checkpoint_path: str | Path,
    *,
    config_hash: str,
    device: torch.device | str = "cpu",
    progress: ProgressFn | None = None,
    monitor: QualityMonitor | None = None,
    log_every: int = 50,
) -> TrainResult:
    """Train (or resume, or reuse) a conditional GAN on ``train``; the checkpoint is the only output.

    With a ``monitor`` and ``cfg.eval_every``, FD is checked every ``eval_every`` steps: the best
    EMA weights per class are kept in the checkpoint (``load_sampler(path, label=...)`` uses
    them) and training stops after ``cfg.early_stop_patience`` checks without improvement.
    """
    checkpoint_path, device, started = Path(checkpoint_path), torch.device(device), time.perf_counter()
    arch = Architecture(cfg.z_dim, train.num_classes, train.image_size, train.channels, cfg.base_channels)
    trainer = _Trainer(arch, cfg, device)
    remove_stale_temps(checkpoint_path)  # a run killed mid-save left a partial copy; the checkpoint is whole
    if checkpoint_path.exists():
        _resume(trainer, checkpoint_path, config_hash)
    resumed_from = trainer.step
    images = torch.from_numpy(train.images).to(device)
    labels = torch.from_numpy(train.labels).to(device)
    weights = class_sampling_weights(train.labels, train.num_classes, cfg.class_sampling).to(device)
    checking = monitor is not None and cfg.eval_every > 0 and bool(monitor.classes)
    trainer.g.train(), trainer.d.train()
    last_log = (trainer.step, time.perf_counter())
    saved = trainer.step if checkpoint_path.exists() else None
    while trainer.step < cfg.steps and not trainer.stopped_early:
        losses = trainer.train_step(images, labels, weights)
        step, record = trainer.step, None
        if step % log_every == 0 or step == cfg.steps:
            # .item() waits for the device: only at log steps, never every step.
            record = {k: (v if k == "step" else round(float(v.detach()), 5)) for k, v in losses.items()}
            now = time.perf_counter()
            record["images_per_s"] = round((step - last_log[0]) * cfg.batch_size / max(now - last_log[1], 1e-9), 1)
            trainer.history.append(record)
        if checking and (step % cfg.eval_every == 0 or step == cfg.steps):
            record = {**(record or {"step": step}), **trainer.check_quality(monitor)}
        if record is not None:
            if progress is not None:
                progress(step, cfg.steps, record)
            last_log = (step, time.perf_counter())  # FD checks do not count against images/s
        if step % cfg.checkpoint_every == 0 or step == cfg.steps or trainer.stopped_early:
            saved = _save(checkpoint_path, trainer.state(config_hash), step, saved)
    return TrainResult(
        checkpoint_path, sha256_file(checkpoint_path), trainer.step, time.perf_counter() - started, resumed_from,
        trainer.history, trainer.quality_history, dict(trainer.best), trainer.stopped_early,
    )
