"""The models a service offers: bundles found in a folder plus the built-in style model.

Clients name models, never paths: a request's ``model`` is looked up in this registry (exact id, or a
name meaning its newest version) and anything else is refused, so ``../../etc`` cannot reach the disk.
Several versions of one model sit side by side (``name@version``, the version from ``artlens.json``,
``unknown`` when it has none, plus ``+folder`` when two bundles would otherwise share an id), and each
task has a default (classification: the built-in style
model unless ``--default-model`` says otherwise). A model is loaded on first use, once, and shared by
all requests through a :class:`~artlens.serve.batching.MicroBatcher` that owns it. The registry reads
bundles as a notebook would: :func:`artlens.read_bundle_meta` to list them, :func:`artlens.load_bundle`
and :class:`artlens.Predictor` (its :meth:`~artlens.Predictor.views`, :meth:`~artlens.Predictor.probs`
and :meth:`~artlens.Predictor.rank`) to answer.

>>> import tempfile
>>> reg = ModelRegistry(tempfile.mkdtemp())   # an empty models folder: the built-in model alone
>>> [e.id for e in reg.entries()]             # doctest: +ELLIPSIS
['wikiart11-style@...']

With bundles of two versions of an ``artists`` model in ``models/``::

    reg = ModelRegistry("models/")
    [e.id for e in reg.entries()]    # ['wikiart11-style@20261205-083029', 'artists@2', 'artists@1']
    reg.loaded("artists").predict(pil_image)   # array([0.02, 0.91, ...], dtype=float32)
"""

from __future__ import annotations

import logging
import os
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .. import (BUNDLE_FORMAT, META_FILE, PRECISIONS, ArtlensError, BundleFormatError, Predictor, default_device,
                load_bundle, read_bundle_meta, uncertain_threshold)
from ..data import Preprocessing
from ..models import default_bundle_path, embedding_taps
from .batching import MicroBatcher
from .catalogue import model_card

__all__ = ["LoadedModel", "ModelEntry", "ModelRegistry", "UnknownModel", "find_bundles", "probs_and_embeddings", "unloadable"]

log = logging.getLogger("artlens.serve")

#: What a client may send as a model name: letters, digits, ``. _ -`` and one ``@version``.
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}(@[A-Za-z0-9][A-Za-z0-9._+-]{0,63})?$")

_SUMMARY_METRICS = ("split", "n", "accuracy", "top3", "top5")


class UnknownModel(ArtlensError):
    """A model name that is malformed (``status`` 422), not in the registry (404), or whose files are broken (503)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ModelEntry:
    """One bundle on offer; ``to_dict`` is what ``GET /v1/models`` shows (no file paths)."""

    id: str
    name: str
    version: str
    task: str
    classes: tuple[str, ...]
    metrics: dict[str, Any]
    created: str
    backbone: str
    builtin: bool
    path: Path = field(repr=False, compare=False)
    resize: str = "crop"
    """How the model frames an image (``crop`` | ``squash``), to map its CAMs back onto the picture."""
    decode_size: int | None = None
    """Uploads decode at a reduced scale keeping this many pixels a side, as ``artlens predict`` does."""
    trained_on: str | None = None
    """What the bundle says it learnt from (``trained_on`` in ``artlens.json``), for its card."""
    description: str | None = None
    uncertain_below: float | None = None
    """``calibration.uncertain_below`` of ``artlens.json``: a top probability below it is flagged uncertain."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version, "task": self.task,
                "classes": list(self.classes), "metrics": self.metrics, "created": self.created,
                "backbone": self.backbone, "source": "built-in" if self.builtin else "models dir",
                "card": model_card(name=self.name, classes=list(self.classes), metrics=self.metrics,
                                   trained_on=self.trained_on, description=self.description,
                                   uncertain_below=self.uncertain_below)}


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a bundle's metrics (per-class tables stay in the bundle)."""
    out = {k: metrics[k] for k in _SUMMARY_METRICS if k in metrics}
    if isinstance(metrics.get("macro"), dict) and "f1" in metrics["macro"]:
        out["macro_f1"] = metrics["macro"]["f1"]
    return out


def unloadable(entry: ModelEntry, err: ArtlensError) -> UnknownModel:
    """The error for a listed model whose files fail to load: the server's fault (503), not the
    request's; the reason, which names server paths, goes to the log only."""
    log.error("model %s cannot be loaded: %s", entry.id, err)
    return UnknownModel(f"model {entry.id} is installed but cannot be loaded; the server's log says why", 503)


def _age(entry: ModelEntry) -> tuple[bool, str]:
    """Sort key, newest last: ISO dates in order, and a bundle without a date older than any dated one."""
    return entry.created != "unknown", entry.created


def served_name(text: str, limit: int) -> str:
    """``text`` as a name a request can send back (:data:`MODEL_NAME`): accents dropped, any other
    character outside letters, digits and ``._+-`` as ``-``. ``artlens train --out "runs/Stile Barock"``
    names its bundle after the folder, and a listed model that no request can name is useless."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", plain).lstrip("._+-")[:limit].rstrip("-") or "model"


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str) and value.strip() else None


def _entry(path: Path, meta: dict[str, Any], builtin: bool) -> ModelEntry:
    given = str(meta.get("name") or path.name)
    name = served_name(given, 100)
    version = served_name(str(meta.get("version") or "unknown"), 64)
    if name != given:
        log.info("%s: model name %r is served as %r", path, given, name)
    pre = meta.get("preprocessing") or {}
    decode_size = Preprocessing(input_size=int(pre["input_size"])).decode_size if "input_size" in pre else None
    return ModelEntry(id=f"{name}@{version}", name=name, version=version, task=str(meta.get("task") or "unknown"),
                      classes=tuple(meta.get("classes") or ()), metrics=_summary(meta.get("metrics") or {}),
                      created=str(meta.get("created") or "unknown"), backbone=str(meta.get("backbone") or "unknown"),
                      builtin=builtin, path=path, resize=str(pre.get("resize", "crop")), decode_size=decode_size,
                      trained_on=_text(meta.get("trained_on")), description=_text(meta.get("description")),
                      uncertain_below=uncertain_threshold(meta))


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        return read_bundle_meta(path)
    except BundleFormatError:
        return None  # another kind of artlens file (e.g. a style decoder): not a classifier bundle
    except ArtlensError as err:
        log.warning("%s: skipped: %s", path, err)
        return None


def find_bundles(models_dir: str | os.PathLike) -> list[tuple[Path, dict[str, Any]]]:
    """Every classifier bundle below ``models_dir`` with its metadata (sorted by path)."""
    root = Path(models_dir)
    if not root.is_dir():
        raise ArtlensError(f"--models {root}: no such folder")
    found = []
    for meta_path in sorted(root.rglob(META_FILE)):
        meta = _read_meta(meta_path.parent)
        if meta is not None:
            found.append((meta_path.parent, meta))
    return found


def probs_and_embeddings(predictor: Predictor, views: list[torch.Tensor],
                         taps: list[torch.nn.Module]) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """:meth:`artlens.Predictor.probs` of a batch, and each image's embedding (what the head reads, for
    drift monitoring; an ensemble's members' joined, as its ``embed`` joins them) caught on the way by
    hooks on ``taps`` (:func:`artlens.models.embedding_taps` of ``predictor.model``): no second pass.
    ``None`` for a network without them."""
    captured: list[torch.Tensor] = []
    handles = [t.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0].detach())) for t in taps]
    try:
        probs = predictor.probs(views)
    finally:
        for handle in handles:
            handle.remove()
    counts = [len(v) for v in views]
    embeddings: list[np.ndarray | None] = [None] * len(views)
    first = captured[: len(taps)]  # the first pass (the unflipped views), each tap once, in order
    if taps and len(first) == len(taps) and all(len(c) == sum(counts) for c in first):
        rows = torch.cat([c.float() for c in first], dim=1).cpu().split(counts)
        embeddings = [r.mean(0).numpy() for r in rows]
    return list(zip(probs, embeddings))


class LoadedModel:
    """A bundle's :class:`~artlens.Predictor` and the batcher thread that runs it."""

    def __init__(self, entry: ModelEntry, predictor: Predictor, *, max_batch: int, max_wait_ms: float) -> None:
        self.entry = entry
        self.predictor = predictor
        self.batcher: MicroBatcher[torch.Tensor, tuple[np.ndarray, np.ndarray | None]] = MicroBatcher(
            self._probs_and_embeddings, max_batch=max_batch, max_wait_ms=max_wait_ms, name=f"model-{entry.id}")

    @property
    def tta(self) -> str:
        return self.predictor.tta

    @cached_property
    def _taps(self) -> list[torch.nn.Module]:
        """:func:`artlens.models.embedding_taps` of the network as predictions run it: found once."""
        return embedding_taps(self.predictor.model)

    def _probs_and_embeddings(self, views: list[torch.Tensor]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        return probs_and_embeddings(self.predictor, views, self._taps)

    def predict_with_embedding(self, image: Image.Image, *, timeout: float = 120.0) -> tuple[np.ndarray, np.ndarray | None]:
        """Class probabilities for one RGB image (batched with concurrent callers) and its embedding."""
        return self.batcher.submit(self.predictor.views(image)).result(timeout=timeout)

    def predict(self, image: Image.Image, *, timeout: float = 120.0) -> np.ndarray:
        """Class probabilities for one RGB image (batched with concurrent callers)."""
        return self.predict_with_embedding(image, timeout=timeout)[0]

    def answer(self, probs: np.ndarray, k: int) -> dict[str, Any]:
        """``{"predictions", "uncertain"}`` as ``artlens predict`` words it, but exactly ``k`` labels
        (``top_k`` is the client's to choose; the page asks for three when it needs the runners-up)."""
        return self.predictor.rank(probs, k, runners_up=0)

    def close(self) -> None:
        self.batcher.close()


class ModelRegistry:
    """Bundles in ``models_dir`` plus the built-in model, loaded lazily, once, thread-safely."""

    def __init__(self, models_dir: str | os.PathLike | None = None, *, default_model: str | None = None,
                 device: str = "auto", max_batch: int = 16, max_wait_ms: float = 2.0,
                 include_builtin: bool = True, precision: str = "auto") -> None:
        self.models_dir = Path(models_dir) if models_dir else None
        self.device = default_device(device)
        if precision not in PRECISIONS:  # checked now: at the first load it would read as a broken model
            raise ArtlensError(f"precision {precision!r} is not allowed; choose from: {', '.join(PRECISIONS)}")
        self.precision = precision
        self.max_batch, self.max_wait_ms = max_batch, max_wait_ms
        found = []
        if include_builtin:
            builtin = default_bundle_path()
            found.append((builtin, _read_meta(builtin) or {}, True))
        if self.models_dir is not None:
            found += [(p, m, False) for p, m in find_bundles(self.models_dir)]
        self._entries: dict[str, ModelEntry] = {}
        for path, meta, is_builtin in found:
            entry = _entry(path, meta, is_builtin)
            if entry.id in self._entries:  # same name and version (often both "unknown"): tell them apart by folder
                entry = _entry(path, {**meta, "version": f"{entry.version}+{path.name}"}, is_builtin)
                log.info("%s: %s is taken, serving this one as %s", path, entry.name, entry.id)
            if entry.id in self._entries:
                log.warning("%s: skipped, %s is already provided by %s", path, entry.id, self._entries[entry.id].path)
                continue
            self._entries[entry.id] = entry
        if not self._entries:
            raise ArtlensError(f"--models {self.models_dir}: no model bundles found (artlens.json with format {BUNDLE_FORMAT})")
        self.alias_source: Callable[[], dict[str, dict[str, str]]] | None = None
        """``{name: {alias: version}}`` (the operations database): ``name`` alone and the default follow
        ``production``, and ``name@production`` / ``name@candidate`` are understood."""
        self.defaults = self._defaults(default_model, include_builtin)
        self._loaded: dict[str, LoadedModel] = {}
        self._load_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def _defaults(self, default_model: str | None, include_builtin: bool) -> dict[str, str]:
        defaults: dict[str, str] = {}
        for entry in sorted(self._entries.values(), key=_age, reverse=True):
            defaults.setdefault(entry.task, entry.id)  # newest of each task ...
        if include_builtin:  # ... except classification: the built-in style model
            builtin = next(e for e in self._entries.values() if e.builtin)
            defaults[builtin.task] = builtin.id
        if default_model:
            try:
                chosen = self.resolve(default_model, task=None, defaults=defaults)
            except UnknownModel as err:
                raise ArtlensError(f"--default-model: {err}") from None
            defaults[chosen.task] = chosen.id
        return defaults

    def entries(self) -> list[ModelEntry]:
        """All models, each name's versions together, newest first."""
        newest_first = sorted(self._entries.values(), key=_age, reverse=True)
        return sorted(newest_first, key=lambda e: (not e.builtin, e.name))

    def resolve(self, name: str | None, *, task: str | None = "classification",
                defaults: dict[str, str] | None = None) -> ModelEntry:
        """``None``/"" -> the task's default; ``name@version`` -> that one; ``name`` -> its newest version.

        A named model of another task than ``task`` is the request's mistake (422), not a model that
        fails to load: ``/v1/predict`` naming a CycleGAN says so. ``task=None`` accepts any task."""
        if not name:
            defaults = self.defaults if defaults is None else defaults
            if task not in defaults:
                raise UnknownModel(f"no model for task {task!r} is installed", 404)
            aliases = self.alias_source() if self.alias_source is not None else {}
            chosen = self._entries[defaults[task]]
            return self._aliased(chosen.name, "production", aliases) or chosen
        entry = self._named(name)
        if task is not None and entry.task != task:
            raise UnknownModel(f"model {entry.id} has task {entry.task!r}; this needs a {task!r} model", 422)
        return entry

    def _named(self, name: str) -> ModelEntry:
        aliases = self.alias_source() if self.alias_source is not None else {}
        if not MODEL_NAME.match(name):
            raise UnknownModel(f"model {name[:80]!r} is not a model name (letters, digits, '._+-' and one "
                               "'@version'; paths are not accepted)", 422)
        if name in self._entries:
            return self._entries[name]
        base, _, version = name.partition("@")
        if version:
            found = self._aliased(base, version, aliases)
            if found is None:
                raise UnknownModel(f"unknown model {name!r}; available: {', '.join(e.id for e in self.entries())}", 404)
            return found
        versions = [e for e in self._entries.values() if e.name == name]
        if not versions:
            raise UnknownModel(f"unknown model {name!r}; available: {', '.join(e.id for e in self.entries())}", 404)
        return self._aliased(name, "production", aliases) or max(versions, key=_age)

    def _aliased(self, name: str, alias: str, aliases: dict[str, dict[str, str]]) -> ModelEntry | None:
        """The entry ``name@alias`` points at, if the alias is set to a version this server has."""
        version = aliases.get(name, {}).get(alias)
        entry = self._entries.get(f"{name}@{version}") if version else None
        if version and entry is None:
            log.warning("%s@%s points at version %s, which this server does not have", name, alias, version)
        return entry

    def loaded(self, name: str | None, *, task: str = "classification") -> LoadedModel:
        """The model ready to run, loading it on first use (concurrent first uses load it once)."""
        entry = self.resolve(name, task=task)
        with self._lock:
            if entry.id in self._loaded:
                return self._loaded[entry.id]
            load_lock = self._load_locks.setdefault(entry.id, threading.Lock())
        with load_lock:  # one load per model; requests for models already loaded never wait for it
            with self._lock:
                if entry.id in self._loaded:
                    return self._loaded[entry.id]
            log.info("loading model %s from %s on %s", entry.id, entry.path, self.device)
            try:
                predictor = Predictor(load_bundle(entry.path, device=self.device), device=self.device,
                                      precision=self.precision)
            except ArtlensError as err:
                raise unloadable(entry, err) from None
            model = LoadedModel(entry, predictor, max_batch=self.max_batch, max_wait_ms=self.max_wait_ms)
            with self._lock:
                self._loaded[entry.id] = model
            return model

    def batching_stats(self) -> dict[str, dict[str, float]]:
        """Per loaded model: requests served, forward passes run, and their mean batch size."""
        with self._lock:
            loaded = list(self._loaded.values())
        return {m.entry.id: {"requests": m.batcher.items, "batches": m.batcher.batches,
                             "mean_batch": round(m.batcher.mean_batch, 2)} for m in loaded}

    def close(self) -> None:
        with self._lock:
            for model in self._loaded.values():
                model.close()
            self._loaded.clear()
