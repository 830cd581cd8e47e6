"""Explain and stylise for the service: the library's explainers and stylisers, loaded once, shared.

Both features live in optional modules (``artlens.explain.cam``, ``artlens.style.adain`` /
``gatys``) imported lazily; when one is missing, or no AdaIN decoder is installed, the endpoint
answers 503 with :class:`FeatureUnavailable`'s one-line reason and ``GET /v1/models`` says so, so the
page can grey the option out instead of failing later.

Grad-CAM hooks and a decoder's buffers are per-object state, so each explainer/styliser is used by
one request at a time (a lock each). Explainers load their own copy of the bundle: CAM hooks must
never sit on the model that the predict batcher is running.
"""

from __future__ import annotations

import importlib
import io
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import ArtlensError
from .registry import ModelEntry, unloadable

__all__ = ["Explainers", "FeatureUnavailable", "Stylizers", "png_bytes"]


class FeatureUnavailable(ArtlensError):
    """A feature this installation cannot serve (HTTP 503)."""


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=3)
    return buf.getvalue()


def _module(name: str, feature: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise FeatureUnavailable(f"{feature} is not available in this installation ({name}: {err})") from None


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
    """Class activation maps (``artlens.explain.cam``) per model and method."""

    def __init__(self, *, device: str = "cpu") -> None:
        self.device = device
        self._shared = _Shared()

    def status(self) -> dict[str, Any]:
        try:
            cam = _module("artlens.explain.cam", "explain")
        except FeatureUnavailable as err:
            return {"available": False, "reason": str(err), "methods": []}
        return {"available": True, "methods": cam.CAM_METHODS.names(), "default_method": "gradcam"}

    def explain(self, entry: ModelEntry, image: Image.Image, *, method: str = "gradcam",
                target: str | None = None) -> Any:
        """The library's ``CamResult`` for ``image``; ``target`` = a class name or None (predicted)."""
        cam = _module("artlens.explain.cam", "explain")
        cam.CAM_METHODS.get(method)  # unknown method: ArtlensError listing the valid ones
        def make():
            try:
                return cam.CamExplainer(entry.path, method=method, device=self.device)
            except ArtlensError as err:
                raise unloadable(entry, err) from None

        explainer, lock = self._shared.get((entry.id, method), make)
        with lock:
            return explainer.explain(image, target=target or None)


def decoder_names(folders: Sequence[Path], root: Path | None) -> dict[str, Path]:
    """Name each decoder folder for the API: ``adain-train`` writes ``RUN/decoder/``, so a folder
    called ``decoder`` is named after its run; clashes fall back to the path under ``root`` joined
    with ``-`` (a name, never a path a client could send back)."""
    def short(p: Path) -> str:
        return p.parent.name if p.name == "decoder" and p.parent != root else p.name

    shorts = [short(Path(p)) for p in folders]
    out: dict[str, Path] = {}
    for p, name in zip(folders, shorts):
        p = Path(p)
        if shorts.count(name) > 1 and root is not None:
            name = "-".join(p.relative_to(root).parts)
        out[name] = p
    return out


class Stylizers:
    """AdaIN decoders found in the models folder (sync) and Gatys' optimisation (run as a job)."""

    def __init__(self, models_dir: str | os.PathLike | None, *, device: str = "cpu") -> None:
        self.models_dir = Path(models_dir) if models_dir else None
        self.device = device
        self._shared = _Shared()
        self._decoders: dict[str, Path] | None = None

    def decoders(self) -> dict[str, Path]:
        """Decoder name -> folder (found once; a decoder is a folder name, never a client path)."""
        if self._decoders is None:
            adain = _module("artlens.style.adain", "AdaIN style transfer")
            found: Sequence[Path] = adain.find_decoders(self.models_dir) if self.models_dir else []
            self._decoders = decoder_names(found, self.models_dir)
        return self._decoders

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            names = list(self.decoders())
            out["adain"] = {"available": bool(names), "decoders": names,
                            **({} if names else {"reason": "no AdaIN decoder installed: put a decoder folder "
                                                           "(artlens.json format artlens-adain-decoder/1) in --models DIR"})}
        except FeatureUnavailable as err:
            out["adain"] = {"available": False, "decoders": [], "reason": str(err)}
        try:
            _module("artlens.style.gatys", "Gatys style transfer")
            out["gatys"] = {"available": True}
        except FeatureUnavailable as err:
            out["gatys"] = {"available": False, "reason": str(err)}
        return out

    def adain(self, content: Image.Image, styles: Sequence[Image.Image], *, decoder: str | None = None,
              alpha: float = 1.0, preserve_color: bool = False, content_size: int = 512) -> Image.Image:
        adain = _module("artlens.style.adain", "AdaIN style transfer")
        decoders = self.decoders()
        if not decoders:
            raise FeatureUnavailable(self.status()["adain"]["reason"])
        name = decoder or next(iter(decoders))
        if name not in decoders:
            raise ArtlensError(f"unknown decoder {name!r}; installed: {', '.join(decoders)}")
        stylizer, lock = self._shared.get(("adain", name),
                                          lambda: adain.AdainStylizer.load(decoders[name], device=self.device))
        with lock:
            return stylizer.stylize(content, list(styles), alpha=alpha, preserve_color=preserve_color,
                                    content_size=content_size)

    def gatys_job(self, content: Image.Image, styles: Sequence[Image.Image], *, extractor: str, steps: int,
                  size: int, preserve_color: bool) -> Callable[[Callable[[float, str], None]], bytes]:
        """A job function for :class:`~artlens.serve.jobs.JobQueue` (config validated now, run later)."""
        gatys = _module("artlens.style.gatys", "Gatys style transfer")
        cfg = gatys.GatysConfig(extractor=extractor, steps=steps, size=size, device=self.device,
                                preserve_color="luminance" if preserve_color else "none")

        def run(report: Callable[[float, str], None]) -> bytes:
            report(0.0, f"loading {extractor}")

            def on_step(step: int, total: int, losses: dict[str, float]) -> None:
                report(step / total, f"step {step}/{total}, loss {losses.get('total', float('nan')):.3g}")

            return png_bytes(gatys.stylize_gatys(content, list(styles), cfg, callback=on_step))

        return run
