"""Adaptive DiffAugment: what the discriminator sees is augmented with a probability p that rises
only while D overfits (Karras et al. 2020, "ADA"), so short runs on plentiful data are not slowed."""
from __future__ import annotations

from typing import Callable

import torch

from gan_aug.models.diffaugment import diff_augment

# Raise p while the share of real images D scores positive exceeds ADA_TARGET (D is memorising
# them), lower it otherwise. p can cross [0, 1] in ADA_SPEED_IMAGES real images, adjusted every
# ADA_INTERVAL steps.
ADA_TARGET, ADA_SPEED_IMAGES, ADA_INTERVAL = 0.6, 100_000, 4


class AdaptiveAugment:
    """DiffAugment with ``policy`` on a share ``p`` of each batch; ``p=None`` adapts it, starting at 0.

    Draws come from ``rng``, the trainer's generator, so the order of draws is the loop's. ``total``
    sums a statistic over the processes that share each batch (distributed.World.sum), so every one
    adjusts p alike."""

    def __init__(self, policy: tuple[str, ...], p: float | None, rng: torch.Generator,
                 total: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.policy, self.rng, self.adaptive = policy, rng, p is None
        self.total = total or (lambda statistic: statistic)
        self.always = p == 1.0  # every image augmented: no mask, no draw for it
        self.p = torch.full((), 0.0 if self.adaptive else p, device=rng.device)
        self.overfit_sum = torch.zeros(2, device=rng.device)  # Σ sign(D(real)), count since the last adjustment

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.policy:
            return x
        if self.p.device.type == "cpu" and self.adaptive and float(self.p) == 0.0:
            return x  # reading p is free on the CPU; on CUDA it would stall the queue, so there we mask
        if self.always:
            return diff_augment(x, self.policy, self.rng)
        chosen = torch.rand(x.shape[0], 1, 1, 1, device=x.device, generator=self.rng) < self.p
        return torch.where(chosen, diff_augment(x, self.policy, self.rng), x)

    def update(self, d_real: torch.Tensor, step: int) -> None:
        """After ``step``: device-side update of p from E[sign D(real)], never waiting for the host."""
        if not (self.adaptive and self.policy):
            return
        count = torch.tensor(float(len(d_real)), device=self.p.device)
        self.overfit_sum += self.total(torch.stack([torch.sign(d_real.detach()).sum(), count]))
        if step % ADA_INTERVAL == 0:
            overfit = self.overfit_sum[0] / self.overfit_sum[1]
            delta = torch.sign(overfit - ADA_TARGET) * self.overfit_sum[1] / ADA_SPEED_IMAGES
            self.p.add_(delta).clamp_(0.0, 1.0)
            self.overfit_sum.zero_()

    def state_dict(self) -> dict:
        return {"augment_p": self.p, "overfit_sum": self.overfit_sum}

    def load_state_dict(self, state: dict) -> None:
        self.p.copy_(state["augment_p"])
        self.overfit_sum.copy_(state["overfit_sum"])
