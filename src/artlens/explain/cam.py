"""Class activation maps over any artlens model, built on the ``grad-cam`` package.

Methods come from a registry over the package's classes (``gradcam``, ``gradcam++``, ``scorecam``,
``eigencam``, ...) plus artlens' ``featuremap`` (channel-summed activations, the Met study's
overlay). The target layer is chosen per backbone (the deepest spatial map with weights before
global pooling: ``bn2`` of EfficientNets, ``layer4`` of ResNets, ``features`` of VGGs) and can be
overridden with any name :func:`artlens.models.layers.resolve_layer` knows.

Frozen models (``requires_grad=False``, the ``frozen`` strategy and the built-in model) are the
package's known failure: no activation needs a gradient, so none is recorded. Here the input
tensor asks for a gradient instead, which makes every activation differentiable without touching
the model's parameters; nothing has to be restored afterwards, and it also works when called
inside ``torch.inference_mode`` or ``no_grad``.

Each call opens the CAM object as a context manager, so hooks and the autograd graph are
released before returning: repeated calls (a web service, a folder of 10,000 paintings) keep
memory flat.

>>> from PIL import Image
>>> explainer = CamExplainer(None, method="gradcam")         # the built-in style model
>>> result = explainer.explain(Image.open("monet.jpg"))      # doctest: +SKIP
>>> result.label, round(result.prob, 2), result.heatmap.shape  # doctest: +SKIP
('Impressionism', 0.47, (224, 224))
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import pytorch_grad_cam as gc
import torch
from PIL import Image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from torch.utils.data import DataLoader

from .._registry import Registry
from ..data.dataset import ImageDataset, Sample
from ..data.images import SkippedImage, to_rgb, upright
from ..data.transforms import build_transform
from ..errors import ArtlensError
from ..inference import batch_probs, bundle_tta, collate_views, default_device, view_transform
from ..models.backbones import Backbone
from ..models.bundle import Bundle, load_bundle
from ..models.layers import resolve_layer
from ..viz.overlays import heat_on_picture
from .featuremaps import FeatureMapSum

log = logging.getLogger(__name__)

__all__ = ["CAM_METHODS", "CLASS_AGNOSTIC", "FINE", "CamExplainer", "CamResult", "default_target_layer",
           "finer_target_layer", "in_picture_shape"]

FINE = "fine"
"""``--layer fine``: the deepest named layer at least twice as fine as the default one (14x14 instead of 7x7)."""

#: Method name -> a ``pytorch_grad_cam`` class (``cls(model=..., target_layers=[...])``).
CAM_METHODS: Registry[type] = Registry("CAM method")
for _name, _cls in {
    "gradcam": gc.GradCAM, "gradcam++": gc.GradCAMPlusPlus, "hirescam": gc.HiResCAM, "xgradcam": gc.XGradCAM,
    "layercam": gc.LayerCAM, "eigencam": gc.EigenCAM, "eigengradcam": gc.EigenGradCAM,
    "gradcamelementwise": gc.GradCAMElementWise, "scorecam": gc.ScoreCAM, "ablationcam": gc.AblationCAM,
    "featuremap": FeatureMapSum,
}.items():
    CAM_METHODS.add(_name, _cls)

Target = str | int | None

#: Methods whose map does not depend on the class asked for (principal component, channel sum).
CLASS_AGNOSTIC = frozenset({"eigencam", "featuremap"})


@dataclass
class CamResult:
    """The explanation of one image for one class."""

    label: str
    prob: float
    """Softmax probability of ``label``, averaged over the bundle's test-time augmentation views as
    ``artlens predict`` averages it."""
    class_index: int
    heatmap: np.ndarray
    """``float32 (H, W)`` in [0, 1] at the model's input resolution."""
    overlay: Image.Image
    """The heatmap over the image as the model saw it (resized, RGB); :meth:`CamExplainer.on_picture` draws
    it on the whole painting at its own resolution instead."""
    predicted: str = ""
    """The model's top class (differs from ``label`` when another class was asked for)."""
    path: str = ""


def in_picture_shape(overlay: Image.Image, size: tuple[int, int], *, longest: int = 512) -> Image.Image:
    """A squashing model's overlay stretched back to the picture's proportions (``size``: width, height).

    A model that squashes sees a landscape as a square, so its overlay shows the painting distorted;
    stretched back, map and painting are where a person sees them. The longer side is at most
    ``longest`` and never larger than the picture's own.
    """
    width, height = size
    scale = min(1.0, longest / max(width, height))
    return overlay.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR)


@torch.no_grad()
def default_target_layer(backbone: Backbone) -> str:
    """The deepest top-level module of the body with weights and a spatial (H, W > 1) output."""
    size = backbone.preprocessing.input_size
    device = next(backbone.parameters()).device
    outputs: dict[str, tuple[int, ...]] = {}
    handles = [m.register_forward_hook(lambda _m, _i, out, n=name: outputs.__setitem__(
        n, tuple(out.shape) if isinstance(out, torch.Tensor) else ()))
        for name, m in backbone.body.named_children()]
    was_training = backbone.training
    try:
        backbone.eval()(torch.zeros(1, 3, size, size, device=device))
    finally:
        backbone.train(was_training)
        for h in handles:
            h.remove()
    spatial = [name for name, m in backbone.body.named_children()
               if len(outputs.get(name, ())) == 4 and max(outputs[name][2:]) > 1 and any(True for _ in m.parameters())]
    if not spatial:
        raise ArtlensError(f"backbone {backbone.name!r} has no convolutional feature map to explain; pass --layer")
    return spatial[-1]


@torch.no_grad()
def finer_target_layer(backbone: Backbone) -> str:
    """The deepest named layer (``artlens layers``) whose map is at least twice as fine as the default's.

    The last block of most backbones is 7x7 at 224 px: one cell covers a seventh of the painting, so the
    map can say "the sky", not "the stars". One stage earlier (``blocks.4`` of EfficientNet, ``layer3`` of
    ResNet, ``relu5_4`` of VGG) is 14x14 and still deep enough to be about the class.
    """
    from ..models.layers import LayerTaps, layer_names

    default = default_target_layer(backbone)
    size = backbone.preprocessing.input_size
    device = next(backbone.parameters()).device
    names = [n for n in layer_names(backbone)]
    was_training = backbone.training
    try:
        outs = LayerTaps(backbone.eval(), [*names, default])(torch.zeros(1, 3, size, size, device=device))
    finally:
        backbone.train(was_training)
    coarse = max(outs[default].shape[2:])
    fine = [n for n in names if outs[n].dim() == 4 and max(outs[n].shape[2:]) >= 2 * coarse]
    if not fine:
        raise ArtlensError(f"backbone {backbone.name!r} has no named layer finer than {default!r} "
                           f"({coarse}x{coarse}); pass a module path with --layer (see `artlens layers`)")
    return fine[-1]


def _check_cam_layer(backbone: Backbone, layer: str, size: int) -> None:
    """A CAM weighs the channels of a feature map: refuse a layer that gives a vector, and warn about one
    that the input size shrinks to a single pixel (every map would be blank)."""
    from ..models.layers import LayerTaps

    device = next(backbone.parameters()).device
    was_training = backbone.training
    try:
        with torch.no_grad():
            out = LayerTaps(backbone.eval(), [layer])(torch.zeros(1, 3, size, size, device=device))[layer]
    finally:
        backbone.train(was_training)
    if out.dim() != 4:
        raise ArtlensError(f"layer {layer!r} gives a vector {tuple(out.shape[1:])}, not a feature map; CAM methods "
                           f"need a convolutional layer such as {default_target_layer(backbone)!r}")
    if max(out.shape[2:]) == 1:
        log.warning("layer %r is 1x1 at %d px input: every heatmap will be blank; use a larger input size "
                    "or an earlier layer", layer, size)


def _first_child(module: nn.Module, path: str) -> str:
    names = [n for n, m in module.named_modules() if n and any(True for _ in m.parameters(recurse=False))]
    return f"{path}.{names[-1]}" if names else f"a module of {path}"


def _finite(grad: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)


@contextmanager
def _finite_gradients(model: nn.Module) -> Iterator[None]:
    """Zero the NaN gradients of features that are exactly 0.

    ``power_norm`` heads use sign(f) * sqrt(|f|), whose backward at f = 0 is 0 * inf = NaN; after
    a ReLU most pooled channels are exactly 0, so one NaN would wipe out the whole CAM. Dead
    channels get the subgradient 0 instead (hooks on the pooled output and the style layers).
    """
    modules = [getattr(model, "backbone", model)]
    backbone = getattr(model, "backbone", None)
    for name in getattr(model, "style_layers", []):
        modules.append(backbone.stage_module(name))

    def hook(_module, _inputs, output):
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(_finite)

    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _denormalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """``(B, 3, H, W)`` normalised tensor -> ``(B, H, W, 3)`` float RGB in [0, 1] (what the model saw)."""
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * s + m).clamp(0, 1).permute(0, 2, 3, 1).contiguous().cpu().numpy().astype(np.float32)


class CamExplainer:
    """A model, a CAM method and a target layer; call :meth:`explain` as often as needed.

    ``model`` is a :class:`~artlens.models.bundle.Bundle`, a bundle folder, or ``None`` for the
    built-in style model. ``input_size`` overrides the bundle's (smaller = faster, coarser maps).

    ``tta`` (default: what the bundle asks for, as ``artlens predict`` does) decides the predicted
    class and the probabilities reported: with ``flip`` or ``crops`` they are averaged over the views,
    so an explanation names the class ``predict`` answers. The map itself is always drawn on the
    whole image.
    """

    def __init__(self, model: Bundle | str | os.PathLike | None = None, method: str = "gradcam",
                 layer: str | None = None, device: str = "cpu", *, input_size: int | None = None,
                 tta: str | None = None) -> None:
        self.method = method
        self.cam_class = CAM_METHODS.get(method)
        self.bundle = model if isinstance(model, Bundle) else load_bundle(model)
        self.device = default_device(device)
        self.model: nn.Module = self.bundle.model.to(self.device).eval()
        self.classes = list(self.bundle.classes)
        self.preprocessing = self.bundle.preprocessing
        if input_size is not None:
            self.preprocessing = replace(self.preprocessing, input_size=int(input_size))
        self.tta = bundle_tta(self.bundle, tta)
        backbone = self.model.backbone
        if layer == "embed":  # what `artlens layers` lists last, for probes
            raise ArtlensError(f"layer 'embed' is the pooled feature vector, not a feature map; CAM methods need a "
                               f"convolutional layer such as {default_target_layer(backbone)!r}")
        if layer == FINE:
            self.layer = finer_target_layer(backbone)
        else:
            self.layer = resolve_layer(backbone, layer) if layer else default_target_layer(backbone)
        self.target_module = backbone.body.get_submodule(self.layer)
        if layer or input_size is not None:  # the default layer is spatial at the bundle's own size
            _check_cam_layer(backbone, self.layer, self.preprocessing.input_size)
        if method == "ablationcam" and self.layer in getattr(self.model, "style_layers", ()):
            # AblationCAM swaps the layer's module out of the network, and with it the hook through which
            # the model reads that layer's style statistics.
            raise ArtlensError(f"ablationcam cannot explain layer {self.layer!r}: the model reads its style "
                               f"statistics there; choose a module inside it (e.g. {_first_child(self.target_module, self.layer)}) "
                               "or another method")
        self.transform = build_transform(self.preprocessing)
        self.views = view_transform(self.preprocessing, self.tta)
        """PIL -> ``(views, 3, H, W)``; the first view is always ``transform``'s whole image."""

    # -- targets ---------------------------------------------------------------------------------

    def class_index(self, target: Target) -> int | None:
        """A class name or index -> index (``None`` stays ``None`` = the predicted class)."""
        if target is None:
            return None
        if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
            if not 0 <= int(target) < len(self.classes):
                raise ArtlensError(f"class index {target} out of range (model has {len(self.classes)} classes)")
            return int(target)
        if str(target) in self.classes:
            return self.classes.index(str(target))
        if str(target).isdigit():  # "--target 3" from a command line: an index, unless a class has that name
            return self.class_index(int(target))
        raise ArtlensError(f"unknown class {target!r}; the model's classes: {', '.join(self.classes)}")

    def on_picture(self, picture: Image.Image, result: CamResult, *, max_side: int | None = 4096) -> Image.Image:
        """``result``'s map over ``picture`` at the picture's own size (longest side at most ``max_side``).

        The map is placed where the model looked: stretched over the whole picture for a model that
        squashes, over the centre square for one that crops (the rest of the picture greyed).
        """
        pre = self.preprocessing
        return heat_on_picture(to_rgb(upright(picture)), result.heatmap, resize=pre.resize, input_size=pre.input_size,
                               crop_pct=pre.crop_pct, max_side=max_side)

    def caption(self, result: CamResult, *, true_label: str | None = None) -> str:
        """What a figure says about a map: explained class and probability, prediction, truth, method, layer."""
        if result.label == result.predicted:
            head = f"predicted {result.label} ({result.prob:.2f})"
        else:
            head = f"map for {result.label} ({result.prob:.2f}); predicted {result.predicted}"
        if true_label:
            head += f"; true {true_label}" + (" ✓" if true_label == result.predicted else " ✗")
        return f"{head}\n{self.method} on {self.layer}"

    # -- explaining --------------------------------------------------------------------------------

    def explain(self, image: Image.Image, target: Target = None) -> CamResult:
        """The CAM of one PIL image (any mode) for ``target`` (name, index, or ``None`` = predicted)."""
        return self.explain_batch([image], [target])[0]

    def explain_batch(self, images: Sequence[Image.Image], targets: Sequence[Target] | None = None) -> list[CamResult]:
        """Several images in one forward/backward pass (faster than one at a time). Images are turned
        upright by their EXIF orientation first, as files are (a phone photo opened with ``Image.open``
        is stored sideways)."""
        if not images:
            return []
        views = [self.views(to_rgb(upright(img))) for img in images]
        return self._explain_views(torch.cat(views), [len(v) for v in views], targets)

    def _explain_views(self, x: torch.Tensor, counts: Sequence[int], targets: Sequence[Target] | None) -> list[CamResult]:
        """``x``: every image's views one after the other (``counts`` each), as ``collate_views`` gives them."""
        starts = np.cumsum([0, *counts[:-1]]).tolist()
        probs = None
        if self.tta != "none":
            probs = batch_probs(self.model, x, self.device, tta=self.tta, counts=counts).float().cpu().numpy()
        return self.explain_tensor(x[starts], targets, probs=probs)

    def explain_tensor(self, x: torch.Tensor, targets: Sequence[Target] | None = None, *,
                       probs: np.ndarray | None = None) -> list[CamResult]:
        """CAMs for an already preprocessed batch ``(B, 3, H, W)``.

        ``probs`` (``(B, classes)``, e.g. averaged over test-time views) replaces the batch's own
        softmax for choosing the predicted class and reporting probabilities.
        """
        idx = [self.class_index(t) for t in (targets or [None] * len(x))]
        if len(idx) != len(x):
            raise ArtlensError(f"got {len(idx)} targets for {len(x)} images")
        if probs is not None:
            idx = [int(probs[k].argmax()) if i is None else i for k, i in enumerate(idx)]
        x = x.to(self.device, memory_format=torch.channels_last)
        with torch.inference_mode(False), torch.enable_grad():
            x = x.clone()  # a tensor made under inference_mode cannot join an autograd graph
            if any(i is None for i in idx) and not all(i is None for i in idx):
                with torch.no_grad():
                    predicted = self.model(x).argmax(-1).tolist()
                idx = [p if i is None else i for i, p in zip(idx, predicted)]
            cam_targets = None if all(i is None for i in idx) else [ClassifierOutputTarget(i) for i in idx]
            with _finite_gradients(self.model), \
                    self.cam_class(model=self.model, target_layers=[self.target_module]) as cam:
                # Frozen weights: let the input carry the gradient so activations record theirs.
                cam.compute_input_gradient = cam.uses_gradients
                heatmaps = cam(input_tensor=x, targets=cam_targets)
                if probs is None:
                    probs = cam.outputs.detach().float().softmax(-1).cpu().numpy()
                del cam.outputs
            self.model.zero_grad(set_to_none=True)  # trainable weights: free the .grad the backward filled
        idx = [int(probs[k].argmax()) if i is None else i for k, i in enumerate(idx)]
        seen = _denormalise(x.detach(), self.preprocessing.mean, self.preprocessing.std)
        results = []
        for k, i in enumerate(idx):
            heat = np.nan_to_num(heatmaps[k].astype(np.float32), nan=0.0).clip(0, 1)
            overlay = heat_on_picture(Image.fromarray((seen[k] * 255).round().astype(np.uint8)), heat)
            top = int(probs[k].argmax())
            results.append(CamResult(label=self.classes[i], prob=float(probs[k, i]), class_index=i, heatmap=heat,
                                     overlay=overlay, predicted=self.classes[top]))
        return results

    def explain_samples(self, samples: Sequence[Sample], *, target: Target = None, batch_size: int = 16,
                        num_workers: int = 0, skipped: list[SkippedImage] | None = None) -> Iterator[tuple[Sample, CamResult]]:
        """The batched folder path: decode in a DataLoader, explain batch by batch, yield as you go.

        Unreadable files are appended to ``skipped`` (when given) instead of stopping the run.
        Nothing is kept between batches, so memory stays flat over any number of images.
        """
        loader = DataLoader(ImageDataset(samples, self.classes, self.views,
                                         draft_size=self.preprocessing.decode_size), batch_size=batch_size,
                            shuffle=False, num_workers=num_workers, collate_fn=collate_views)
        for x, counts, _, index, bad in loader:
            if skipped is not None:
                skipped += bad
            if x is None:
                continue
            for i, result in zip(index.tolist(), self._explain_views(x, counts, [target] * len(counts))):
                result.path = samples[i].path
                yield samples[i], result
