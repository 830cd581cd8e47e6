"""Parity tests for the maths that style transfer depends on."""

from __future__ import annotations

import torch

from artlens.style.images import match_color, preserve_color, to_tensor
from artlens.style.losses import adain, channel_stats, gram_matrix, moment_loss, style_loss, tv_loss


def test_gram_matrix_matches_the_direct_formula():
    torch.manual_seed(0)
    fmap = torch.randn(2, 5, 7, 3)
    direct = torch.zeros(2, 5, 5)
    for b in range(2):
        for i in range(5):
            for j in range(5):
                direct[b, i, j] = (fmap[b, i] * fmap[b, j]).sum() / (5 * 7 * 3)
    torch.testing.assert_close(gram_matrix(fmap), direct)


def test_gram_matrix_ignores_where_features_are():
    """Style is position-free: shuffling pixels (the same way in every channel) keeps the Gram matrix."""
    torch.manual_seed(1)
    fmap = torch.randn(1, 4, 6, 6)
    perm = torch.randperm(36)
    shuffled = fmap.flatten(2)[..., perm].reshape_as(fmap)
    torch.testing.assert_close(gram_matrix(shuffled), gram_matrix(fmap))
    assert style_loss({"l": shuffled}, {"l": gram_matrix(fmap)}) < 1e-10


def test_adain_output_has_the_style_channel_statistics():
    torch.manual_seed(0)
    content = torch.randn(2, 8, 16, 16) * 3 + 1
    style = torch.randn(2, 8, 9, 11) * 0.5 - 2
    s_mean, s_std = channel_stats(style)
    out = adain(content, s_mean, s_std)
    o_mean, o_std = channel_stats(out)
    torch.testing.assert_close(o_mean, s_mean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(o_std, s_std, atol=1e-3, rtol=1e-3)
    assert float(moment_loss([out], [style])) < 1e-6
    flat = style.flatten(2)  # channel_stats is the biased mean/std
    torch.testing.assert_close(s_std.flatten(1), (flat.var(-1, unbiased=False) + 1e-5).sqrt())


def test_total_variation_is_zero_on_a_flat_image_and_grows_with_noise():
    flat = torch.full((1, 3, 16, 16), 0.5)
    assert float(tv_loss(flat)) == 0.0
    assert float(tv_loss(torch.rand(1, 3, 16, 16))) > 0.2


def test_colour_matching_gives_the_target_palette(photo, starry):
    source, target = to_tensor(starry.resize((64, 64))), to_tensor(photo.resize((64, 64)))
    out = match_color(source, target)
    torch.testing.assert_close(out.mean((2, 3)), target.mean((2, 3)), atol=0.02, rtol=0)
    assert (out.mean((2, 3)) - target.mean((2, 3))).abs().max() < (source.mean((2, 3)) - target.mean((2, 3))).abs().max()


def test_luminance_preservation_keeps_the_results_brightness_and_the_contents_colour(photo, starry):
    result, content = to_tensor(starry.resize((48, 48))), to_tensor(photo.resize((48, 48)))
    out = preserve_color(result, content)
    luma = lambda x: (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])  # noqa: E731
    assert (luma(out) - luma(result)).abs().mean() < 0.02
    assert (out.mean((2, 3)) - content.mean((2, 3))).abs().max() < (result.mean((2, 3)) - content.mean((2, 3))).abs().max()
