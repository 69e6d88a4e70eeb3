"""Differentiable augmentation: what each transform does to pixels, and that gradients pass through."""
import pytest
import torch

from gan_aug.models.diffaugment import color, cutout, diff_augment, resolve_policy, translation


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_auto_policy_adds_colour_only_for_rgb():
    assert resolve_policy("auto", 1) == ("translation", "cutout")
    assert resolve_policy("auto", 3) == ("translation", "cutout", "color")
    assert resolve_policy("off", 3) == ()
    assert resolve_policy(["cutout"], 1) == ("cutout",)
    with pytest.raises(ValueError, match="gan.diffaugment.*'flip'"):
        resolve_policy(["flip"], 1)


def test_translation_moves_a_pixel_by_at_most_an_eighth_of_the_size():
    x = torch.zeros(64, 1, 16, 16)
    x[:, 0, 8, 8] = 1.0
    out = translation(x, _gen())
    assert out.shape == x.shape
    moved = 0
    for image in out[:, 0]:
        (row, col), = torch.nonzero(image).tolist()  # the pixel survives, exactly once
        assert abs(row - 8) <= 2 and abs(col - 8) <= 2
        moved += (row, col) != (8, 8)
    assert moved > 32  # most images are shifted: 24 of the 25 offsets move it


def test_cutout_zeroes_one_square_of_half_the_size():
    x = torch.ones(200, 1, 8, 8)
    out = cutout(x, _gen())
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert (zeros >= 1).all() and (zeros <= 16).all()  # a 4×4 square, clipped at the border
    assert (zeros == 16).any()
    assert set(out.unique().tolist()) == {0.0, 1.0}


def test_colour_changes_brightness_and_contrast_per_image():
    x = torch.linspace(-1, 1, 64).reshape(1, 1, 8, 8).repeat(32, 1, 1, 1)
    out = color(x, _gen())
    means, spreads = out.mean(dim=(1, 2, 3)), out.std(dim=(1, 2, 3))
    assert means.std() > 0.1 and spreads.std() > 0.05  # each image got its own jitter
    rgb = torch.rand(16, 3, 8, 8, generator=_gen(1))
    assert color(rgb, _gen()).shape == rgb.shape


def test_gradients_flow_and_draws_are_reproducible():
    x = torch.randn(8, 3, 16, 16, requires_grad=True)
    policy = ("translation", "cutout", "color")
    out = diff_augment(x, policy, _gen(3))
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    torch.testing.assert_close(diff_augment(x.detach(), policy, _gen(3)), out.detach())
    assert not torch.equal(diff_augment(x.detach(), policy, _gen(4)), out.detach())
