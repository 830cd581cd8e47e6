"""The zero-shot estimators: the batched one agrees with the study's, elimination keeps the leader."""

from __future__ import annotations

import pytest
import torch

from artlens.diffusion import (ClassUNet, GaussianDiffusion, UNetConfig, auto_keep, class_errors, estimate_errors,
                               naive_class_errors, plan_stages, stratified_timesteps)
from artlens.errors import ArtlensError


@pytest.fixture(scope="module")
def untrained():
    """A random denoiser with 6 classes: its class embeddings differ, so its errors do too."""
    torch.manual_seed(0)
    net = ClassUNet(UNetConfig(base_channels=16, channel_mults=[1, 2], num_res_blocks=1, attention_resolutions=[8],
                               dropout=0.0), num_classes=6, image_size=16).eval()
    for p in net.parameters():  # zero-initialised output layers would make every class equal
        p.data.add_(0.05 * torch.randn_like(p))
    return net, GaussianDiffusion(timesteps=400, schedule="cosine")


def test_batched_and_naive_estimators_give_the_same_errors_for_the_same_noise(untrained):
    net, d = untrained
    x0 = torch.rand(3, 16, 16) * 2 - 1
    gen = torch.Generator().manual_seed(0)
    t, noise = stratified_timesteps(5, d.timesteps, generator=gen), torch.randn(5, 3, 16, 16, generator=gen)
    naive = naive_class_errors(net, d, x0, 6, 5, t=t, noise=noise)
    for batch_size in (1024, 7):  # one forward pass, or rows split across several
        batched, calls = class_errors(net, d, x0, torch.arange(6), t, noise, batch_size=batch_size)
        assert torch.allclose(batched, naive, rtol=1e-4, atol=1e-6)
        assert calls == (1 if batch_size == 1024 else 5)  # 30 rows in chunks of 7
    assert naive.std(1).gt(0).all()  # the classes really differ


def test_elimination_never_drops_the_class_with_the_lowest_running_error(untrained):
    net, d = untrained
    for seed in range(4):
        x0 = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(seed)) * 2 - 1
        score = estimate_errors(net, d, x0, 6, samples=[4, 8, 16], keep=[3, 2],
                                generator=torch.Generator().manual_seed(seed))
        for stage in score.trace:
            leader = stage["alive"][min(range(len(stage["means"])), key=stage["means"].__getitem__)]
            assert leader in stage["kept"]
        assert [len(s["alive"]) for s in score.trace] == [6, 3, 2]
        assert score.passes == 4 * 6 + 4 * 3 + 8 * 2 and score.forwards == 3
        assert score.prediction in score.trace[-1]["kept"]
        assert sorted(score.counts.tolist()) == [4, 4, 4, 8, 16, 16]


def test_the_same_seed_gives_the_same_score_whatever_was_scored_before(untrained):
    net, d = untrained
    x0 = torch.zeros(3, 16, 16)
    a = estimate_errors(net, d, x0, 6, samples=[4, 8], generator=torch.Generator().manual_seed(3))
    estimate_errors(net, d, torch.ones(3, 16, 16), 6, samples=[4, 8], generator=torch.Generator().manual_seed(9))
    b = estimate_errors(net, d, x0, 6, samples=[4, 8], generator=torch.Generator().manual_seed(3))
    assert (a.errors == b.errors).all()


def test_stage_plans_halve_the_contenders_and_check_their_counts():
    assert [(s.samples, s.classes) for s in plan_stages(10, [16, 64, 256], None)] == [(16, 10), (48, 5), (192, 3)]
    assert [(s.samples, s.classes) for s in plan_stages(10, [50, 500], [1])] == [(50, 10)]  # one left: done
    assert auto_keep(2, 3) == [2, 2]  # a binary task spends every sample on both classes
    with pytest.raises(ArtlensError, match="increasing"):
        plan_stages(3, [64, 32], None)
    with pytest.raises(ArtlensError, match="one positive count per stage"):
        plan_stages(3, [32, 64], [2, 1])
