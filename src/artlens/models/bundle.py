"""Model bundles: ``model.safetensors`` + ``artlens.json``, loadable without executing any code.

The JSON sidecar records everything needed to rebuild and trust a model: backbone and its build
options, head, classes, preprocessing, the training recipe, metrics, a fingerprint of the training
data and the artlens version. Loading rebuilds the architecture from that description and reads
tensors with safetensors: no pickle is ever involved.

>>> from artlens.models import load_bundle
>>> bundle = load_bundle("runs/style/model")            # doctest: +SKIP
>>> bundle.classes[:2], bundle.preprocessing.input_size  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .._registry import Registry
from .._version import __version__
from ..config import ModelConfig
from ..data.transforms import Preprocessing
from ..errors import ArtlensError
from ..outputs import replaceable_folder, sibling_name
from .classifier import ArtClassifier, build_classifier
from .ensemble import EnsembleClassifier, ensemble_preprocessing

__all__ = ["BUNDLE_FORMAT", "DECODER_FORMAT", "DIFFUSION_FORMAT", "META_FILE", "Bundle", "BundleFormatError", "default_bundle_path",
           "find_bundles", "load_bundle", "read_bundle_meta", "save_bundle", "save_ensemble"]

BUNDLE_FORMAT = "artlens-bundle/1"
WEIGHTS_FILE = "model.safetensors"
META_FILE = "artlens.json"
#: The ``format`` of an AdaIN decoder bundle (:mod:`artlens.style.adain`): also an ``artlens.json`` folder,
#: recognised here so that the classifier loader can say what it was given.
DECODER_FORMAT = "artlens-adain-decoder/1"
DECODER_WEIGHTS_FILE = "decoder.safetensors"
#: The ``format`` of a class-conditional diffusion model (:mod:`artlens.diffusion`, task ``diffusion``): the
#: usual ``model.safetensors`` + ``artlens.json``, a format of its own so classifier loaders refuse it.
DIFFUSION_FORMAT = "artlens-diffusion/1"
DEFAULT_MODEL = "wikiart11-style"
#: The AdaIN decoder shipped inside the package (``scripts/train_adain_model.py``).
DEFAULT_DECODER = "adain-lite0"
#: The CycleGAN shipped inside the package, photo -> Impressionism (``scripts/train_cyclegan_model.py``).
DEFAULT_TRANSLATOR = "photo2impressionism"


@dataclass
class Bundle:
    """A loaded model with the metadata it was saved with."""

    model: ArtClassifier | EnsembleClassifier
    classes: list[str]
    preprocessing: Preprocessing
    meta: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    @property
    def name(self) -> str:
        return self.meta.get("name") or Path(self.path).name


def save_bundle(model: ArtClassifier, path: str | os.PathLike, *, classes: list[str], model_cfg: ModelConfig,
                recipe: dict | None = None, metrics: dict | None = None, data_fingerprint: str = "",
                name: str = "", version: str = "", half: bool = False, extra: dict | None = None) -> Path:
    """Write a bundle directory atomically (a crash never leaves half a bundle).

    ``version`` (default: the UTC time of saving, ``YYYYMMDD-HHMMSS``) lets several versions of one
    ``name`` sit side by side in a models folder (``artlens serve`` lists them as ``name@version``).
    """
    path = Path(path)
    meta = {
        **_header(path, name, version),
        "backbone": model.backbone.name,
        "backbone_kwargs": model.backbone.build_kwargs,
        "pretrained_from": model.backbone.pretrained_from,
        "model": {**{k: v for k, v in model_cfg.__dict__.items() if k != "tta"}, "pretrained": "none"},
        "tta": model_cfg.tta,  # top level, where predict, evaluate and the web service read it
        "classes": list(classes),
        "preprocessing": model.backbone.preprocessing.to_dict(),
        "recipe": recipe or {},
        "metrics": metrics or {},
        "data_fingerprint": data_fingerprint,
        "dtype": "float16" if half else "float32",
        **(extra or {}),
    }
    return write_bundle_dir(path, _state(model, half), meta, weights_file=WEIGHTS_FILE)


def _header(path: Path, name: str, version: str) -> dict[str, Any]:
    """The fields every classification bundle starts with (``version`` defaults to the UTC time)."""
    now = datetime.now(timezone.utc)
    return {"format": BUNDLE_FORMAT, "name": name or path.name, "version": version or now.strftime("%Y%m%d-%H%M%S"),
            "task": "classification", "artlens_version": __version__, "created": now.isoformat(timespec="seconds")}


def _state(model: torch.nn.Module, half: bool) -> dict[str, torch.Tensor]:
    """The model's tensors on CPU, floating point ones as float16 with ``half``."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return {k: v.half() if half and v.is_floating_point() else v for k, v in state.items()}


def write_bundle_dir(path: Path, state: dict[str, torch.Tensor], meta: dict, *, weights_file: str) -> Path:
    """Write ``weights_file`` (safetensors, tagged with ``meta["format"]``) and ``artlens.json`` into a
    temporary sibling folder, then swap it in: a crash never leaves half a bundle, and an existing
    bundle is replaced only by a complete one. Shared by classifier bundles and AdaIN decoders.

    A folder already at ``path`` is replaced only if it holds nothing but a bundle's two files
    (:func:`artlens.outputs.replaceable_folder`); callers check that before their work starts."""
    replaceable_folder(path, keep=(weights_file, META_FILE))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling_name(path)
    tmp.mkdir()  # with the umask's permissions (tempfile.mkdtemp makes 0700)
    try:
        save_file(state, str(tmp / weights_file), metadata={"format": str(meta["format"])})
        os.chmod(tmp / weights_file, tmp.stat().st_mode & 0o666)  # safetensors writes 0600
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def save_ensemble(bundles: Sequence[Bundle], path: str | os.PathLike, *, name: str = "", version: str = "",
                  metrics: dict | None = None, half: bool = False, extra: dict | None = None) -> Path:
    """Write one bundle whose prediction is the mean probability of ``bundles`` (same classes, in order).

    The members' weights go into the one ``model.safetensors`` (prefixed ``members.<i>.``) and their
    metadata (backbone, build options, preprocessing, recipe, metrics) into ``artlens.json``, so the
    result loads, predicts, evaluates and serves like any bundle.
    """
    for b in bundles:
        if not isinstance(b.model, ArtClassifier):
            raise ArtlensError(f"{b.path or b.name}: is itself an ensemble; give its members instead")
        if b.classes != bundles[0].classes:
            raise ArtlensError(f"{b.path or b.name}: its classes differ from {bundles[0].path or bundles[0].name}'s "
                               f"({', '.join(b.classes[:5])} ... vs {', '.join(bundles[0].classes[:5])} ...)")
    pre = [b.preprocessing for b in bundles]
    model = EnsembleClassifier([b.model for b in bundles], [p.input_size for p in pre])
    path = Path(path)
    member_keys = ("name", "version", "backbone", "backbone_kwargs", "pretrained_from", "model", "recipe", "metrics",
                   "data_fingerprint")
    members = [{**{k: b.meta.get(k) for k in member_keys}, "preprocessing": b.preprocessing.to_dict()} for b in bundles]
    meta = {
        **_header(path, name, version),
        "kind": "ensemble",
        "backbone": "+".join(m["backbone"] or "?" for m in members),
        "combine": "mean of the members' probabilities",
        "classes": list(bundles[0].classes),
        "preprocessing": ensemble_preprocessing(pre).to_dict(),
        "members": members,
        "metrics": metrics or {},
        "dtype": "float16" if half else "float32",
        **(extra or {}),
    }
    return write_bundle_dir(path, _state(model, half), meta, weights_file=WEIGHTS_FILE)


BUNDLE_KINDS: Registry[Callable[[dict[str, Any]], torch.nn.Module]] = Registry("bundle kind")
"""Bundle kinds (``artlens.json``'s ``kind``, ``classifier`` when absent) and how to rebuild each."""


@BUNDLE_KINDS.register("classifier")
def _build_classifier(meta: dict[str, Any]) -> ArtClassifier:
    model_cfg = ModelConfig(**{**meta["model"], "pretrained": "none"})
    model = build_classifier(model_cfg, len(meta["classes"]), pretrained="none",
                             backbone_kwargs=meta.get("backbone_kwargs") or {})
    if meta.get("preprocessing"):  # as saved (an input size other than the backbone's own included), so that
        model.backbone.preprocessing = Preprocessing.from_dict(meta["preprocessing"])  # re-saving keeps it
    return model


@BUNDLE_KINDS.register("ensemble")
def _build_ensemble(meta: dict[str, Any]) -> EnsembleClassifier:
    members = meta.get("members") or []
    if not members:
        raise ArtlensError("ensemble bundle lists no members")
    return EnsembleClassifier([_build_classifier({**m, "classes": meta["classes"]}) for m in members],
                              [int(m["preprocessing"]["input_size"]) for m in members])


class BundleFormatError(ArtlensError):
    """An ``artlens.json`` of another format than the one asked for (``found``: its format, or ``None``)."""

    def __init__(self, message: str, found: Any) -> None:
        super().__init__(message)
        self.found = found


#: The formats of an ``artlens.json`` folder: the weights file beside it, and what messages call it.
_FORMATS = {BUNDLE_FORMAT: (WEIGHTS_FILE, "a model bundle"),
            DECODER_FORMAT: (DECODER_WEIGHTS_FILE, "an AdaIN decoder bundle"),
            DIFFUSION_FORMAT: (WEIGHTS_FILE, "a diffusion model bundle")}


def find_bundles(root: str | os.PathLike, read_meta: Callable[[Path], Any]) -> list[Path]:
    """Every folder under ``root`` (recursively, sorted by path) whose ``artlens.json`` ``read_meta``
    accepts (it raises :class:`ArtlensError` for another kind of bundle); ``[]`` when ``root`` is no folder."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for meta_path in sorted(root.rglob(META_FILE)):
        try:
            read_meta(meta_path.parent)
        except ArtlensError:
            continue
        found.append(meta_path.parent)
    return found


def read_bundle_meta(path: str | os.PathLike, *, format: str = BUNDLE_FORMAT) -> dict[str, Any]:
    """The ``artlens.json`` of the bundle folder ``path``, checked, without loading any weights: it is JSON
    of ``format`` (a classifier bundle by default, or :data:`DECODER_FORMAT`) and its weights file is there.
    Anything else is a one-line :class:`ArtlensError` (:class:`BundleFormatError` for another format).

    >>> read_bundle_meta(default_bundle_path())["format"]
    'artlens-bundle/1'
    """
    path = Path(path)
    meta_path = path / META_FILE
    weights, what = _FORMATS[format]
    if not path.is_dir() or not meta_path.is_file():
        raise ArtlensError(f"{path}: not {what} directory (expected {META_FILE} and {weights})")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise ArtlensError(f"{meta_path}: invalid JSON ({err.msg} at line {err.lineno})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ArtlensError(f"{meta_path}: unreadable ({err})") from None
    # The format first: an AdaIN decoder folder also has an artlens.json, and "missing model.safetensors"
    # would send its owner looking for a file it never had.
    found = meta.get("format") if isinstance(meta, dict) else None
    if found != format:
        if format == BUNDLE_FORMAT and found == DECODER_FORMAT:
            raise BundleFormatError(f"{path}: is an AdaIN decoder bundle, not a classifier bundle (artlens stylize "
                                    "adain takes it as --decoder)", found)
        if format == BUNDLE_FORMAT and found == DIFFUSION_FORMAT:
            raise BundleFormatError(f"{path}: is a diffusion model bundle, not a classifier bundle (artlens "
                                    "diffusion classify takes it as --model)", found)
        raise BundleFormatError(f"{meta_path}: format {found!r} is not {what} (expected {format})", found)
    if not (path / weights).is_file():
        raise ArtlensError(f"{path}: bundle is missing {weights}")
    return meta


def load_bundle(path: str | os.PathLike | None = None, *, device: str | torch.device = "cpu") -> Bundle:
    """Load a bundle directory (``None`` = the built-in default model), in eval mode."""
    path = Path(path) if path is not None else default_bundle_path()
    meta_path, weights_path = path / META_FILE, path / WEIGHTS_FILE
    meta = read_bundle_meta(path)
    if meta.get("task", "classification") != "classification":  # e.g. a CycleGAN's image-translation bundle
        raise ArtlensError(f"{path}: is an {meta['task']} bundle, not a classifier")
    missing = [k for k in ("classes", "preprocessing") if k not in meta]
    if missing:
        raise ArtlensError(f"{meta_path}: bundle lacks {' and '.join(missing)}")
    try:  # an unknown kind, or a member list that cannot be built, names the file
        model = BUNDLE_KINDS.get(meta.get("kind", "classifier"))(meta)
        preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    except ArtlensError as err:
        raise ArtlensError(f"{meta_path}: {err}") from None
    except (TypeError, KeyError, ValueError) as err:  # fields of another artlens version, or hand edits
        raise ArtlensError(f"{meta_path}: artlens {__version__} cannot read it "
                           f"({type(err).__name__}: {err}); was it written by a newer version?") from None
    try:
        state = load_file(str(weights_path))
    except Exception as err:  # noqa: BLE001 - safetensors raises several types for bad files
        raise ArtlensError(f"{weights_path}: not a valid safetensors file ({err})") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ArtlensError(f"{weights_path}: weights do not match the architecture in {META_FILE} "
                           f"({str(err).splitlines()[0]})") from None
    temperature = (meta.get("calibration") or {}).get("temperature")
    if temperature is not None and hasattr(model, "temperature"):  # a classifier or an ensemble
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ArtlensError(f"{meta_path}: calibration.temperature must be a positive number, got {temperature!r}")
        model.temperature.fill_(float(temperature))
    model.to(device, memory_format=torch.channels_last).eval()  # 2x faster convolutions on CPU
    return Bundle(model=model, classes=list(meta["classes"]), preprocessing=preprocessing, meta=meta, path=str(path))


def default_bundle_path() -> Path:
    """The style classifier shipped inside the package."""
    return Path(str(resources.files("artlens") / "assets" / "models" / DEFAULT_MODEL))


def default_decoder_path() -> Path:
    """The AdaIN decoder shipped inside the package (for EfficientNet-Lite0, ImageNet weights)."""
    return Path(str(resources.files("artlens") / "assets" / "models" / DEFAULT_DECODER))


def default_translator_path() -> Path:
    """The CycleGAN shipped inside the package (photo -> Impressionist painting)."""
    return Path(str(resources.files("artlens") / "assets" / "models" / DEFAULT_TRANSLATOR))
