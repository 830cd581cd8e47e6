"""Batch normalisation folded into the convolution before it: the same outputs, one pass less.

At inference a ``BatchNorm2d`` is a fixed per-channel scale and shift, so the convolution that feeds
it can absorb both into its own weights and bias (torch's :func:`~torch.nn.utils.fusion.fuse_conv_bn_eval`).
Left apart, the normalisation is one more pass over every activation map; on the CPU that pass is a
large share of a mobile network's time: folding made the built-in style model (EfficientNet-Lite
networks) 1.5 to 2 x faster on 2 cores (``benchmarks/fold_batchnorm.py``,
``benchmarks/default_model_predict.py``).

Why a walker of our own: ``torch.ao.quantization.fuse_modules`` wants every pair named and matches
exact types (timm's ``BatchNormAct2d``, the norm-plus-activation of every timm EfficientNet, is a
subclass), and ``torch.fx.experimental.optimization.fuse`` returns a ``GraphModule`` that has lost
the model's own attributes (``classes``, ``members``, ``backbone``). Here a convolution and the batch
norm registered right after it, in the same parent, are folded; every other module is left as it is.
Registration order is a guess about the forward pass, so with ``input_size`` the folded copy is run
beside the original on a random batch and thrown away unless the two agree.

>>> import torch.nn as nn
>>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()).eval()
>>> fold_batchnorm(net, input_size=32)
Sequential(
  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))
  (1): Identity()
  (2): ReLU()
)
"""

from __future__ import annotations

import copy
import itertools

import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(model: nn.Module, *, input_size: int | None = None) -> nn.Module:
    """An evaluation-mode copy of ``model`` with each foldable batch norm folded into its convolution.

    Returns ``model`` itself (untouched) when there is nothing to fold, or when ``input_size`` is given
    and the copy's outputs on a random ``(2, 3, input_size, input_size)`` batch differ from the
    original's. The copy is for inference only: its batch norms are gone, so it cannot be trained.
    Every tensor it does not fold it shares with ``model`` (no second copy of the weights in memory,
    and a temperature calibrated into ``model`` afterwards is the one the copy uses).
    """
    shared = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    folded = copy.deepcopy(model, shared).eval()
    if not _fold_children(folded):
        return model
    if input_size is not None and not _same_outputs(model, folded, input_size):
        return model
    return folded


def _fold_children(module: nn.Module) -> int:
    """Fold, in place, every (convolution, batch norm) pair registered one after the other."""
    folded = 0
    conv_name: str | None = None
    for name, child in list(module.named_children()):
        conv = getattr(module, conv_name) if conv_name is not None else None
        if conv is not None and _foldable(conv, child):
            setattr(module, conv_name, fuse_conv_bn_eval(conv, child))
            setattr(module, name, _after_norm(child))
            folded += 1
            conv_name = None
        elif isinstance(child, nn.Conv2d):
            conv_name = name
        else:
            folded += _fold_children(child)
            conv_name = None
    return folded


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    return (isinstance(conv, nn.Conv2d) and _after_norm(bn) is not None
            and bn.running_mean is not None and bn.num_features == conv.out_channels)


def _after_norm(bn: nn.Module) -> nn.Module | None:
    """What of ``bn`` is left once its normalisation is folded away (``None``: not a norm we fold)."""
    if type(bn) is nn.BatchNorm2d:
        return nn.Identity()
    if isinstance(bn, nn.BatchNorm2d) and type(bn).__name__ == "BatchNormAct2d":  # timm: norm, dropout, activation
        return nn.Sequential(bn.drop, bn.act)
    return None


@torch.inference_mode()
def _same_outputs(model: nn.Module, folded: nn.Module, input_size: int) -> bool:
    param = next(model.parameters(), None)
    device, dtype = (param.device, param.dtype) if param is not None else (torch.device("cpu"), torch.float32)
    x = torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0)).to(device, dtype)
    was_training = model.training
    model.eval()
    try:
        a, b = model(x), folded(x)
    finally:
        model.train(was_training)
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
        return False
    tol = 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-3
    return bool(torch.allclose(a.float(), b.float(), rtol=tol, atol=tol * max(1.0, a.float().abs().max().item())))
