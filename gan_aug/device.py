"""Pick the compute device once, from the config's setting."""
from __future__ import annotations

import torch


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


def to_model_input(images: "torch.Tensor") -> "torch.Tensor":
    """uint8 [0, 255] → float [-1, 1]: the one place pixels become model inputs."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: "torch.Tensor") -> "torch.Tensor":
    """Model output in [-1, 1] → uint8 [0, 255], rounded, on the CPU."""
    return images.detach().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).cpu()
