import pytest
import torch

from gan_aug.models.blocks import ConditionalBatchNorm2d, num_upsamples
from gan_aug.models.discriminator import Discriminator
from gan_aug.models.generator import Generator


@pytest.mark.parametrize("size, stages", [(8, 1), (28, 2), (32, 3), (64, 4), (128, 5), (7, 0)])
def test_stages_adapt_to_image_size(size, stages):
    assert num_upsamples(size) == stages


@pytest.mark.parametrize("size, channels", [(8, 1), (8, 3), (28, 1), (32, 3), (64, 1), (128, 3)])
def test_generator_and_discriminator_shapes(size, channels):
    g, d = Generator(16, 5, size, channels, base_channels=8), Discriminator(5, size, channels, base_channels=8)
    x = g(torch.randn(4, 16), torch.arange(4))
    assert x.shape == (4, channels, size, size)
    assert x.abs().max() <= 1.0  # tanh output, the range images are scaled to
    assert d(x, torch.arange(4)).shape == (4,)


def test_conditioning_changes_outputs():
    torch.manual_seed(0)
    g, d = Generator(16, 3, 8, 1, base_channels=8).eval(), Discriminator(3, 8, 1, base_channels=8).eval()
    with torch.no_grad():
        for cbn in (m for m in g.modules() if isinstance(m, ConditionalBatchNorm2d)):
            cbn.gain.weight.normal_()  # freshly initialised CBN is the identity for every class
        z = torch.randn(1, 16).repeat(2, 1)
        images = g(z, torch.tensor([0, 1]))
        assert not torch.allclose(images[0], images[1])
        same = images[:1].repeat(2, 1, 1, 1)
        scores = d(same, torch.tensor([0, 1]))
        assert not torch.isclose(scores[0], scores[1])  # the projection term depends on the label


def test_discriminator_layers_are_spectrally_normalised():
    d = Discriminator(3, 8, 1, base_channels=8)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(hasattr(m, "parametrizations") for m in convs)
