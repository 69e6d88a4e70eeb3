"""Readers for each source format. Each returns a ``RawSource``: decoded pixels plus labels as the
source spells them; turning labels into class indices and checking them is shared (``labels.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gan_aug.data.decode import DecodeOptions


@dataclass(frozen=True)
class ReadOptions:
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    label_column: str = "label"  # Parquet / CSV: the column holding each row's class
    image_column: str | None = None  # Parquet / CSV: the image column; None = detect


@dataclass
class RawSource:
    """What a reader found, before labels become class indices."""

    images: np.ndarray  # uint8 N×C×H×W, already at the configured size and channels
    labels: list[str]  # per row: the class as the source names it (ints as decimal strings)
    origins: list[str]  # per row: file path or "file:row", for messages and provenance
    problems: list[str] = field(default_factory=list)  # items skipped as unreadable, one line each
    class_names: list[str] | None = None  # an explicit class order when the source defines one
    formats: dict[str, int] = field(default_factory=dict)  # "W×H MODE" as stored → count (Decoded.formats)

    def __post_init__(self) -> None:
        if not (len(self.images) == len(self.labels) == len(self.origins)):
            raise ValueError("images, labels and origins must have one entry per row")
