"""Explain and stylise for the service: the library's explainers and stylisers, loaded once, shared.

The objects are the public API's (:class:`artlens.explain.CamExplainer`, :class:`artlens.AdainStylizer`,
:func:`artlens.stylize_gatys`). AdaIN needs a decoder in the models folder: without one its endpoint
answers 503 with :class:`FeatureUnavailable`'s one-line reason and ``GET /v1/models`` says so, so the
page can grey the option out instead of failing later.

Grad-CAM hooks and a decoder's buffers are per-object state, so each explainer/styliser is used by
one request at a time (a lock each). Explainers load their own copy of the bundle: CAM hooks must
never sit on the model that the predict batcher is running.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from PIL import Image

from .. import AdainStylizer, ArtlensError, GatysConfig, stylize_gatys
from ..explain import CAM_METHODS, CamExplainer, CamResult
from ..style import builtin_decoder, find_decoders, level_plan
from ..translate import DIRECTIONS, Translator, builtin_translator, find_translators
from .registry import ModelEntry, unloadable

__all__ = ["GATYS_CPU_COST", "OVERLAY_SIDE", "SLOW_CAM_METHODS", "Explainers", "FeatureUnavailable", "GatysCost",
           "Stylizers", "gatys_cpu_cost", "gatys_estimate_s", "gatys_work", "png_bytes"]

#: CAM methods that run the model once per batch of feature channels: about a minute per image on a
#: CPU. ``POST /v1/explain`` runs them as background jobs (202), never inside a request.
SLOW_CAM_METHODS = ("scorecam", "ablationcam")
#: Their channel batch sizes in ``pytorch_grad_cam`` (forward passes = channels / batch + 1): for progress.
_CAM_BATCH = {"scorecam": 16, "ablationcam": 32}


class GatysCost(NamedTuple):
    """What a Gatys job costs on a CPU: ``setup_s`` to load the loss network, then each iteration
    ``per_step_s + pixels x per_step_pixel_s``."""

    setup_s: float
    per_step_s: float
    per_step_pixel_s: float


#: :class:`GatysCost` per extractor family, fitted by ``benchmarks/gatys_estimate.py`` (medians of 5
#: runs each on an idle 2-core CPU, extractor loading included; EfficientNet-Lite0: 0.8-7.1 s over 256
#: to 512 px and 20 to 60 steps, the fit within 13 % of every median; VGG19: 5-10 s for 6-10 steps at
#: 256-512 px, within 1 %), rounded up. The one guess before them, fitted to VGG19-like runs on a busy
#: CPU, told users 10 to 14 times too long for Lite0, the service's extractor. Another family is
#: estimated as VGG19, the slowest; a GPU is taken to be 20 times faster (not measured).
GATYS_CPU_COST = {"efficientnet": GatysCost(0.5, 0.007, 7.5e-7), "vgg": GatysCost(2.0, 0.0, 7.5e-6)}
#: A slow CAM on a 224 px input, on a CPU (issue 28 measured scorecam at about 50 s).
SLOW_CAM_S = 50.0
#: Longest side of a CAM overlay the service draws: the map on the painting at its own resolution, as
#: ``artlens explain`` draws it, but bounded so that one request's PNG stays small (a few MB at most).
OVERLAY_SIDE = 1024


def _gpu_factor(device: str) -> float:
    return 0.05 if str(device).startswith("cuda") else 1.0


def gatys_cpu_cost(extractor: str) -> GatysCost:
    """The :data:`GATYS_CPU_COST` of ``extractor``'s family (VGG19's for a family not measured)."""
    return GATYS_CPU_COST["efficientnet" if "efficientnet" in extractor.lower() else "vgg"]


def gatys_work(cfg: GatysConfig, content_size: tuple[int, int]) -> tuple[int, float]:
    """``(iterations, iterations x pixels)`` of a Gatys run, over the coarse-to-fine levels it will take
    (:func:`artlens.style.level_plan`, so the extractor preset's number of scales counts): what its run
    time grows with. ``content_size``: the content image's (width, height)."""
    aspect = min(max(min(content_size) / max(max(content_size), 1), 0.02), 1.0)
    plan = level_plan(cfg, content_size)
    return sum(steps for _, steps in plan), sum(steps * side * side * aspect for side, steps in plan)


def gatys_estimate_s(cfg: GatysConfig, content_size: tuple[int, int], *, styles: int = 1, device: str = "cpu") -> float:
    """A Gatys job's run time guessed up front, on an otherwise idle machine: its :func:`gatys_work` at
    the extractor family's :func:`gatys_cpu_cost`, a little more per extra style image."""
    cost = gatys_cpu_cost(cfg.extractor)
    steps, step_pixels = gatys_work(cfg, content_size)
    seconds = steps * cost.per_step_s + step_pixels * cost.per_step_pixel_s
    return cost.setup_s + seconds * (1 + 0.1 * (styles - 1)) * _gpu_factor(device)


class FeatureUnavailable(ArtlensError):
    """A feature this installation cannot serve (HTTP 503)."""


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=3)
    return buf.getvalue()


class _Shared:
    """Objects built once per key, each used under its own lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[Any, tuple[Any, threading.Lock]] = {}

    def get(self, key: Any, build: Callable[[], Any]) -> tuple[Any, threading.Lock]:
        with self._lock:
            if key not in self._items:
                self._items[key] = (build(), threading.Lock())
            return self._items[key]


class Explainers:
    """Class activation maps (:class:`artlens.explain.CamExplainer`) per model and method."""

    def __init__(self, *, device: str = "cpu") -> None:
        self.device = device
        self._shared = _Shared()

    def status(self) -> dict[str, Any]:
        methods = CAM_METHODS.names()
        return {"available": True, "methods": methods, "default_method": "gradcam",
                "slow_methods": [m for m in SLOW_CAM_METHODS if m in methods]}

    def methods(self) -> list[str]:
        """The CAM method names."""
        return CAM_METHODS.names()

    def check(self, method: str) -> None:
        """An unknown method is an :class:`ArtlensError` listing the valid ones."""
        CAM_METHODS.get(method)

    def estimate_s(self, entry: ModelEntry) -> float:
        """A slow CAM's run time guessed up front: it grows with the model's input pixels."""
        side = (entry.decode_size or 448) / 2  # the model's input size (uploads decode at twice it)
        return SLOW_CAM_S * (side / 224) ** 2 * _gpu_factor(self.device)

    def _explainer(self, entry: ModelEntry, method: str) -> tuple[CamExplainer, threading.Lock]:
        self.check(method)

        def make() -> CamExplainer:
            try:
                return CamExplainer(entry.path, method=method, device=self.device)
            except ArtlensError as err:
                raise unloadable(entry, err) from None

        return self._shared.get((entry.id, method), make)

    def draw(self, entry: ModelEntry, picture: Image.Image, result: CamResult, *, method: str = "gradcam",
             max_side: int = OVERLAY_SIDE) -> tuple[Image.Image, str]:
        """``result``'s map drawn on ``picture`` at the picture's own size (longest side at most ``max_side``)
        and its caption: :meth:`CamExplainer.on_picture` and :meth:`CamExplainer.caption`, as ``artlens
        explain`` draws its overlays and panels (perceptual colormap, a cropping model's crop in place)."""
        explainer, _ = self._explainer(entry, method)  # drawing reads the preprocessing only: no lock
        return explainer.on_picture(picture, result, max_side=max_side), explainer.caption(result)

    def explain(self, entry: ModelEntry, image: Image.Image, *, method: str = "gradcam",
                target: str | None = None, progress: Callable[[float, str], None] | None = None) -> CamResult:
        """The library's :class:`~artlens.explain.CamResult` for ``image``; ``target`` = a class name or None (predicted).

        ``progress(fraction, message)`` is called before each forward pass of the model (slow
        methods make dozens); a job's progress function raises to cancel, which ends the CAM there.
        """
        explainer, lock = self._explainer(entry, method)
        with lock:
            if progress is None:
                return explainer.explain(image, target=target or None)
            seen = {"calls": 0, "channels": 0}

            def on_layer(_module: Any, _inputs: Any, output: Any) -> None:
                if not seen["channels"] and hasattr(output, "shape") and len(output.shape) > 1:
                    seen["channels"] = int(output.shape[1])

            def on_forward(_module: Any, _inputs: Any) -> None:
                seen["calls"] += 1
                passes = 2 + -(-seen["channels"] // _CAM_BATCH.get(method, 1)) if seen["channels"] else 0
                fraction = min(0.99, seen["calls"] / passes) if passes else 0.0
                progress(fraction, f"{method}: forward pass {seen['calls']}" + (f" of about {passes}" if passes else ""))

            hooks = [explainer.target_module.register_forward_hook(on_layer),
                     explainer.model.register_forward_pre_hook(on_forward)]
            try:
                return explainer.explain(image, target=target or None)
            finally:
                for hook in hooks:
                    hook.remove()


def decoder_names(folders: Sequence[Path], root: Path | None) -> dict[str, Path]:
    """Name each decoder folder for the API: ``adain-train`` writes ``RUN/decoder/``, so a folder
    called ``decoder`` is named after its run; clashes fall back to the path under ``root`` joined
    with ``-`` (a name, never a path a client could send back)."""
    def short(p: Path) -> str:  # a CycleGAN run writes RUN/model/: named after its run too
        return p.parent.name if p.name in ("decoder", "model") and p.parent != root else p.name

    shorts = [short(Path(p)) for p in folders]
    out: dict[str, Path] = {}
    for p, name in zip(folders, shorts):
        p = Path(p)
        if shorts.count(name) > 1 and root is not None:
            name = "-".join(p.relative_to(root).parts)
        out[name] = p
    return out


class Stylizers:
    """AdaIN decoders (sync): the built-in one first, then those found in the models folder; CycleGAN bundles
    found there (sync); and Gatys' optimisation (run as a job)."""

    def __init__(self, models_dir: str | os.PathLike | None, *, device: str = "cpu") -> None:
        self.models_dir = Path(models_dir) if models_dir else None
        self.device = device
        self._shared = _Shared()
        self._decoders: dict[str, Path] | None = None
        self._translators: dict[str, Path] | None = None

    def _builtin_first(self, builtin: Path | None, find: Callable[[Path], Sequence[Path]]) -> dict[str, Path]:
        """Name -> folder: the one shipped in the package first, then those ``find`` finds in the models
        folder (named by :func:`decoder_names`; one with the built-in's name is left out)."""
        named = decoder_names(find(self.models_dir) if self.models_dir else [], self.models_dir)
        return {**({builtin.name: builtin} if builtin else {}),
                **{k: v for k, v in named.items() if not builtin or k != builtin.name}}

    def decoders(self) -> dict[str, Path]:
        """Decoder name -> folder (found once; a decoder is a folder name, never a client path)."""
        if self._decoders is None:
            self._decoders = self._builtin_first(builtin_decoder(), find_decoders)
        return self._decoders

    def translators(self) -> dict[str, Path]:
        """CycleGAN bundle name -> folder (found once; named like decoders, never a client path)."""
        if self._translators is None:
            self._translators = self._builtin_first(builtin_translator(), find_translators)
        return self._translators

    def status(self) -> dict[str, Any]:
        names = list(self.decoders())
        translators = list(self.translators())
        return {"adain": {"available": bool(names), "decoders": names,
                          **({} if names else {"reason": "no AdaIN decoder installed: put a decoder folder "
                                                         "(artlens.json format artlens-adain-decoder/1) in --models DIR"})},
                "gatys": {"available": True},
                "cyclegan": {"available": bool(translators), "models": translators, "directions": list(DIRECTIONS),
                             **({} if translators else {"reason": "no CycleGAN installed: put the model folder of an "
                                                                  "artlens cyclegan train run in --models DIR"})}}

    def cyclegan(self, content: Image.Image, *, translator: str | None = None, direction: str = "a2b",
                 size: int = 512) -> Image.Image:
        """``content`` (its longer side resized to ``size``) through a CycleGAN bundle's ``direction`` generator."""
        translators = self.translators()
        if not translators:
            raise FeatureUnavailable(self.status()["cyclegan"]["reason"])
        name = translator or next(iter(translators))
        if name not in translators:
            raise ArtlensError(f"unknown CycleGAN model {name!r}; installed: {', '.join(translators)}")
        painter, lock = self._shared.get(("cyclegan", name),
                                         lambda: Translator.load(translators[name], device=self.device))
        with lock:
            return painter.translate(content, direction=direction, size=size)

    def adain(self, content: Image.Image, styles: Sequence[Image.Image], *, decoder: str | None = None,
              alpha: float = 1.0, preserve_color: bool = False, size: int = 512,
              weights: Sequence[float] | None = None) -> Image.Image:
        """The stylised picture with its longer side ``size`` px (as Gatys' result), the styles' shorter side ``size``."""
        decoders = self.decoders()
        if not decoders:
            raise FeatureUnavailable(self.status()["adain"]["reason"])
        name = decoder or next(iter(decoders))
        if name not in decoders:
            raise ArtlensError(f"unknown decoder {name!r}; installed: {', '.join(decoders)}")
        if weights is not None and (len(weights) != len(styles) or sum(weights) <= 0):
            raise ArtlensError(f"style_weights: one weight per style image ({len(styles)}), not all zero; "
                               f"got {len(weights)}")
        stylizer, lock = self._shared.get(("adain", name),
                                          lambda: AdainStylizer.load(decoders[name], device=self.device))
        with lock:
            shorter = max(16, round(size * min(content.size) / max(content.size)))
            return stylizer.stylize(content, list(styles), alpha=alpha, preserve_color=preserve_color,
                                    content_size=shorter, style_size=size, weights=weights)

    def gatys_config(self, *, extractor: str, steps: int, size: int, preserve_color: bool) -> GatysConfig:
        """The config of a Gatys job: the request's options; everything else (loss weights, TV, scales) the
        extractor preset's defaults, so the job, its cost estimate and ``artlens stylize gatys`` agree."""
        return GatysConfig(extractor=extractor, steps=steps, size=size, device=self.device,
                           preserve_color="luminance" if preserve_color else "none")

    def gatys_job(self, content: Image.Image, styles: Sequence[Image.Image],
                  cfg: GatysConfig) -> Callable[[Callable[[float, str], None]], bytes]:
        """A job function for :class:`~artlens.serve.jobs.JobQueue` (config validated now, run later)."""

        def run(report: Callable[[float, str], None]) -> bytes:
            report(0.0, f"loading {cfg.extractor}")

            def on_step(step: int, total: int, losses: dict[str, float]) -> None:
                report(step / total, f"step {step}/{total}, loss {losses.get('total', float('nan')):.3g}")

            return png_bytes(stylize_gatys(content, list(styles), cfg, callback=on_step))

        return run
