"""Pick the compute device once, from the config's setting, and share GPUs one task at a time."""
from __future__ import annotations

import contextlib
import functools
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
    if ":" in device:
        return int(device.split(":", 1)[1])
    return torch.cuda.current_device() if torch.cuda.is_available() else 0


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


@contextlib.contextmanager
def gpu_slots(devices: list[str], lock_dir: Path | None = None) -> Iterator[None]:
    """``gpu_slot`` of every device, taken in the order given (ascending, so two tasks that each want
    several GPUs cannot hold one each and wait for the other's)."""
    with contextlib.ExitStack() as held:
        for device in devices:
            held.enter_context(gpu_slot(device, lock_dir))
        yield


def to_model_input(images: "torch.Tensor") -> "torch.Tensor":
    """uint8 [0, 255] → float [-1, 1]: the one place pixels become model inputs."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: "torch.Tensor") -> "torch.Tensor":
    """Model output in [-1, 1] → uint8 [0, 255], rounded, on the CPU."""
    return images.detach().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).cpu()


def fast_dtype(device: torch.device | str) -> torch.dtype | None:
    """bf16 where the hardware computes in it natively (CUDA; CPUs with AVX512-BF16 or AMX), for
    autocast: 2–3× the speed of fp32 for small convolutional networks on such a CPU. None elsewhere,
    where bf16 would be emulated and slower."""
    device = torch.device(device)
    if device.type == "cuda" or (device.type == "cpu" and native_bf16_cpu()):
        return torch.bfloat16
    return None


@functools.cache
def native_bf16_cpu() -> bool:
    """Whether this CPU has bf16 dot products (AVX512-BF16 or AMX), read from /proc/cpuinfo on Linux."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def autocast(device: torch.device | str, dtype: torch.dtype | None):
    """Mixed precision in ``dtype`` on ``device``, or nothing when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)
