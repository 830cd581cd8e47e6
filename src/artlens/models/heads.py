"""Classification heads: a registry so recipes and the CLI name them (``linear``, ``mlp``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from .._registry import Registry

__all__ = ["HEADS", "build_head"]

#: ``fn(in_features, num_classes, *, hidden, dropout) -> nn.Module``
HEADS: Registry[Callable[..., nn.Module]] = Registry("head")


@HEADS.register("linear")
def linear_head(in_features: int, num_classes: int, *, hidden: Sequence[int] = (), dropout: float = 0.0) -> nn.Module:
    """Dropout (optional) and one linear layer: logistic regression on the features."""
    layers: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
    return nn.Sequential(*layers, nn.Linear(in_features, num_classes))


@HEADS.register("mlp")
def mlp_head(in_features: int, num_classes: int, *, hidden: Sequence[int] = (512,), dropout: float = 0.0) -> nn.Module:
    """Linear-ReLU blocks of the given ``hidden`` sizes, dropout before every linear layer."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden or (512,):
        layers += [nn.Dropout(dropout)] if dropout > 0 else []
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        width = h
    layers += [nn.Dropout(dropout)] if dropout > 0 else []
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def build_head(name: str, in_features: int, num_classes: int, *, hidden: Sequence[int] = (),
               dropout: float = 0.0) -> nn.Module:
    return HEADS.get(name)(in_features, num_classes, hidden=tuple(hidden), dropout=dropout)
