"""The conditional GAN training loop: networks, optimisers, EMA generator, the step, checkpoints.

The loss, the augmentation and the early-stop tracker are pieces of their own (loss.py,
augment.py, early_stop.py); each saves and restores itself, and a checkpoint is their
composition with the networks' state. A checkpoint holds only what decides the weights, so the same
data, settings, seeds and step count write the same bytes (the sha256 every synthetic row carries);
wall-clock numbers (seconds trained, images/s) go beside it, in ``<stem>.timing.json``. On CUDA:
bf16 autocast, channels-last, fused Adam, optional ``torch.compile``, and random draws on the device
so the inner loop never waits for the host. The loop knows nothing about its caller: progress goes
through a callback. With ``gan.processes`` > 1, or under torchrun, several processes train the one GAN
data-parallel (distributed.py says how); rank 0 checks, decides when to stop and writes the same
checkpoint one process writes.
"""
from __future__ import annotations

import copy
import functools
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
from gan_aug.train.distributed import World, joined, launch, process_count
from gan_aug.train.early_stop import EarlyStopTracker
from gan_aug.train.guide import ClassifierGuide
from gan_aug.train.loss import HingeLoss, group_spectral_penalty
from gan_aug.train.plan import Budget, amp_dtype, budget, network_width

STOP_REASONS = ("steps", "time budget", "early stop")
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

    def __init__(self, arch: Architecture, cfg: GANConfig, device: torch.device, last_step: int | None = None,
                 world: World | None = None, guide: ClassifierGuide | None = None):
        self.cfg, self.arch, self.device, self.world = cfg, arch, device, world or World(device=device)
        self.guide = guide.to(device) if guide is not None and cfg.classifier_weight else None
        if cfg.batch_size % self.world.size:
            raise ValueError(f"gan.batch_size ({cfg.batch_size}) must divide by the {self.world.size} processes "
                             "training the GAN: each takes an equal share of every batch")
        self.rows = cfg.batch_size // self.world.size  # this process's share of every batch
        torch.manual_seed(cfg.seed)  # the networks' initial weights: the same on every rank (built on the CPU)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        generator, discriminator = arch.build()
        self.g = generator.to(device, memory_format=self.memory_format)
        self.d = discriminator.to(device, memory_format=self.memory_format)
        self.g_ema = copy.deepcopy(self.g).eval().requires_grad_(False)
        adam = dict(betas=(0.0, 0.9), fused=True)  # one kernel per optimiser step, on CUDA and CPU
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr_g, **adam)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr_d, **adam)
        # Every draw of the loop and augment: each rank its own stream, rank 0 the one a lone process draws.
        self.rng = torch.Generator(device=device).manual_seed(self.world.seed(cfg.seed))
        self.amp = amp_dtype(cfg, device)
        self.loss = HingeLoss(cfg.regularization, lecam_weight=cfg.lecam_weight, r1_gamma=cfg.r1_gamma, device=device,
                              average=self.world.mean)
        self.augment = AdaptiveAugment(resolve_policy(cfg.diffaugment, arch.channels), cfg.augment_p, self.rng,
                                       total=self.world.sum)
        self.tracker = EarlyStopTracker(cfg.early_stop_patience, cfg.early_stop_min_delta, last_step or cfg.steps)
        self.step, self.history, self.train_seconds, self.stop_reason = 0, [], 0.0, None
        if cfg.compile:
            self.g.compile()
            self.d.compile()

    def _autocast(self):
        return autocast(self.device, self.amp)

    def train_step(self, images: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> dict:
        rows = torch.multinomial(weights, self.rows, replacement=True, generator=self.rng)
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
        self.world.average_gradients(list(self.d.parameters()))
        self.opt_d.step()
        return fake, d_real, loss_d, penalty

    def _generator_step(self, fake: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.d.requires_grad_(False)  # the G step needs gradients through D, not for D's weights
        with self._autocast():
            loss_g = self.loss.generator(self.d(self.augment(fake), y).float())
        if self.cfg.gsr_weight:
            loss_g = loss_g + self.cfg.gsr_weight * group_spectral_penalty(self.g)
        if self.guide is not None:  # on the un-augmented fakes: the classifier judges what would be shipped
            with self._autocast():
                loss_g = loss_g + self.cfg.classifier_weight * self.guide(fake, y)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.world.average_gradients(list(self.g.parameters()))
        self.opt_g.step()
        return loss_g

    @torch.no_grad()
    def _update_ema(self, decay: float) -> None:
        ema_params, params = list(self.g_ema.parameters()), list(self.g.parameters())
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)  # one fused kernel, not one per tensor
        for ema_b, b in zip(self.g_ema.buffers(), self.g.buffers()):
            ema_b.copy_(b)

    def settle(self) -> None:
        """Before the EMA generator is read (checked, saved): its batch-norm running statistics, which each
        rank gathers from its own rows, set to their mean over ranks on every rank. Alone: nothing to do."""
        if self.world.size > 1:
            self.world.average_buffers(self.g)
            for ema_b, b in zip(self.g_ema.buffers(), self.g.buffers()):
                ema_b.copy_(b)

    def rank_rngs(self) -> list[torch.Tensor] | None:
        """Every rank's RNG state (a collective: every rank calls it), for a checkpoint to resume all of them."""
        return self.world.gather(self.rng.get_state()) if self.world.size > 1 else None

    def check_quality(self, monitor: QualityMonitor) -> dict:
        """Measure each class the EMA generator makes (FD, recognition); the tracker keeps the best weights
        and decides the stop."""
        distances, agreement = monitor.measure(self.g_ema)
        return self.tracker.check(self.step, distances, self.g_ema.state_dict, agreement)

    def _stateful(self) -> dict:
        return {"generator": self.g, "generator_ema": self.g_ema, "discriminator": self.d,
                "opt_g": self.opt_g, "opt_d": self.opt_d}

    def state_dict(self, rank_rngs: list[torch.Tensor] | None = None) -> dict:
        """The flat checkpoint keys (beside "arch" and "config_hash"), each written by its owner; no
        wall-clock number (``timing`` has them), so equal training writes equal bytes. ``rank_rngs``
        (``rank_rngs()``, several processes only) adds every rank's RNG; "rng" is always rank 0's."""
        history = [{k: v for k, v in record.items() if k not in CLOCKED} for record in self.history]
        return {"step": self.step, "history": history, "stop_reason": self.stop_reason, **self.tracker.state_dict(),
                **{name: part.state_dict() for name, part in self._stateful().items()},
                "rng": self.rng.get_state(), **({"rank_rngs": rank_rngs} if rank_rngs else {}),
                **self.loss.state_dict(), **self.augment.state_dict()}

    def _own_rng(self, state: dict) -> torch.Tensor:
        """This rank's saved RNG state; a rank the checkpoint's run did not have (more processes now)
        starts a stream of its own at this step: training goes on, not with the draws it would have had."""
        saved = state.get("rank_rngs") or []
        if self.world.rank == 0 or self.world.rank < len(saved):
            return state["rng"] if self.world.rank == 0 else saved[self.world.rank]
        fresh = torch.Generator(device=self.device).manual_seed(self.world.seed(self.cfg.seed) + int(state["step"]))
        return fresh.get_state()

    def timing(self) -> dict:
        """What the clock said, for ``<stem>.timing.json``: seconds trained and images/s per logged step."""
        return {"step": self.step, "train_seconds": self.train_seconds,
                "images_per_s": {str(r["step"]): r["images_per_s"] for r in self.history if "images_per_s" in r}}

    def load_state_dict(self, state: dict, timing: dict | None = None) -> None:
        """``timing``: the checkpoint's ``timing()`` file, if any; one written after this checkpoint (the
        checkpoint was replaced by an older one) is ignored, one from an earlier save gives its seconds."""
        for name, part in self._stateful().items():
            part.load_state_dict(state[name])
        self.rng.set_state(self._own_rng(state).cpu())
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


def _checkpoint(trainer: _Trainer, made_by: tuple[str, str], rank_rngs: list[torch.Tensor] | None = None) -> dict:
    """``made_by``: the config hash and the code digest that a resume must match."""
    config_hash, code = made_by
    return {"arch": vars(trainer.arch), "config_hash": config_hash, "code_digest": code,
            **trainer.state_dict(rank_rngs)}


def _resumable(trainer: _Trainer, path: Path, made_by: tuple[str, str],
               warn: Callable[[str], None]) -> tuple[dict, dict | None] | None:
    """The checkpoint at ``path`` and its timing, to continue from; None to start anew. Other settings
    are an error (the folder is another run's); other code is not: that checkpoint is kept beside,
    renamed, and training starts anew. Touches the folder: rank 0's job alone."""
    for stale in (path, timing_path(path)):
        remove_stale_temps(stale)  # a run killed mid-save left a partial copy; the file itself is whole
    if not path.exists():
        return None
    config_hash, code = made_by
    # Several processes: read on the CPU, to be sent to every rank and moved to each one's device.
    state = load_checkpoint(path, map_location=trainer.device if trainer.world.size == 1 else "cpu")
    if state["config_hash"] != config_hash or state["arch"] != vars(trainer.arch):
        raise CheckpointError(
            f"{path}: made with other data or GAN settings than this run's; "
            "use a new output folder, or delete the checkpoint to retrain"
        )
    if state["code_digest"] != code:
        _set_aside(path, state["code_digest"], code, warn)
        return None
    timing = timing_path(path)
    return state, read_json(timing) if timing.is_file() else None


def _resume(trainer: _Trainer, path: Path, found: tuple[dict, dict | None]) -> None:
    """Continue from ``found`` (``_resumable``'s checkpoint and timing): every rank from the same one."""
    try:
        trainer.load_state_dict(*found)
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


def _save_state(path: Path, state: Callable[[], dict], step: int, saved: int | None,
                timing: Callable[[], dict]) -> int:
    """``_save`` of a checkpoint built only where it is saved (rank 0)."""
    return _save(path, state(), step, saved, timing())


def _mean_losses(world: World, losses: dict) -> dict:
    """The step's losses averaged over ranks (each saw its share of the batch): the whole batch's."""
    if world.size == 1:
        return losses
    names = [k for k in losses if k != "step"]
    means = world.mean(torch.stack([losses[k].detach().float().reshape(()) for k in names]))
    return {"step": losses["step"], **dict(zip(names, means))}


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
    A finished run (its checkpoint names why it stopped) is never continued.

    With several processes every rank runs this loop in step: the clock and the quality checks are
    rank 0's, and its decisions (stop, early stop) are sent to all; rank 0 saves."""
    cfg, world = trainer.cfg, trainer.world
    last_log = (trainer.step, time.perf_counter())
    saved = trainer.step if world.main and path.exists() else None
    clock = time.perf_counter() - trainer.train_seconds  # a resumed run's earlier sessions count too
    if world.agree_reason(limit.reason_to_stop(trainer.step, trainer.train_seconds), STOP_REASONS) is not None:
        return
    while trainer.stop_reason is None:
        losses = trainer.train_step(*data)
        step, record = trainer.step, None
        trainer.train_seconds = time.perf_counter() - clock
        ending = world.agree_reason(limit.reason_to_stop(step, trainer.train_seconds), STOP_REASONS)
        if step % log_every == 0 or ending:
            record = _log_record(_mean_losses(world, losses), last_log, cfg.batch_size)
            trainer.history.append(record)
        if monitor is not None and (step % cfg.eval_every == 0 or ending):
            trainer.settle()
            record = {**(record or {"step": step}), **(trainer.check_quality(monitor) if world.main else {})}
            trainer.tracker.stopped_early = world.agree(trainer.tracker.stopped_early)
        trainer.stop_reason = ending or ("early stop" if trainer.tracker.stopped_early else None)
        if record is not None:
            if progress is not None and world.main:
                progress(step, limit.expected_steps(step, trainer.train_seconds), record=record)
            last_log = (step, time.perf_counter())  # checks do not count against images/s
        if step % cfg.checkpoint_every == 0 or trainer.stop_reason:
            trainer.settle()
            world.check_in_step(f"step {step}", [trainer.g, trainer.g_ema, trainer.d], trainer.loss.lecam,
                                trainer.augment.p, trainer.augment.overfit_sum)
            state = functools.partial(_checkpoint, trainer, made_by, trainer.rank_rngs())
            saved = world.from_main(functools.partial(_save_state, path, state, step, saved, trainer.timing))


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
    guide: ClassifierGuide | None = None,
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

    ``guide`` is the frozen classifier of ``cfg.classifier_weight``'s loss (required when that is set);
    its weights change the GAN, so ``config_hash`` must cover them (``guide.fingerprint()``).

    With ``gan.processes`` > 1 (outside torchrun) it starts that many local processes that train the GAN
    together (``distributed.launch``) and returns rank 0's result; ``progress`` then hears nothing (the
    processes log their progress) and ``warn`` is this module's logger. Under torchrun (``WORLD_SIZE``
    > 1) this process is one rank of that world, whatever ``gan.processes`` says, and every rank gets
    the result.
    """
    checkpoint_path, started = Path(checkpoint_path), time.perf_counter()
    if cfg.classifier_weight and guide is None:
        raise ValueError(f"gan.classifier_weight is {cfg.classifier_weight} but no classifier was given to guide the "
                         "generator (train_gan's guide=; train_job makes one from the domain classifier)")
    with joined(torch.device(device)) as (world, device):
        made_by = (config_hash, code or code_digest(train_gan))
        if world.size == 1 and (processes := process_count(cfg.processes, device, cfg.batch_size)) > 1:
            returned = launch(_rank_main, (train, cfg, checkpoint_path, made_by, str(device), monitor, log_every,
                                           guide), processes)
            if isinstance(returned, Exception):
                raise returned
            return returned
        limit = budget(cfg, device, len(train), train.image_size)
        arch = Architecture(cfg.z_dim, train.num_classes, train.image_size, train.channels,
                            network_width(cfg, train.image_size))
        trainer = _Trainer(arch, cfg, device, limit.steps, world, guide)
        found = world.from_main(lambda: _resumable(trainer, checkpoint_path, made_by, warn or log.warning))
        if found is not None:
            _resume(trainer, checkpoint_path, found)
        resumed_from = trainer.step
        weights = class_sampling_weights(train.labels, train.num_classes, cfg.class_sampling).to(device)
        data = (torch.from_numpy(train.images).to(device), torch.from_numpy(train.labels).to(device), weights)
        checking = monitor is not None and cfg.eval_every > 0 and bool(monitor.classes)
        trainer.g.train(), trainer.d.train()
        _run(trainer, data, checkpoint_path, made_by, limit, progress, monitor if checking else None, log_every)
        tracker = trainer.tracker
        sha256 = world.from_main(lambda: file_sha256(checkpoint_path))  # other nodes may not see the file
        return TrainResult(
            checkpoint_path, sha256, trainer.step, time.perf_counter() - started, resumed_from,
            trainer.history, tracker.quality_history, dict(tracker.best), trainer.stop_reason == "early stop",
            trainer.stop_reason, trainer.train_seconds, {"steps": limit.steps, "seconds": limit.seconds},
        )


def _rank_main(train: ImageSet, cfg: GANConfig, checkpoint_path: Path, made_by: tuple[str, str], device: str,
               monitor: QualityMonitor | None, log_every: int,
               guide: ClassifierGuide | None = None) -> TrainResult | Exception | None:
    """One process started by ``launch``: a rank of ``train_gan``'s world. Rank 0 returns the result, or
    an error that would recur on a restart (a foreign checkpoint, a full disk, a bad setting), which
    the launching process raises; restarting is for ranks that died."""
    config_hash, code = made_by
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    def progress(step: int, total: int, record: dict) -> None:
        log.info("GAN step %d/%d %s", step, total, {k: v for k, v in record.items() if k != "step"})

    try:
        result = train_gan(train, cfg, checkpoint_path, config_hash=config_hash, device=device, progress=progress,
                           monitor=monitor, log_every=log_every, code=code, guide=guide)
    except (CheckpointError, DiskFullError, ValueError) as error:
        return error
    return result if int(os.environ.get("RANK", "0")) == 0 else None
