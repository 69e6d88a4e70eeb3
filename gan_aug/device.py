"""Pick the compute device once, from the config's setting, and share GPUs one task at a time."""
from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from pathlib import Path
from typing import Iterator

import torch
from filelock import FileLock

# Where GPU slot locks live: one lock file per GPU of this host, shared by every process on it.
GPU_LOCK_DIR = Path(os.environ.get("GAN_AUG_GPU_LOCK_DIR", Path(tempfile.gettempdir()) / "gan-aug-gpu-locks"))


def resolve_device(setting: str = "auto") -> torch.device:
    """'auto' uses CUDA when present; asking for 'cuda' without one is an error, not a silent CPU run."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("gan.device is 'cuda' but no CUDA device is available; set it to 'auto' or 'cpu'")
    return torch.device(setting)


def device_for_task(device: str, index: int) -> str:
    """Spread per-class tasks over the visible GPUs round-robin (cuda → cuda:0, cuda:1, …)."""
    if device == "cuda" and torch.cuda.device_count() > 1:
        return f"cuda:{index % torch.cuda.device_count()}"
    return device


def gpu_index(device: str) -> int | None:
    """'cuda' / 'cuda:N' → the GPU's index; None for any other device."""
    if not device.startswith("cuda"):
        return None
    return int(device.split(":", 1)[1]) if ":" in device else (torch.cuda.current_device() if torch.cuda.is_available() else 0)


@contextlib.contextmanager
def gpu_slot(device: str, lock_dir: Path | None = None) -> Iterator[None]:
    """Hold this GPU alone for the duration: at most one GPU task per GPU at once, however tasks are run
    (threads, Dask or Ray worker processes on one host). A file lock, so it needs no server; CPU tasks
    pass straight through."""
    index = gpu_index(device)
    if index is None:
        yield
        return
    folder = Path(lock_dir or GPU_LOCK_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / f"{socket.gethostname()}-cuda{index}.lock")):
        yield


def to_model_input(images: "torch.Tensor") -> "torch.Tensor":
    """uint8 [0, 255] → float [-1, 1]: the one place pixels become model inputs."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: "torch.Tensor") -> "torch.Tensor":
    """Model output in [-1, 1] → uint8 [0, 255], rounded, on the CPU."""
    return images.detach().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).cpu()
