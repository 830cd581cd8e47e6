"""Classification heads: a registry so recipes and the CLI name them.

========= ====================================================================================
linear    dropout (optional) + one linear layer
mlp       Dropout-Linear-ReLU per hidden size, then Dropout-Linear: Pandora's InceptionV3 head
          ("two sets of dropout layer and fully connected layer pairs", ``hidden: [650]``,
          ``dropout: 0.7``) and the Met study's "three fully connected layers with ReLU"
          (``hidden: [1024, 256]``)
dense     Linear-ReLU-Dropout per hidden size, then Linear: a Keras ``Dense`` + ``Dropout`` stack,
          the Best Artworks custom CNN (``hidden: [384]``, ``dropout: 0.5``)
dense_bn  Linear-BatchNorm-ReLU per hidden size, then Linear: the Best Artworks ResNet50 head
          (``hidden: [512, 16]``)
========= ====================================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from .._registry import Registry
from ..config import ModelConfig, register_check, register_names
from ..errors import ArtlensError

__all__ = ["HEADS", "build_head"]

#: ``fn(in_features, num_classes, *, hidden, dropout) -> nn.Module``
HEADS: Registry[Callable[..., nn.Module]] = Registry("head")
#: Heads without hidden layers: ``model.hidden`` is refused for them.
_NO_HIDDEN = {"linear"}
register_names(ModelConfig, "head", HEADS.names)


@register_check(ModelConfig)
def _check_hidden(cfg: ModelConfig) -> None:
    if cfg.hidden and cfg.head in _NO_HIDDEN:
        *rest, last = [n for n in HEADS if n not in _NO_HIDDEN]
        raise ArtlensError(f"model.hidden: {cfg.hidden} needs a head with hidden layers ({', '.join(rest)} or "
                           f"{last}); the {cfg.head} head has none")


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


@HEADS.register("dense")
def dense_head(in_features: int, num_classes: int, *, hidden: Sequence[int] = (64,),
               dropout: float = 0.0) -> nn.Module:
    """Keras order: each hidden ``Dense`` is followed by ReLU and then ``Dropout`` (none on the input)."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden or (64,):
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        layers += [nn.Dropout(dropout)] if dropout > 0 else []
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


@HEADS.register("dense_bn")
def dense_bn_head(in_features: int, num_classes: int, *, hidden: Sequence[int] = (512, 16),
                  dropout: float = 0.0) -> nn.Module:
    """Linear-BatchNorm-ReLU blocks (the Best Artworks study's "Dense 512, Dense 16 with batch norm").

    The linear layers carry no bias: the batch norm that follows would cancel it.
    """
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden or (512, 16):
        layers += [nn.Dropout(dropout)] if dropout > 0 else []
        layers += [nn.Linear(width, h, bias=False), nn.BatchNorm1d(h), nn.ReLU(inplace=True)]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def build_head(name: str, in_features: int, num_classes: int, *, hidden: Sequence[int] = (),
               dropout: float = 0.0) -> nn.Module:
    return HEADS.get(name)(in_features, num_classes, hidden=tuple(hidden), dropout=dropout)
