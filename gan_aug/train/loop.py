"""The conditional GAN training loop: networks, optimisers, EMA generator, the step, checkpoints.

The loss, the augmentation and the early-stop tracker are pieces of their own (loss.py,
augment.py, early_stop.py); each saves and restores itself, and a checkpoint is their
composition with the networks' state. A checkpoint holds only what decides the weights, so the same
data, settings, seeds and step count write the same bytes (the sha256 every synthetic row carries);
wall-clock numbers (seconds trained, images/s) go beside it, in ``<stem>.timing.json``. On CUDA:
bf16 autocast, channels-last, fused Adam, optional ``torch.compile``, and random draws on the device
so the inner loop never waits for the host. The loop knows nothing about its caller: progress goes
through a callback.
"""
from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from gan_aug.checkpoint import Architecture, CheckpointError, load_checkpoint, save_checkpoint
from gan_aug.code_digest import code_digest
from gan_aug.config import GANConfig
from gan_aug.data.imageset import ImageSet
from gan_aug.device import autocast, to_model_input
from gan_aug.hashing import file_sha256
from gan_aug.io import DiskFullError, read_json, remove_stale_temps, write_json
from gan_aug.models.diffaugment import resolve_policy
from gan_aug.monitor import QualityMonitor
from gan_aug.progress import Progress
from gan_aug.train.ada import AdaptiveAugment
from gan_aug.train.early_stop import EarlyStopTracker
from gan_aug.train.loss import HingeLoss, group_spectral_penalty
from gan_aug.train.plan import Budget, amp_dtype, budget, network_width

CLOCKED = ("images_per_s",)  # history keys measured by the clock: in the timing file, not the checkpoint
log = logging.getLogger("gan_aug.train")


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
    stop_reason: str | None = None  # "steps", "time budget" or "early stop"
    train_seconds: float = 0.0  # wall-clock seconds of training, over every resumed session
    budget: dict = field(default_factory=dict)  # {"steps", "seconds"}: what the run was allowed

    def to_dict(self) -> dict:
        """JSON-ready (class keys as strings), for Prefect task results and metrics.json."""
        return {
            "checkpoint": str(self.checkpoint), "sha256": self.sha256, "steps": self.steps,
            "seconds": round(self.seconds, 2), "resumed_from": self.resumed_from, "history": self.history,
            "quality_history": self.quality_history, "best": {str(k): v for k, v in self.best.items()},
            "stopped_early": self.stopped_early, "stop_reason": self.stop_reason,
            "train_seconds": round(self.train_seconds, 2), "budget": self.budget,
        }


def class_sampling_weights(labels: np.ndarray, num_classes: int, mode: str) -> torch.Tensor:
    """Per-row sampling weight: 'uniform' keeps class frequencies, 'sqrt' and 'balanced' lift rare classes."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    exponent = {"uniform": 0.0, "sqrt": 0.5, "balanced": 1.0}[mode]
    per_class = np.where(counts > 0, counts ** -exponent, 0.0)
    return torch.as_tensor(per_class[labels], dtype=torch.float32)


class _Trainer:
    """Holds the networks, optimisers, RNG and the stateful pieces, so a step and a checkpoint are each one method."""

    def __init__(self, arch: Architecture, cfg: GANConfig, device: torch.device, last_step: int | None = None):
        self.cfg, self.arch, self.device = cfg, arch, device
        torch.manual_seed(cfg.seed)  # the networks' initial weights
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        generator, discriminator = arch.build()
        self.g = generator.to(device, memory_format=self.memory_format)
        self.d = discriminator.to(device, memory_format=self.memory_format)
        self.g_ema = copy.deepcopy(self.g).eval().requires_grad_(False)
        adam = dict(betas=(0.0, 0.9), fused=True)  # one kernel per optimiser step, on CUDA and CPU
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr_g, **adam)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr_d, **adam)
        self.rng = torch.Generator(device=device).manual_seed(cfg.seed)  # every draw of the loop and augment
        self.amp = amp_dtype(cfg, device)
        self.loss = HingeLoss(cfg.regularization, lecam_weight=cfg.lecam_weight, r1_gamma=cfg.r1_gamma, device=device)
        self.augment = AdaptiveAugment(resolve_policy(cfg.diffaugment, arch.channels), cfg.augment_p, self.rng)
        self.tracker = EarlyStopTracker(cfg.early_stop_patience, cfg.early_stop_min_delta, last_step or cfg.steps)
        self.step, self.history, self.train_seconds, self.stop_reason = 0, [], 0.0, None
        if cfg.compile:
            self.g.compile()
            self.d.compile()

    def _autocast(self):
        return autocast(self.device, self.amp)

    def train_step(self, images: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> dict:
        rows = torch.multinomial(weights, self.cfg.batch_size, replacement=True, generator=self.rng)
        real = to_model_input(images[rows]).contiguous(memory_format=self.memory_format)
        y = labels[rows]
        z = torch.randn(len(y), self.arch.z_dim, device=self.device, generator=self.rng)
        fake, d_real, loss_d, penalty = self._discriminator_step(real, y, z)
        loss_g = self._generator_step(fake, y)
        self.step += 1
        self.augment.update(d_real, self.step)
        # Warm-up: early on the average would be dominated by the random initial weights.
        self._update_ema(min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step)))
        return {"step": self.step, "loss_d": loss_d, "loss_g": loss_g, "penalty": penalty,
                "augment_p": self.augment.p}

    def _discriminator_step(self, real: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> tuple:
        """One D update; returns the fakes (for the G step), D on the reals, the loss and the penalty."""
        self.d.requires_grad_(True)
        real_in = self.loss.prepare_real(self.augment(real))
        with self._autocast():
            fake = self.g(z, y)
            d_real = self.d(real_in, y).float()
            d_fake = self.d(self.augment(fake.detach()), y).float()
        loss_d, penalty = self.loss.discriminator(real_in, d_real, d_fake)
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d + penalty).backward()
        self.opt_d.step()
        return fake, d_real, loss_d, penalty

    def _generator_step(self, fake: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.d.requires_grad_(False)  # the G step needs gradients through D, not for D's weights
        with self._autocast():
            loss_g = self.loss.generator(self.d(self.augment(fake), y).float())
        if self.cfg.gsr_weight:
            loss_g = loss_g + self.cfg.gsr_weight * group_spectral_penalty(self.g)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return loss_g

    @torch.no_grad()
    def _update_ema(self, decay: float) -> None:
        ema_params, params = list(self.g_ema.parameters()), list(self.g.parameters())
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)  # one fused kernel, not one per tensor
        for ema_b, b in zip(self.g_ema.buffers(), self.g.buffers()):
            ema_b.copy_(b)

    def check_quality(self, monitor: QualityMonitor) -> dict:
        """Measure each class the EMA generator makes (FD, recognition); the tracker keeps the best weights
        and decides the stop."""
        distances, agreement = monitor.measure(self.g_ema)
        return self.tracker.check(self.step, distances, self.g_ema.state_dict, agreement)

    def _stateful(self) -> dict:
        return {"generator": self.g, "generator_ema": self.g_ema, "discriminator": self.d,
                "opt_g": self.opt_g, "opt_d": self.opt_d}

    def state_dict(self) -> dict:
        """The flat checkpoint keys (beside "arch" and "config_hash"), each written by its owner; no
        wall-clock number (``timing`` has them), so equal training writes equal bytes."""
        history = [{k: v for k, v in record.items() if k not in CLOCKED} for record in self.history]
        return {"step": self.step, "history": history, "stop_reason": self.stop_reason, **self.tracker.state_dict(),
                **{name: part.state_dict() for name, part in self._stateful().items()},
                "rng": self.rng.get_state(), **self.loss.state_dict(), **self.augment.state_dict()}

    def timing(self) -> dict:
        """What the clock said, for ``<stem>.timing.json``: seconds trained and images/s per logged step."""
        return {"step": self.step, "train_seconds": self.train_seconds,
                "images_per_s": {str(r["step"]): r["images_per_s"] for r in self.history if "images_per_s" in r}}

    def load_state_dict(self, state: dict, timing: dict | None = None) -> None:
        """``timing``: the checkpoint's ``timing()`` file, if any; one written after this checkpoint (the
        checkpoint was replaced by an older one) is ignored, one from an earlier save gives its seconds."""
        for name, part in self._stateful().items():
            part.load_state_dict(state[name])
        self.rng.set_state(state["rng"].cpu())
        for piece in (self.loss, self.augment, self.tracker):
            piece.load_state_dict(state)
        self.step = int(state["step"])
        timing = timing if timing is not None and int(timing.get("step", -1)) <= self.step else {}
        rates = timing.get("images_per_s", {})
        self.history = [{**record, **({"images_per_s": rates[str(record["step"])]}
                                      if str(record["step"]) in rates else {})} for record in state["history"]]
        self.train_seconds = float(timing.get("train_seconds", 0.0))
        # A time budget or an early stop ended the run for good; a step count is judged again against this run's.
        self.stop_reason = None if state["stop_reason"] == "steps" else state["stop_reason"]


def _checkpoint(trainer: _Trainer, made_by: tuple[str, str]) -> dict:
    """``made_by``: the config hash and the code digest that a resume must match."""
    config_hash, code = made_by
    return {"arch": vars(trainer.arch), "config_hash": config_hash, "code_digest": code, **trainer.state_dict()}


def _resume(trainer: _Trainer, path: Path, made_by: tuple[str, str], warn: Callable[[str], None]) -> None:
    """Continue from ``path``. Other settings are an error (the folder is another run's); other code
    is not: that checkpoint is kept beside, renamed, and training starts anew."""
    config_hash, code = made_by
    state = load_checkpoint(path, map_location=trainer.device)
    if state["config_hash"] != config_hash or state["arch"] != vars(trainer.arch):
        raise CheckpointError(
            f"{path}: made with other data or GAN settings than this run's; "
            "use a new output folder, or delete the checkpoint to retrain"
        )
    if state["code_digest"] != code:
        _set_aside(path, state["code_digest"], code, warn)
        return
    timing = timing_path(path)
    try:
        trainer.load_state_dict(state, read_json(timing) if timing.is_file() else None)
    except (KeyError, RuntimeError, ValueError) as error:
        raise CheckpointError(f"{path}: checkpoint is incomplete ({error}); delete it to retrain") from None


def _set_aside(path: Path, old: str, new: str, warn: Callable[[str], None]) -> Path:
    """Rename a checkpoint of other code to ``<stem>.<its digest>.stale<suffix>``, never over another."""
    tag = old[:12]
    stale = path.with_name(f"{path.stem}.{tag}.stale{path.suffix}")
    for n in range(1, 1000):
        if not stale.exists():
            break
        stale = path.with_name(f"{path.stem}.{tag}-{n}.stale{path.suffix}")
    os.replace(path, stale)
    warn(f"{path}: made by gan-aug code {tag}, not by this code ({new[:12]}): it would not train the same GAN; kept as "
         f"{stale}, training anew")
    return stale


def timing_path(checkpoint: str | Path) -> Path:
    """Where a checkpoint's wall-clock numbers are kept: ``gan.pt`` → ``gan.timing.json``."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.stem}.timing.json")


def _save(path: Path, state: dict, step: int, saved: int | None, timing: dict | None = None) -> int:
    """Save the step's checkpoint, then its ``timing``; on a full disk say which step a rerun will
    resume from."""
    try:
        save_checkpoint(path, state)
        if timing is not None:
            write_json(timing_path(path), timing)
    except DiskFullError as error:
        kept = (f"the step-{saved} checkpoint there is intact and a rerun resumes from it; " if saved is not None
                else "no checkpoint was written; ")
        raise DiskFullError.at(path, error.needed, f"saving the step-{step} checkpoint", kept) from error
    return step


def _log_record(losses: dict, since: tuple[int, float], batch_size: int) -> dict:
    """Losses as floats and images/s since the last record. ``float`` waits for the device: call it
    only at log steps, never every step."""
    record = {k: (v if k == "step" else round(float(v.detach()), 5)) for k, v in losses.items()}
    elapsed = max(time.perf_counter() - since[1], 1e-9)
    record["images_per_s"] = round((record["step"] - since[0]) * batch_size / elapsed, 1)
    return record


def _run(trainer: _Trainer, data: tuple[torch.Tensor, ...], path: Path, made_by: tuple[str, str], limit: Budget,
         progress: Progress | None, monitor: QualityMonitor | None, log_every: int) -> None:
    """Step until the budget ends or the checks stop improving, logging, checking and saving on schedule.
    A finished run (its checkpoint names why it stopped) is never continued."""
    cfg = trainer.cfg
    last_log = (trainer.step, time.perf_counter())
    saved = trainer.step if path.exists() else None
    clock = time.perf_counter() - trainer.train_seconds  # a resumed run's earlier sessions count too
    while trainer.stop_reason is None and limit.reason_to_stop(trainer.step, trainer.train_seconds) is None:
        losses = trainer.train_step(*data)
        step, record = trainer.step, None
        trainer.train_seconds = time.perf_counter() - clock
        ending = limit.reason_to_stop(step, trainer.train_seconds)
        if step % log_every == 0 or ending:
            record = _log_record(losses, last_log, cfg.batch_size)
            trainer.history.append(record)
        if monitor is not None and (step % cfg.eval_every == 0 or ending):
            record = {**(record or {"step": step}), **trainer.check_quality(monitor)}
        trainer.stop_reason = ending or ("early stop" if trainer.tracker.stopped_early else None)
        if record is not None:
            if progress is not None:
                progress(step, limit.expected_steps(step, trainer.train_seconds), record=record)
            last_log = (step, time.perf_counter())  # checks do not count against images/s
        if step % cfg.checkpoint_every == 0 or trainer.stop_reason:
            saved = _save(path, _checkpoint(trainer, made_by), step, saved, trainer.timing())


def train_gan(
    train: ImageSet,
    cfg: GANConfig,
    checkpoint_path: str | Path,
    *,
    config_hash: str,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    monitor: QualityMonitor | None = None,
    log_every: int = 50,
    code: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train (or resume, or reuse) a conditional GAN on ``train``; the checkpoint is the only output.

    The budget is ``gan.steps`` and ``gan.time_budget_s``, or their defaults for the device and the
    data (``plan.budget``). With a ``monitor`` and ``cfg.eval_every``, each class is checked every
    ``eval_every`` steps: the best EMA weights per class are kept in the checkpoint
    (``load_sampler(path, label=...)`` uses them) and training stops after
    ``cfg.early_stop_patience`` checks in which no class improved.

    A checkpoint is resumed only if made with the same ``config_hash`` (else CheckpointError) and
    by the same ``code`` (default: ``code_digest(train_gan)``; a caller that prepares the data passes
    its own). One of other code is renamed beside, ``warn`` (default: this module's logger) says so,
    and training starts anew.
    """
    checkpoint_path, device, started = Path(checkpoint_path), torch.device(device), time.perf_counter()
    limit = budget(cfg, device, len(train), train.image_size)
    arch = Architecture(cfg.z_dim, train.num_classes, train.image_size, train.channels,
                        network_width(cfg, train.image_size))
    trainer = _Trainer(arch, cfg, device, limit.steps)
    for path in (checkpoint_path, timing_path(checkpoint_path)):
        remove_stale_temps(path)  # a run killed mid-save left a partial copy; the file itself is whole
    made_by = (config_hash, code or code_digest(train_gan))
    if checkpoint_path.exists():
        _resume(trainer, checkpoint_path, made_by, warn or log.warning)
    resumed_from = trainer.step
    weights = class_sampling_weights(train.labels, train.num_classes, cfg.class_sampling).to(device)
    data = (torch.from_numpy(train.images).to(device), torch.from_numpy(train.labels).to(device), weights)
    checking = monitor is not None and cfg.eval_every > 0 and bool(monitor.classes)
    trainer.g.train(), trainer.d.train()
    _run(trainer, data, checkpoint_path, made_by, limit, progress, monitor if checking else None, log_every)
    tracker = trainer.tracker
    return TrainResult(
        checkpoint_path, file_sha256(checkpoint_path), trainer.step, time.perf_counter() - started, resumed_from,
        trainer.history, tracker.quality_history, dict(tracker.best), trainer.stop_reason == "early stop",
        trainer.stop_reason, trainer.train_seconds, {"steps": limit.steps, "seconds": limit.seconds},
    )
