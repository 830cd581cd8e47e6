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

On a CPU in float32, :func:`fuse_for_cpu` goes one step further, as ``torch.compile`` and
``torch.jit.freeze`` do, without their cost (a compile of 24 s on every start; TorchScript is in
maintenance): each convolution becomes one oneDNN call with its weights laid out once for oneDNN, and
the activation of a timm norm-plus-activation after it (ReLU6 in every EfficientNet-Lite) runs inside
that call instead of as one more pass over the activation map. The outputs are bit for bit the same
here; the built-in model runs 10-12 % faster (``benchmarks/fold_batchnorm.py``,
``benchmarks/default_model_predict.py``).

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
import logging

import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

log = logging.getLogger(__name__)

__all__ = ["fold_batchnorm", "fuse_for_cpu"]


def fold_batchnorm(model: nn.Module, *, input_size: int | None = None) -> nn.Module:
    """An evaluation-mode copy of ``model`` with each foldable batch norm folded into its convolution.

    Returns ``model`` itself (untouched) when there is nothing to fold, or when ``input_size`` is given
    and the copy's outputs on a random ``(2, 3, input_size, input_size)`` batch differ from the
    original's. The copy is for inference only: its batch norms are gone, so it cannot be trained.
    Every tensor it does not fold it shares with ``model`` (no second copy of the weights in memory,
    and a temperature calibrated into ``model`` afterwards is the one the copy uses).
    """
    folded = _evaluation_copy(model)
    if not _fold_children(folded):
        return model
    if input_size is not None and not _same_outputs(model, folded, input_size):
        return model
    return folded


def _evaluation_copy(model: nn.Module) -> nn.Module:
    """An evaluation-mode copy of ``model``'s modules that shares every tensor with it: the modules a
    fold or a fusion replaces are the copy's own, the weights it leaves alone are not copied."""
    shared = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    return copy.deepcopy(model, shared).eval()


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


#: Activations a oneDNN convolution can apply itself: module type -> (oneDNN's name, its scalars).
_FUSED_ACTIVATIONS: dict[type[nn.Module], tuple[str, list[float]]] = {
    nn.ReLU: ("relu", []),
    nn.ReLU6: ("hardtanh", [0.0, 6.0]),
    nn.SiLU: ("swish", []),
    nn.Hardswish: ("hardswish", []),
}


class OneDNNConv2d(nn.Module):
    """A ``Conv2d`` (and the activation after it, if any) as one oneDNN call on prepacked weights.

    Inference only, on a CPU, in float32: the weights are a oneDNN-layout copy (not parameters), laid
    out for the input shape the module first saw; other shapes still work (oneDNN converts).
    """

    def __init__(self, conv: nn.Conv2d, activation: str = "none", scalars: list[float] | None = None) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        self.activation, self.scalars = activation, list(scalars or [])
        self.weight = conv.weight.detach()
        self.bias = conv.bias.detach() if conv.bias is not None else None
        self.packed_for: list[int] | None = None

    def pack(self, input_shape: list[int]) -> None:
        """Lay the weights out, once, as oneDNN wants them for inputs of ``input_shape``."""
        self.weight = torch.ops.mkldnn._reorder_convolution_weight(
            self.weight, list(self.padding), list(self.stride), list(self.dilation), self.groups, list(input_shape))
        self.packed_for = list(input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._convolution_pointwise(
            x, self.weight, self.bias, list(self.padding), list(self.stride), list(self.dilation), self.groups,
            self.activation, self.scalars, "")

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1] * self.groups}, {self.weight.shape[0]}, activation={self.activation}"


def fuse_for_cpu(model: nn.Module, *, input_size: int, batch_size: int = 16) -> nn.Module:
    """A copy of ``model`` (best folded first: :func:`fold_batchnorm`) whose convolutions are oneDNN calls
    on prepacked weights, each with the activation of a timm norm-plus-activation right after it
    fused in (see the module's text). For float32 inference on a CPU only: neither autocast nor
    autograd goes through it.

    Returns ``model`` itself when there is nothing to fuse, when it is not a float32 network on the
    CPU, when this torch has no oneDNN (or not these operators, or ``torch.backends.mkldnn.enabled``
    is off), or when the copy's outputs on two images of a random ``(batch_size, 3, input_size,
    input_size)`` batch differ from the original's. The weights are laid out for that batch shape;
    other shapes give the same outputs.
    """
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise")):
        return model  # no oneDNN in this torch, or the user turned it off
    param = next(model.parameters(), torch.empty(0))
    if param.device.type != "cpu" or param.dtype != torch.float32:
        return model
    fused = _evaluation_copy(model)
    if not _fuse_children(fused):
        return model
    x = torch.randn(batch_size, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    x = x.contiguous(memory_format=torch.channels_last)
    try:
        convs = [m for m in fused.modules() if isinstance(m, OneDNNConv2d)]
        hooks = [m.register_forward_pre_hook(lambda m, args: setattr(m, "packed_for", list(args[0].shape)))
                 for m in convs]
        with torch.inference_mode():
            fused(x)
        for h in hooks:
            h.remove()
        for m in convs:
            if m.packed_for is not None:  # a convolution the forward pass never reached keeps plain weights
                m.pack(m.packed_for)
        # Checked on two images of that batch: weights packed for one batch size serve any other
        # (tests/test_folding.py), and two images cost an eighth of sixteen at every model load.
        same = _same_outputs(model, fused, input_size, x=x[:2], tol=1e-4)
    except (RuntimeError, TypeError) as e:  # an operator this torch lacks or has changed: run the model as it is
        log.debug("oneDNN fusion not used: %s", e)
        return model
    return fused if same else model


def _fuse_children(module: nn.Module) -> int:
    """Replace, in place, every plain ``Conv2d`` by a :class:`OneDNNConv2d`, taking in the activation of
    a folded timm norm-plus-activation registered right after it (an ``nn.Sequential(drop, act)``,
    :func:`_after_norm`: applied inside the norm's own forward, so surely right after the convolution)."""
    fused = 0
    children = list(module.named_children())
    for i, (name, child) in enumerate(children):
        if type(child) is nn.Conv2d and child.padding_mode == "zeros" and isinstance(child.padding, tuple):
            activation, scalars = "none", []
            after = children[i + 1] if i + 1 < len(children) else None
            if after is not None and _folded_norm_activation(after[1]) is not None:
                activation, scalars = _FUSED_ACTIVATIONS[type(after[1][1])]
                setattr(module, after[0], nn.Identity())
            setattr(module, name, OneDNNConv2d(child, activation, scalars))
            fused += 1
        elif not isinstance(child, (nn.Conv2d, OneDNNConv2d)):
            fused += _fuse_children(child)
    return fused


def _folded_norm_activation(module: nn.Module) -> nn.Module | None:
    """The activation of what :func:`_after_norm` left of a timm norm-plus-activation, if oneDNN can fuse it."""
    if (type(module) is nn.Sequential and len(module) == 2 and type(module[0]) in (nn.Identity, nn.Dropout)
            and type(module[1]) in _FUSED_ACTIVATIONS):
        return module[1]
    return None


@torch.inference_mode()
def _same_outputs(model: nn.Module, folded: nn.Module, input_size: int, *, x: torch.Tensor | None = None,
                  tol: float | None = None) -> bool:
    param = next(model.parameters(), None)
    device, dtype = (param.device, param.dtype) if param is not None else (torch.device("cpu"), torch.float32)
    if x is None:
        x = torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    x = x.to(device, dtype)
    was_training = model.training
    model.eval()
    try:
        a, b = model(x), folded(x)
    finally:
        model.train(was_training)
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
        return False
    tol = tol or (1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-3)
    return bool(torch.allclose(a.float(), b.float(), rtol=tol, atol=tol * max(1.0, a.float().abs().max().item())))
