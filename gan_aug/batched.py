"""Batched no-grad inference over uint8 image arrays: the one loop the classifier, the feature
extractors and the discriminator filter share, so their batching and transfers cannot drift apart."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn


def module_device(module: nn.Module) -> torch.device:
    """Where a module's parameters (or, without any, its buffers) live; the CPU when it has neither."""
    tensor = next(module.parameters(), None)
    if tensor is None:
        tensor = next(module.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Eval mode for the duration, then the caller's mode back (the module may be mid-training)."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@torch.no_grad()
def batched(fn: Callable[..., torch.Tensor], images: np.ndarray, batch_size: int, device: torch.device,
            labels: np.ndarray | None = None) -> np.ndarray:
    """``fn`` over ``images`` ``batch_size`` rows at a time, each batch moved to ``device`` as uint8
    (with its rows' ``labels`` as int64 beside it when given); the outputs joined on the CPU.

    No rows give an empty float32 array.
    """
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size])).to(device)
        if labels is None:
            outputs.append(fn(batch).cpu())
        else:
            rows = torch.as_tensor(labels[start:start + batch_size], dtype=torch.long, device=device)
            outputs.append(fn(batch, rows).cpu())
    return torch.cat(outputs).numpy() if outputs else np.zeros((0,), dtype=np.float32)
