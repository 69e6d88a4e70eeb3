"""Data-parallel GAN training: who this process is among those that train one GAN, what they must
agree on, and starting them.

Every process (rank) holds the whole networks and takes ``gan.batch_size / world`` rows of each
batch; after each backward pass their gradients are averaged, so every rank applies the same update
to the same weights. The few other numbers that come from a batch (ADA's statistic, LeCam's moving
averages, the generator's batch-norm running statistics, logged losses) are averaged too, and the
decisions taken on one clock or one quality check (time budget, early stop) are rank 0's, sent to
all: every rank stops at the same step. Rank 0 alone writes the checkpoint.

Gradients are averaged here, after ``backward``, rather than by wrapping the networks in
``DistributedDataParallel``: DDP's reducer expects one forward pass per backward pass, and a GAN
step runs D twice before D's backward (reals, fakes), runs D again for G's loss without wanting D's
gradients, and differentiates D twice for R1. Making DDP accept that would change the training
(one concatenated D pass updates spectral norm once, not twice) or need its static-graph escape
hatches; one flat all-reduce per network is what DDP does for networks this small, minus the
overlap with the backward pass.

A world comes from torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_*``),
on one node or several; or ``launch`` starts ``gan.processes`` local ones under torch's elastic
agent, which restarts them all when one dies (they resume from the last checkpoint).
"""
from __future__ import annotations

import gc
import logging
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.distributed as dist

LAUNCH_RESTARTS = 3  # a killed rank makes the agent restart every rank, this many times at most
log = logging.getLogger("gan_aug.train")


@dataclass(frozen=True)
class World:
    """This process's place among those training one GAN; ``size`` 1 is training alone, where every
    method below is the identity and no process group exists."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")  # where collectives' tensors live (cuda:LOCAL_RANK under NCCL)

    @property
    def main(self) -> bool:
        """Rank 0: the one that checks quality, watches the clock and writes the checkpoint."""
        return self.rank == 0

    def seed(self, seed: int) -> int:
        """This rank's stream of batch rows, latents and augmentations: rank 0 draws what one process draws."""
        return seed + 1_000_003 * self.rank

    def average_gradients(self, parameters: Sequence[torch.nn.Parameter]) -> None:
        """Every rank's gradients replaced by their mean over ranks, in one all-reduce."""
        if self.size == 1:
            return
        grads = [p.grad for p in parameters if p.grad is not None]
        flat = torch._utils._flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat.div_(self.size)
        for grad, mean in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
            grad.copy_(mean)

    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """The mean over ranks of ``tensor`` (a new tensor; the input is left alone)."""
        return self.sum(tensor).div_(self.size) if self.size > 1 else tensor

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum over ranks of ``tensor`` (a new tensor; the input is left alone)."""
        if self.size == 1:
            return tensor
        total = tensor.detach().clone()
        dist.all_reduce(total)
        return total

    def average_buffers(self, module: torch.nn.Module) -> None:
        """Floating-point buffers (batch-norm running statistics) set to their mean over ranks. Their
        updates are linear in each batch's statistics, so averaging now equals averaging every step."""
        if self.size == 1:
            return
        buffers = [b for b in module.buffers() if b.is_floating_point()]
        if buffers:
            flat = torch._utils._flatten_dense_tensors(buffers)
            dist.all_reduce(flat)
            flat.div_(self.size)
            for buffer, mean in zip(buffers, torch._utils._unflatten_dense_tensors(flat, buffers)):
                buffer.copy_(mean)

    def agree(self, value: Any) -> Any:
        """Rank 0's ``value`` (any picklable object), on every rank."""
        if self.size == 1:
            return value
        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    def from_main(self, work: Callable[[], Any]) -> Any:
        """``work()`` done by rank 0 alone (file-system work: read, clean up, save), its result on every
        rank; its exception raised on every rank, so none is left waiting for the others."""
        if self.size == 1:
            return work()
        try:
            value = work() if self.main else None
        except Exception as error:  # noqa: BLE001 - sent to every rank and raised there
            value = error
        value = self.agree(value)
        if isinstance(value, Exception):
            raise value
        return value

    def agree_reason(self, reason: str | None, reasons: Sequence[str]) -> str | None:
        """Rank 0's stop reason (None or one of ``reasons``), as a one-number broadcast: it runs every step."""
        if self.size == 1:
            return reason
        code = torch.tensor([0 if reason is None else 1 + list(reasons).index(reason)], device=self.device)
        dist.broadcast(code, src=0)
        return None if int(code) == 0 else reasons[int(code) - 1]

    def check_in_step(self, what: str, modules: Sequence[torch.nn.Module], *tensors: torch.Tensor) -> None:
        """Raise if the ranks' weights (and ``tensors``) differ: their sums, in float64, must be equal
        on every rank. Cheap enough for every checkpoint; an error, not a silently diverged GAN."""
        if self.size == 1:
            return
        values = [t for module in modules for t in module.state_dict().values()] + list(tensors)
        fingerprint = [float(t.detach().double().sum()) for t in values if t.is_floating_point()]
        fingerprints = self.gather(fingerprint)
        if any(other != fingerprint for other in fingerprints):
            differ = [rank for rank, other in enumerate(fingerprints) if other != fingerprints[0]]
            raise RuntimeError(f"{what}: ranks {differ} hold other weights than rank 0; data-parallel training "
                               "diverged (a rank's update differed), so the checkpoint would describe one rank only")

    def gather(self, value: Any) -> list:
        """Every rank's ``value``, in rank order, on every rank."""
        if self.size == 1:
            return [value]
        values = [None] * self.size
        dist.all_gather_object(values, value)
        return values


def torchrun_world() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) from torchrun's environment; None outside a world of several."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return None
    return int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0"))


@contextmanager
def joined(device: torch.device) -> Iterator[tuple[World, torch.device]]:
    """This process's world and training device: alone (``World()``, ``device``) outside torchrun; in a
    world, the process group joined (gloo on a CPU, NCCL on CUDA) and, on CUDA, GPU ``LOCAL_RANK``.

    A group joined here is destroyed on the way out, and freed at once: left to the interpreter's exit,
    gloo's worker threads outlive it and one dropping its last finished work there aborts the process
    ("terminate called without an active exception", SIGABRT) after the work is done, failing one
    torchrun run in five here. A group the caller had initialised is theirs to close."""
    found = torchrun_world()
    if found is None:
        yield World(device=device), device
        return
    rank, size, local_rank = found
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"rank {rank} wants GPU {local_rank} but this node has {torch.cuda.device_count()}; "
                               "start as many processes per node as it has GPUs")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owned = not dist.is_initialized()
    if owned:
        # The elastic agent keeps one store across restarts and torch does not separate its attempts
        # (torch/distributed/rendezvous.py assumes a new store per retry): restarted ranks could read the
        # dead ranks' gloo addresses, be refused or, worse, wait on a port reused since. Each attempt
        # gets keys of its own.
        store, _, _ = next(dist.rendezvous("env://"))
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=size,
                                store=dist.PrefixStore(f"gan-aug/attempt-{attempt}", store))
        log.info("rank %d of %d joined (%s, %s)", rank, size, dist.get_backend(), device)
    try:
        yield World(rank, size, local_rank, device), device
    finally:
        if owned and dist.is_initialized():
            dist.destroy_process_group()
            gc.collect()  # the group's last reference may sit in a cycle: free it (joining gloo's threads) now


def process_count(setting: int | str, device: torch.device, batch_size: int) -> int:
    """``gan.processes`` as a number: 'auto' is one per visible GPU, 1 on a CPU. More processes than
    GPUs, or a batch they cannot share equally, is an error naming the settings."""
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    count = (gpus or 1) if setting == "auto" else int(setting)
    if device.type == "cuda" and count > gpus:
        raise ValueError(f"gan.processes is {count} but {gpus} CUDA device(s) are visible: one process per GPU; "
                         "set gan.processes to at most that, or 'auto'")
    if batch_size % count:
        raise ValueError(f"gan.batch_size ({batch_size}) must divide by gan.processes ({setting} → {count}): "
                         "each process takes an equal share of every batch")
    return count


def devices_held(setting: int | str, device: str, batch_size: int) -> list[str]:
    """The devices one GAN's training occupies, for GPU slots: its own device, or with several processes
    on CUDA the GPUs they take (0 … n-1, local rank i on GPU i)."""
    if torch.device(device).type != "cuda" or torchrun_world() is not None:
        return [device]
    count = process_count(setting, torch.device(device), batch_size)
    return [device] if count == 1 else [f"cuda:{index}" for index in range(count)]


def launch(entry: Callable[..., Any], args: tuple, processes: int, restarts: int = LAUNCH_RESTARTS) -> Any:
    """Run ``entry(*args)`` in ``processes`` new local processes forming one world (torch's elastic
    agent, as ``torchrun --standalone`` does); return rank 0's return value. A rank that dies makes
    the agent stop the others and start them all again, up to ``restarts`` times."""
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=processes, run_id=f"gan-aug-{uuid.uuid4().hex}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=restarts,
                          monitor_interval=0.2, start_method="spawn")
    log.info("training the GAN in %d processes (torch.distributed, %d restarts allowed)", processes, restarts)
    returned = elastic_launch(config, entry)(*args)
    return returned[0]
