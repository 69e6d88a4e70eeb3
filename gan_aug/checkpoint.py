"""GAN checkpoints: written atomically, read back without unpickling arbitrary objects."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch

from gan_aug.io import atomic_write_bytes
from gan_aug.models.discriminator import Discriminator
from gan_aug.models.generator import Generator

# What every checkpoint the trainer writes holds beside the networks' and optimisers' state: what
# loading and resuming read without a fallback.
REQUIRED_KEYS = ("arch", "generator_ema", "config_hash", "code_digest", "best", "snapshots")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file and what to do."""


@dataclass(frozen=True)
class Architecture:
    """Everything needed to rebuild the networks from a checkpoint."""

    z_dim: int
    num_classes: int
    image_size: int
    channels: int
    base_channels: int

    def build(self) -> tuple[Generator, Discriminator]:
        generator = Generator(self.z_dim, self.num_classes, self.image_size, self.channels, self.base_channels)
        discriminator = Discriminator(self.num_classes, self.image_size, self.channels, self.base_channels)
        return generator, discriminator


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Serialised in memory, then written atomically: torch.save streaming into a full disk fails with
    an opaque C++ error ("unexpected pos …"); a plain write fails with ENOSPC, which atomic_write
    reports as a DiskFullError naming the file and the bytes needed. The old checkpoint stays intact."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write_bytes(path, buffer.getbuffer())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """``weights_only=True``: a tampered file cannot run code; a broken one gives a clear error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises several types for corrupt archives
        first_line = (str(error).strip().splitlines() or [""])[0][:200]  # torch's messages run to paragraphs
        raise CheckpointError(
            f"{path}: checkpoint is corrupt or not a gan-aug checkpoint ({type(error).__name__}: {first_line}); "
            "delete it to train from scratch"
        ) from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"{path}: not a gan-aug checkpoint (missing {', '.join(map(repr, missing))}); "
                              "delete it to train from scratch")
    return state


def load_sampler(
    path: str | Path, device: str | torch.device = "cpu", label: int | None = None
) -> tuple[Generator, Discriminator]:
    """The EMA generator and the discriminator, in eval mode, for generation and scoring.

    With ``label``, the generator carries the EMA weights that gave that class its lowest FD during
    training, when the run checked FD; otherwise the final EMA weights."""
    state = load_checkpoint(path, map_location=device)
    generator, discriminator = Architecture(**state["arch"]).build()
    generator.load_state_dict(state["generator_ema"])
    best_step = best_snapshot_step(state, label)
    if best_step is not None:
        generator.load_state_dict(state["snapshots"][str(best_step)])
    discriminator.load_state_dict(state["discriminator"])
    return generator.to(device).eval(), discriminator.to(device).eval()


def best_snapshot_step(state: dict, label: int | None) -> int | None:
    """The training step whose EMA weights a class is sampled from; None means the final weights."""
    best = state["best"].get(str(label)) if label is not None else None
    return None if best is None else int(best["step"])  # the tracker keeps the snapshot of every best step
