"""The hinge loss with the discriminator regulariser that small data needs: LeCam, R1 or none."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

LECAM_DECAY = 0.99


class HingeLoss:
    """Hinge losses for D and G; owns LeCam's moving averages of D's outputs, so they checkpoint with it."""

    def __init__(self, regularization: str, *, lecam_weight: float, r1_gamma: float, device: torch.device,
                 average: Callable[[torch.Tensor], torch.Tensor] | None = None):
        """``average``: a batch's means → their mean over the processes that share the batch, so LeCam's
        averages stay one state however many processes train (distributed.World.mean)."""
        self.regularization, self.lecam_weight, self.r1_gamma = regularization, lecam_weight, r1_gamma
        self.lecam = torch.zeros(2, device=device)  # EMA of D's mean output on real, fake
        self.average = average or (lambda means: means)

    def prepare_real(self, real_in: torch.Tensor) -> torch.Tensor:
        """R1 differentiates D's output with respect to its real input: that input needs a gradient."""
        return real_in.detach().requires_grad_(True) if self.regularization == "r1" else real_in

    def discriminator(self, real_in: torch.Tensor, d_real: torch.Tensor,
                      d_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(hinge loss, penalty): D minimises their sum; they are logged apart."""
        loss = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
        return loss, self._penalty(real_in, d_real, d_fake)

    @staticmethod
    def generator(d_fake: torch.Tensor) -> torch.Tensor:
        return -d_fake.mean()

    def _penalty(self, real_in: torch.Tensor, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        if self.regularization == "lecam":
            # Tseng et al. 2021: pull D's outputs towards the moving average of the other side's,
            # which bounds how far D can separate a handful of memorised real images.
            means = self.average(torch.stack([d_real.detach().mean(), d_fake.detach().mean()]))
            self.lecam.lerp_(means, 1 - LECAM_DECAY)
            ema_real, ema_fake = self.lecam[0], self.lecam[1]
            reg = F.relu(d_real - ema_fake).pow(2).mean() + F.relu(ema_real - d_fake).pow(2).mean()
            return self.lecam_weight * reg
        if self.regularization == "r1":
            (grad,) = torch.autograd.grad(d_real.sum(), real_in, create_graph=True)
            return 0.5 * self.r1_gamma * grad.pow(2).sum(dim=(1, 2, 3)).mean()
        return torch.zeros((), device=self.lecam.device)

    def state_dict(self) -> dict:
        return {"lecam": self.lecam}

    def load_state_dict(self, state: dict) -> None:
        self.lecam.copy_(state["lecam"])


GSR_GROUPS = 4


def group_spectral_penalty(generator: torch.nn.Module, groups: int = GSR_GROUPS) -> torch.Tensor:
    """Group spectral regularisation (gSR, Rangwani et al., ECCV 2022): each class's conditional
    batch-norm scale and shift, grouped into a ``groups`` × C/groups matrix, pays its largest
    singular value squared. Tail classes' parameters otherwise grow a few dominant directions,
    which the paper ties to their mode collapse; summed over classes and layers."""
    penalty = torch.zeros((), device=next(generator.parameters()).device)
    for module in generator.modules():
        for embedding, centre in ((getattr(module, "gain", None), 1.0), (getattr(module, "bias", None), 0.0)):
            if not isinstance(embedding, torch.nn.Embedding) or embedding.weight.shape[1] % groups:
                continue
            weight = embedding.weight - centre  # the scale is 1 at rest: regularise its deviation
            matrices = weight.reshape(weight.shape[0], groups, -1)
            penalty = penalty + torch.linalg.matrix_norm(matrices.float(), ord=2).pow(2).sum()
    return penalty
