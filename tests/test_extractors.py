"""Feature extractors: one interface, exact agreement with classify.embed, and never a download."""
from __future__ import annotations

import urllib.request
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from gan_aug.classify import embed
from gan_aug.metrics.extractors import (
    DomainExtractor,
    FeatureExtractor,
    InceptionExtractor,
    InceptionWeightsMissing,
    ModuleExtractor,
    build_extractor,
    inception_weights_available,
)
from gan_aug.models.classifier import SmallCNN


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(10, 1, 8, 8), dtype=np.uint8)


@pytest.fixture
def small_cnn() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(3, channels=1, width=4, embed_dim=6).eval()


@pytest.fixture
def no_network():
    """Any attempt to fetch weights fails the test loudly instead of reaching out."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    from pytorch_fid import inception as fid_inception

    with mock.patch.object(torch.hub, "load_state_dict_from_url", refuse), \
            mock.patch.object(torch.hub, "download_url_to_file", refuse), \
            mock.patch.object(fid_inception, "load_state_dict_from_url", refuse), \
            mock.patch.object(urllib.request, "urlopen", refuse):
        yield


def test_domain_extractor_matches_classify_embed(small_cnn, images):
    extractor = DomainExtractor(small_cnn)
    features = extractor.features(images)
    assert isinstance(extractor, FeatureExtractor) and extractor.name == "domain"
    assert features.dtype == np.float64 and features.shape == (10, 6) == (10, extractor.dim)
    np.testing.assert_array_equal(features, embed(small_cnn, images))


def test_domain_extractor_probabilities_sum_to_one(small_cnn, images):
    probabilities = DomainExtractor(small_cnn).probabilities(images)
    assert probabilities.shape == (10, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_batching_does_not_change_features(small_cnn, images):
    whole = DomainExtractor(small_cnn, batch_size=64).features(images)
    np.testing.assert_allclose(DomainExtractor(small_cnn, batch_size=3).features(images), whole, rtol=1e-5, atol=1e-6)
    module = ModuleExtractor(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), batch_size=4)
    np.testing.assert_allclose(module.features(images), ModuleExtractor(module.module).features(images), atol=1e-6)


def test_empty_input_gives_empty_features(small_cnn):
    empty = np.zeros((0, 1, 8, 8), dtype=np.uint8)
    assert DomainExtractor(small_cnn).features(empty).shape == (0, 6)


def test_rejects_non_uint8_images(small_cnn):
    with pytest.raises(ValueError, match="uint8"):
        DomainExtractor(small_cnn).features(np.zeros((2, 1, 8, 8), dtype=np.float32))


def test_module_extractor_flattens_and_learns_dim(images):
    module = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))  # output N×2×6×6, not flat
    module.train()
    extractor = ModuleExtractor(module, name="tiny")
    with pytest.raises(ValueError, match="probe"):
        _ = extractor.dim
    features = extractor.features(images)
    assert features.shape == (10, 72) and features.dtype == np.float64 and extractor.dim == 72
    assert module.training, "the caller's train/eval mode is restored"
    assert ModuleExtractor(module).probe((1, 8, 8)) == 72


def test_module_extractor_maps_input_range():
    extractor = ModuleExtractor(nn.Flatten(), input_range=(0.0, 1.0))
    pixels = np.array([[[[0, 255]]]], dtype=np.uint8)
    np.testing.assert_allclose(extractor.features(pixels), [[0.0, 1.0]])


def test_inception_missing_weights_raises_without_network(tmp_path, no_network):
    missing = tmp_path / "nowhere" / "pt_inception-2015-12-05-6726825d.pth"
    assert inception_weights_available(missing) is None
    with pytest.raises(InceptionWeightsMissing) as error:
        InceptionExtractor(missing)
    assert str(missing) in str(error.value) and "filter.inception_weights" in str(error.value)
    assert isinstance(error.value, FileNotFoundError)
    with pytest.raises(FileNotFoundError, match="filter.inception_weights"):
        build_extractor("inception", inception_weights=missing)


def test_inception_default_path_is_hub_cache_and_never_downloaded(tmp_path, no_network):
    with mock.patch.object(torch.hub, "get_dir", return_value=str(tmp_path)):
        assert inception_weights_available() is None
        with pytest.raises(InceptionWeightsMissing, match=str(tmp_path / "checkpoints")):
            InceptionExtractor()


def _random_fid_inception_weights(path: Path) -> Path:
    """pytorch-fid's FID Inception with random weights: its fetcher and strict load are bypassed."""
    from pytorch_fid import inception as fid_inception

    with mock.patch.object(fid_inception, "load_state_dict_from_url", return_value={}), \
            mock.patch.object(torchvision.models.Inception3, "load_state_dict", lambda self, state: None):
        network = fid_inception.fid_inception_v3()
    torch.save(network.state_dict(), path)
    return path


@pytest.mark.slow  # builds Inception twice and runs it at 299 px: 3–9 s on a shared CPU
def test_inception_extractor_from_local_weights(tmp_path, no_network):
    weights = _random_fid_inception_weights(tmp_path / "weights.pth")
    assert inception_weights_available(weights) == weights
    extractor = build_extractor("inception", inception_weights=weights)
    grey = np.random.default_rng(1).integers(0, 256, size=(2, 1, 16, 16), dtype=np.uint8)
    features = extractor.features(grey)
    assert features.shape == (2, 2048) == (2, extractor.dim) and features.dtype == np.float64
    assert np.isfinite(features).all()
    assert extractor.features(np.repeat(grey[:1], 3, axis=1)).shape == (1, 2048)
    with pytest.raises(ValueError, match="channels"):
        extractor.features(np.zeros((1, 2, 16, 16), dtype=np.uint8))


def test_inception_rejects_a_corrupt_weights_file(tmp_path, no_network):
    bad = tmp_path / "bad.pth"
    torch.save({"not": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="bad.pth"):
        InceptionExtractor(bad)


def test_build_extractor_kinds_and_errors(small_cnn):
    assert isinstance(build_extractor("domain", domain_model=small_cnn), DomainExtractor)
    assert isinstance(build_extractor("module", module=nn.Flatten()), ModuleExtractor)
    with pytest.raises(ValueError, match="unknown feature extractor 'clip'"):
        build_extractor("clip")
    with pytest.raises(ValueError, match="domain_model"):
        build_extractor("domain")
    with pytest.raises(ValueError, match="needs module"):
        build_extractor("module")
