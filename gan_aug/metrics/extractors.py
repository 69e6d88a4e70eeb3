"""Feature extractors behind one small interface, so metrics and filters never care which network runs.

The default is the domain extractor (the embedding of a classifier trained on the user's real
training split). Inception is used only when its weights file is already on disk: this module
never downloads anything.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gan_aug.batched import batched, eval_mode, module_device
from gan_aug.classify import embed, predict_proba
from gan_aug.models.classifier import SmallCNN

INCEPTION_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
EXTRACTOR_KINDS = ("domain", "inception", "module")
_POOL3 = 3  # InceptionV3.BLOCK_INDEX_BY_DIM[2048]: the final average pool
# InceptionV3's blocks up to pool3, as torchvision Inception3 attribute names (its max and average
# pools are the same layers InceptionV3 makes anew).
_POOL3_BLOCKS = (
    ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1"),
    ("Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2"),
    ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"),
    ("Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool"),
)


class InceptionWeightsMissing(FileNotFoundError):
    """Raised instead of downloading when the FID Inception weights are not on disk."""


class FeatureExtractor(ABC):
    """uint8 N×C×H×W images in, float64 N×dim features out; batched, eval mode, no gradients."""

    name: str
    batch_size: int = 256

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of one feature vector."""

    @property
    @abstractmethod
    def device(self) -> torch.device:
        """Where the network runs; batches are moved there."""

    def features(self, images: np.ndarray) -> np.ndarray:
        _check_images(images)
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float64)
        return self._features(images)

    def _features(self, images: np.ndarray) -> np.ndarray:
        """Checked, non-empty images to features: ``_forward`` over batches on ``device``."""
        return batched(lambda batch: self._forward(batch).flatten(1), images, self.batch_size,
                       self.device).astype(np.float64)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        """One uint8 batch (already on ``device``) to N×D features; needed unless ``_features`` is replaced."""
        raise NotImplementedError(f"{type(self).__name__} defines neither _forward nor _features")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, device={self.device})"


def _check_images(images: np.ndarray) -> None:
    """Fail at the edge with the contract spelled out, not deep inside a conv layer."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        got = f"{getattr(images, 'dtype', type(images).__name__)} with shape {getattr(images, 'shape', '?')}"
        raise ValueError(f"feature extractors take uint8 N×C×H×W arrays; got {got}")


class DomainExtractor(FeatureExtractor):
    """The default: a SmallCNN trained on the real training split, read at its penultimate layer."""

    name = "domain"

    def __init__(self, model: SmallCNN, *, batch_size: int = 512):
        self.model = model
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return self.model.head.in_features

    @property
    def device(self) -> torch.device:
        return module_device(self.model)

    def _features(self, images: np.ndarray) -> np.ndarray:
        """The same numbers gan_aug.classify.embed gives, so both paths agree exactly."""
        return embed(self.model, images, batch_size=self.batch_size)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Softmax class probabilities: what the label-consistency filter checks."""
        _check_images(images)
        if len(images) == 0:
            return np.zeros((0, self.model.num_classes), dtype=np.float32)
        return predict_proba(self.model, images, batch_size=self.batch_size)


class ModuleExtractor(FeatureExtractor):
    """Any torch module a user brings; its output is flattened to N×D.

    ``input_range`` is where uint8 0 and 255 land (the module's expected pixel range).
    ``dim`` is known after the first batch, or earlier through ``probe``.
    """

    def __init__(
        self,
        module: nn.Module,
        name: str = "custom",
        input_range: tuple[float, float] = (-1.0, 1.0),
        *,
        device: torch.device | str | None = None,
        batch_size: int = 256,
    ):
        self.module = module if device is None else module.to(device)
        self.name = name
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self.batch_size = batch_size
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            raise ValueError(f"extractor {self.name!r}: dim is unknown until the first batch; call probe(shape) first")
        return self._dim

    @property
    def device(self) -> torch.device:
        return module_device(self.module)

    def probe(self, image_shape: tuple[int, int, int]) -> int:
        """Learn ``dim`` from one blank C×H×W image, e.g. before sizing a feature cache."""
        self.features(np.zeros((1, *image_shape), dtype=np.uint8))
        return self.dim

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        low, high = self.input_range
        with eval_mode(self.module):
            out = self.module(batch.float() * ((high - low) / 255.0) + low).flatten(1)
        self._dim = out.shape[1]
        return out


def default_inception_weights() -> Path:
    """Where torch.hub would have cached pytorch-fid's weights (looked at, never filled)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


def inception_weights_available(weights_path: str | Path | None = None) -> Path | None:
    """The weights file to use if it exists locally, else None (so callers can fall back)."""
    path = Path(weights_path).expanduser() if weights_path is not None else default_inception_weights()
    return path if path.is_file() else None


def _build_fid_inception(weights_path: Path) -> nn.Module:
    """pytorch-fid's pool3 InceptionV3, built from a local file with no URL anywhere on the path.

    ``fid_inception_v3`` and ``InceptionV3.__init__`` fetch weights by URL, so their few steps are
    taken here with pytorch-fid's own classes: torchvision's skeleton with the FID blocks swapped
    in, a strict load of the file, then the pool3 blocks inside an ``InceptionV3`` (its forward
    resizes to 299 and rescales) whose ``__init__`` is skipped.
    """
    import torchvision
    from pytorch_fid import inception as fid

    try:
        inception = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None,
                                                    init_weights=False)
        for name, block in _fid_blocks(fid).items():
            setattr(inception, name, block)
        inception.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    except Exception as error:  # noqa: BLE001 - torch raises many types for a corrupt or mismatched file
        raise ValueError(f"{weights_path}: not a usable copy of {INCEPTION_WEIGHTS_FILE} ({error})") from None
    network = fid.InceptionV3.__new__(fid.InceptionV3)
    nn.Module.__init__(network)
    network.resize_input = network.normalize_input = True
    network.output_blocks, network.last_needed_block = [_POOL3], _POOL3
    network.blocks = nn.ModuleList(nn.Sequential(*(getattr(inception, name) for name in names))
                                   for names in _POOL3_BLOCKS)
    return network.requires_grad_(False)


def _fid_blocks(fid) -> dict[str, nn.Module]:
    """The blocks ``fid_inception_v3`` swaps into torchvision's Inception, made in its order (and so
    drawing the same random numbers)."""
    return {
        "Mixed_5b": fid.FIDInceptionA(192, pool_features=32), "Mixed_5c": fid.FIDInceptionA(256, pool_features=64),
        "Mixed_5d": fid.FIDInceptionA(288, pool_features=64), "Mixed_6b": fid.FIDInceptionC(768, channels_7x7=128),
        "Mixed_6c": fid.FIDInceptionC(768, channels_7x7=160), "Mixed_6d": fid.FIDInceptionC(768, channels_7x7=160),
        "Mixed_6e": fid.FIDInceptionC(768, channels_7x7=192), "Mixed_7b": fid.FIDInceptionE_1(1280),
        "Mixed_7c": fid.FIDInceptionE_2(2048),
    }


class InceptionExtractor(FeatureExtractor):
    """pytorch-fid's InceptionV3 pool3 features (2048-d), only from a weights file already on disk."""

    name = "inception"

    def __init__(
        self, weights_path: str | Path | None = None, device: torch.device | str = "cpu", *, batch_size: int = 32
    ):
        path = inception_weights_available(weights_path)
        if path is None:
            looked = Path(weights_path).expanduser() if weights_path is not None else default_inception_weights()
            raise InceptionWeightsMissing(
                f"Inception weights not found at {looked} (nothing is downloaded); set filter.inception_weights "
                f"to a local copy of {INCEPTION_WEIGHTS_FILE}, or use the domain extractor"
            )
        self.weights_path = path
        self.batch_size = batch_size
        self.network = _build_fid_inception(path).to(device).eval()

    @property
    def dim(self) -> int:
        return 2048

    @property
    def device(self) -> torch.device:
        return module_device(self.network)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Grey → three channels, uint8 → [0, 1]; the network resizes to 299 and rescales itself."""
        if batch.shape[1] == 1:
            batch = batch.expand(-1, 3, -1, -1)
        elif batch.shape[1] != 3:
            raise ValueError(f"Inception takes 1- or 3-channel images; got {batch.shape[1]} channels")
        return self.network(batch.float() / 255.0)[0]


def build_extractor(
    kind: str,
    *,
    domain_model: SmallCNN | None = None,
    inception_weights: str | Path | None = None,
    module: nn.Module | None = None,
    device: torch.device | str | None = None,
) -> FeatureExtractor:
    """One entry point from a config string; errors name what is missing.

    ``device=None`` leaves a given model where it is (Inception then runs on the CPU).
    """
    if kind == "domain":
        if domain_model is None:
            raise ValueError("extractor 'domain' needs domain_model (the classifier trained on the real split)")
        return DomainExtractor(domain_model if device is None else domain_model.to(device))
    if kind == "inception":
        return InceptionExtractor(inception_weights, device="cpu" if device is None else device)
    if kind == "module":
        if module is None:
            raise ValueError("extractor 'module' needs module (a torch.nn.Module mapping images to features)")
        return ModuleExtractor(module, device=device)
    raise ValueError(f"unknown feature extractor {kind!r}; choose one of {', '.join(EXTRACTOR_KINDS)}")
