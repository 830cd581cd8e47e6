"""The Gaussian diffusion process, kept apart from the network that denoises (as in lucidrains'
``GaussianDiffusion``): noise schedules held as buffers, the forward process, the training loss, the
per-sample denoising error the zero-shot classifier averages, and DDIM sampling for sample grids.

Schedules are a registry (:data:`SCHEDULES`): ``linear`` (Ho et al. 2020, rescaled so that any ``T`` spans
the same noise levels as their ``T = 1000``) and ``cosine`` (Nichol & Dhariwal 2021, the one the ArtBench
study found best with ``T = 4000``). The network may predict the noise (``eps``) or the velocity
``v = sqrt(abar) eps - sqrt(1 - abar) x0`` (Salimans & Ho 2022); the classifier always compares noise,
so both kinds give the same error definition.

>>> import torch
>>> d = GaussianDiffusion(timesteps=4000, schedule="cosine")
>>> float(d.alphas_cumprod[0]) > 0.999, float(d.alphas_cumprod[-1]) < 1e-4
(True, True)
>>> x0, noise, t = torch.zeros(2, 3, 8, 8), torch.randn(2, 3, 8, 8), torch.tensor([0, 3999])
>>> torch.allclose(d.eps_from_output(d.q_sample(x0, t, noise), t, d.target(x0, t, noise)), noise, atol=1e-4)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .._registry import Registry
from ..errors import ArtlensError

__all__ = ["PREDICTIONS", "SCHEDULES", "GaussianDiffusion", "stratified_timesteps"]

#: What the denoiser predicts: the noise, or the velocity.
PREDICTIONS = ("eps", "v")

#: Noise schedules: ``T -> betas`` (float64, length ``T``).
SCHEDULES: Registry[Callable[[int], torch.Tensor]] = Registry("noise schedule")


@SCHEDULES.register("linear")
def linear_betas(timesteps: int) -> torch.Tensor:
    """Ho et al.'s 1e-4 .. 0.02, scaled by ``1000 / T`` so a longer chain adds noise as slowly per unit."""
    scale = 1000.0 / timesteps
    return torch.linspace(scale * 1e-4, min(scale * 0.02, 0.999), timesteps, dtype=torch.float64)


@SCHEDULES.register("cosine")
def cosine_betas(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal's ``abar(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2)``, betas capped at 0.999."""
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)


def stratified_timesteps(n: int, timesteps: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` timesteps, one drawn uniformly inside each of ``n`` equal strata of ``[0, T)``.

    A Monte Carlo estimate of ``E_t[...]`` over stratified ``t`` has lower variance than over i.i.d. ``t``:
    no stretch of the schedule is left out or counted twice by chance (Li et al. use evenly spaced ``t``;
    this is that, jittered so that repeated stages do not reuse the same ``t``).

    >>> stratified_timesteps(4, 4000, generator=torch.Generator().manual_seed(0)).div(1000).floor().tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    if n < 1:
        raise ArtlensError(f"stratified_timesteps: n must be at least 1, got {n}")
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    t = ((torch.arange(n, dtype=torch.float64) + u) * timesteps / n).floor().long()
    return t.clamp_(0, timesteps - 1)


def _gather(values: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    """``values[t]`` shaped to broadcast over a batch of ``ndim``-dimensional images."""
    return values.gather(0, t).view(-1, *([1] * (ndim - 1)))


class GaussianDiffusion(nn.Module):
    """The forward process ``q(x_t | x_0)``, the loss, the classifier's error, and DDIM sampling.

    It holds no weights, only the schedule as buffers: it moves with ``.to(device)`` and is rebuilt from
    three numbers (``timesteps``, ``schedule``, ``prediction``) stored in the bundle.
    """

    def __init__(self, *, timesteps: int = 1000, schedule: str = "cosine", prediction: str = "eps") -> None:
        super().__init__()
        if timesteps < 2:
            raise ArtlensError(f"--timesteps must be at least 2, got {timesteps}")
        if prediction not in PREDICTIONS:
            raise ArtlensError(f"--prediction {prediction!r}: choose one of {', '.join(PREDICTIONS)}")
        self.timesteps, self.schedule, self.prediction = timesteps, schedule, prediction
        betas = SCHEDULES.get(schedule)(timesteps)
        abar = torch.cumprod(1.0 - betas, dim=0)
        for name, value in (("betas", betas), ("alphas_cumprod", abar), ("sqrt_abar", abar.sqrt()),
                            ("sqrt_one_minus_abar", (1.0 - abar).sqrt())):
            self.register_buffer(name, value.float(), persistent=False)

    def spec(self) -> dict[str, object]:
        """What rebuilds this process: ``GaussianDiffusion(**spec)``."""
        return {"timesteps": self.timesteps, "schedule": self.schedule, "prediction": self.prediction}

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``."""
        return _gather(self.sqrt_abar, t, x0.ndim) * x0 + _gather(self.sqrt_one_minus_abar, t, x0.ndim) * noise

    def target(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What the network is trained to output: the noise, or ``v``."""
        if self.prediction == "eps":
            return noise
        return _gather(self.sqrt_abar, t, x0.ndim) * noise - _gather(self.sqrt_one_minus_abar, t, x0.ndim) * x0

    def eps_from_output(self, x_t: torch.Tensor, t: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The noise the network's output implies (``eps = sqrt(abar) v + sqrt(1 - abar) x_t`` for ``v``)."""
        if self.prediction == "eps":
            return out
        return _gather(self.sqrt_abar, t, x_t.ndim) * out + _gather(self.sqrt_one_minus_abar, t, x_t.ndim) * x_t

    def x0_from_output(self, x_t: torch.Tensor, t: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        a, s = _gather(self.sqrt_abar, t, x_t.ndim), _gather(self.sqrt_one_minus_abar, t, x_t.ndim)
        if self.prediction == "eps":
            return (x_t - s * out) / a
        return a * x_t - s * out

    def loss(self, model: nn.Module, x0: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The simple loss of Ho et al.: MSE between the network's output and its target at a uniform ``t``.

        Draws from torch's global generator, whose state the training engine checkpoints."""
        t = torch.randint(0, self.timesteps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        out = model(self.q_sample(x0, t, noise), t, y)
        return (out.float() - self.target(x0, t, noise).float()).pow(2).mean()

    def denoising_error(self, model: nn.Module, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
                        y: torch.Tensor) -> torch.Tensor:
        """Per row, ``mean ||eps - eps_theta(x_t, t, y)||^2`` over pixels, in float32: one Monte Carlo term
        of the class score of Li et al. (their eq. 5 with uniform weighting)."""
        x_t = self.q_sample(x0, t, noise)
        eps = self.eps_from_output(x_t, t, model(x_t, t, y).float())
        return (noise.float() - eps).pow(2).flatten(1).mean(1)

    @torch.no_grad()
    def ddim_sample(self, model: nn.Module, y: torch.Tensor, noise: torch.Tensor, *, steps: int = 50,
                    guidance: float = 1.0, null_class: int | None = None) -> torch.Tensor:
        """Deterministic DDIM (Song et al. 2021, eta = 0) from ``noise`` (``x_T``) in ``steps`` steps; images
        in ``[-1, 1]``.

        ``guidance`` > 1 mixes in the unconditional prediction (classifier-free guidance, Ho & Salimans),
        which needs ``null_class``, the index the model was trained with for "no class".
        """
        device = self.betas.device
        x = noise.to(device)
        ts = torch.linspace(self.timesteps - 1, 0, min(steps, self.timesteps), device=device).round().long()
        for i, t_now in enumerate(ts):
            t = t_now.expand(len(x))
            out = model(x, t, y).float()
            if guidance != 1.0 and null_class is not None:
                uncond = model(x, t, torch.full_like(y, null_class)).float()
                out = uncond + guidance * (out - uncond)
            x0 = self.x0_from_output(x, t, out).clamp(-1, 1)
            eps = (x - self.sqrt_abar[t_now] * x0) / self.sqrt_one_minus_abar[t_now].clamp(min=1e-8)
            abar_next = self.alphas_cumprod[ts[i + 1]] if i + 1 < len(ts) else torch.ones((), device=device)
            x = abar_next.sqrt() * x0 + (1 - abar_next).sqrt() * eps
        return x.clamp(-1, 1)
