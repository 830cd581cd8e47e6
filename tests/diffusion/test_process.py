"""The diffusion process and the denoiser, as a training script and a sampler use them."""

from __future__ import annotations

import pytest
import torch

from artlens.diffusion import SCHEDULES, ClassUNet, GaussianDiffusion, UNetConfig, stratified_timesteps
from artlens.errors import ArtlensError

TINY = UNetConfig(base_channels=16, channel_mults=[1, 2], num_res_blocks=1, attention_resolutions=[8], dropout=0.0)


@pytest.mark.parametrize("schedule", SCHEDULES.names())
@pytest.mark.parametrize("timesteps", [1000, 4000])
def test_every_schedule_goes_from_clean_to_pure_noise(schedule, timesteps):
    d = GaussianDiffusion(timesteps=timesteps, schedule=schedule)
    abar = d.alphas_cumprod
    assert abar.shape == (timesteps,)
    assert bool((abar[1:] < abar[:-1]).all()), "noise must only grow with t"
    assert abar[0] > 0.99 and abar[-1] < 0.01


def test_the_cosine_schedule_keeps_more_signal_midway_than_the_linear_one():
    # Nichol & Dhariwal's reason for it: the linear schedule destroys low-resolution images too early.
    cos, lin = (GaussianDiffusion(timesteps=4000, schedule=s).alphas_cumprod[2000] for s in ("cosine", "linear"))
    assert cos > 5 * lin


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_the_noise_and_the_image_are_recovered_from_a_perfect_prediction(prediction):
    d = GaussianDiffusion(timesteps=1000, prediction=prediction)
    x0, noise = torch.rand(4, 3, 8, 8) * 2 - 1, torch.randn(4, 3, 8, 8)
    t = torch.tensor([0, 10, 500, 999])
    x_t = d.q_sample(x0, t, noise)
    perfect = d.target(x0, t, noise)
    assert torch.allclose(d.eps_from_output(x_t, t, perfect), noise, atol=1e-4)
    assert torch.allclose(d.x0_from_output(x_t, t, perfect)[:3], x0[:3], atol=1e-3)


def test_stratified_timesteps_put_one_draw_in_each_stratum():
    t = stratified_timesteps(50, 4000, generator=torch.Generator().manual_seed(1))
    assert (t // 80).tolist() == list(range(50))
    again = stratified_timesteps(50, 4000, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(t, again)  # jittered inside the strata


def test_the_unet_denoises_every_class_and_the_null_class_and_trains():
    torch.manual_seed(0)
    net = ClassUNet(TINY, num_classes=3, image_size=16)
    d = GaussianDiffusion(timesteps=100)
    x, y = torch.rand(4, 3, 16, 16) * 2 - 1, torch.tensor([0, 1, 2, 3])  # 3 is the null class
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(3):  # zero-initialised output layers (as in guided-diffusion) open up after a step
        opt.zero_grad()
        loss = d.loss(net, x, y)
        loss.backward()
        opt.step()
    assert torch.isfinite(loss)
    assert net.class_emb.weight.grad[:4].abs().sum(1).gt(0).all()  # every class, null included, gets a gradient
    assert any(type(m).__name__ == "SelfAttention" for m in net.modules())


def test_ddim_samples_are_images_in_range_and_the_same_noise_gives_the_same_image():
    torch.manual_seed(0)
    net = ClassUNet(TINY, num_classes=2, image_size=16).eval()
    d = GaussianDiffusion(timesteps=100)
    noise = torch.randn(2, 3, 16, 16)
    a = d.ddim_sample(net, torch.tensor([0, 1]), noise, steps=5, guidance=2.0, null_class=2)
    b = d.ddim_sample(net, torch.tensor([0, 1]), noise, steps=5, guidance=2.0, null_class=2)
    assert a.shape == (2, 3, 16, 16) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b)


def test_bad_shapes_and_options_are_one_line_errors():
    with pytest.raises(ArtlensError, match="divisible"):
        ClassUNet(UNetConfig(channel_mults=[1, 2, 2, 2]), num_classes=2, image_size=20)
    with pytest.raises(ArtlensError, match="multiple of 8"):
        UNetConfig(base_channels=12)
    with pytest.raises(ArtlensError, match="noise schedule"):
        GaussianDiffusion(schedule="sigmoid")
    with pytest.raises(ArtlensError, match="prediction"):
        GaussianDiffusion(prediction="x0")


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_ddim_with_a_perfect_denoiser_lands_on_the_image_it_knows(prediction):
    d = GaussianDiffusion(timesteps=1000, schedule="cosine", prediction=prediction)
    x0 = torch.rand(2, 3, 8, 8) * 2 - 1

    def oracle(x_t, t, y):  # the exact eps (or v) of x_t for this x0
        a, s = d.sqrt_abar[t].view(-1, 1, 1, 1), d.sqrt_one_minus_abar[t].view(-1, 1, 1, 1)
        eps = (x_t - a * x0) / s
        return eps if prediction == "eps" else a * eps - s * x0

    out = d.ddim_sample(oracle, torch.zeros(2, dtype=torch.long), torch.randn(2, 3, 8, 8), steps=20)
    assert torch.allclose(out, x0, atol=1e-3)
