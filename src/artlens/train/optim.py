"""Optimizers and learning-rate schedules by name (the choices of :class:`~artlens.config.OptimConfig`)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..config import OptimConfig

__all__ = ["build_optimizer", "build_scheduler", "step_scheduler"]


def build_optimizer(cfg: OptimConfig, params: Iterable[torch.nn.Parameter], *, lr_scale: float = 1.0):
    lr = cfg.lr * lr_scale
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)


def build_scheduler(cfg: OptimConfig, optimizer: torch.optim.Optimizer, *, epochs: int, mode: str = "min"):
    """Per-epoch schedulers; ``plateau`` watches the monitored validation metric, lower-is-better
    (``mode="min"``, a loss) or higher-is-better (``"max"``, an accuracy). An accuracy must not be
    negated into a "loss": the plateau's relative threshold then counts a flat accuracy as improving
    every epoch, and the rate never drops."""
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=cfg.gamma,
                                                          patience=cfg.plateau_patience, min_lr=cfg.min_lr)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), eta_min=cfg.min_lr)
    return None


def step_scheduler(scheduler, monitored: float) -> None:
    """Advance one epoch; ``monitored`` is the metric a plateau scheduler was built to watch."""
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(monitored)
    else:
        scheduler.step()
