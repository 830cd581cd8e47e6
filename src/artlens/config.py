"""Typed configuration for every run kind, shared unchanged by the CLI, YAML recipes and the library.

A :class:`TrainConfig` is what ``artlens train`` builds from its flags, what a recipe YAML
deserialises into, and what :func:`artlens.fit` consumes; the same dict is stored in checkpoints and
bundles, so a model always records exactly how it was made.

>>> cfg = TrainConfig.from_dict({"data": {"path": "paintings/"}, "model": {"backbone": "resnet18"}})
>>> cfg.strategy.name
'full'

This module sits at the bottom of the package and imports nothing of artlens but :mod:`.errors`.
Checks that need a registry (dataset layouts, heads, strategies, backbones) live with that registry,
which hands them in through :func:`register_names` and :func:`register_check`; each field's name,
type, default and help (its docstring) are read by :func:`config_fields`, from which the command
line derives its flags.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ArtlensError, yaml_error

__all__ = [
    "AUGMENT_PRESETS",
    "DEDUPE_INDEXES",
    "CLASS_WEIGHTS",
    "HEAD_NORMS",
    "MONITORS",
    "OPTIMIZERS",
    "RESIZE_MODES",
    "SCHEDULERS",
    "TTA_MODES",
    "LAYER_SELECTIONS",
    "AMP_MODES",
    "PRECISIONS",
    "ConfigField",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "StrategyConfig",
    "TrainConfig",
    "check_choice",
    "choices_of",
    "config_fields",
    "dataclass_from_dict",
    "load_config",
    "read_recipe",
    "recipe_config",
    "register_check",
    "register_names",
]

#: Training augmentation presets (see :mod:`artlens.data.transforms`).
AUGMENT_PRESETS = ("none", "flip", "flip-rotate", "aggressive", "degrade")
#: How near-duplicate search finds candidate pairs (see :mod:`artlens.data.dedupe`).
DEDUPE_INDEXES = ("auto", "exact", "ivf")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "step", "plateau", "cosine", "onecycle")
HEAD_NORMS = ("none", "batchnorm", "layernorm")
RESIZE_MODES = ("crop", "squash")
#: Test-time augmentation modes (see :data:`artlens.inference.TTA`).
TTA_MODES = ("none", "flip", "crops")
MONITORS = ("val_acc", "val_loss")
CLASS_WEIGHTS = ("none", "balanced")
AMP_MODES = ("auto", "on", "off")
#: Number types a trained network can run inference in (autocast: convolutions and matrix products in
#: that type, the rest in float32). ``auto`` is each family's own choice: float16 for a classifier on a
#: GPU and float32 on a CPU (:func:`artlens.inference.autocast_dtype`), bf16 or fp16 for the diffusion
#: classifier on a GPU.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


# -- what registries hand in -------------------------------------------------------------------------
_NAMES: dict[tuple[type, str], tuple[Callable[[], Sequence[str]], Callable[[str], str] | None]] = {}
_CHECKS: dict[type, list[Callable[[Any], None]]] = {}


def register_names(cls: type, key: str, names: Callable[[], Sequence[str]], *,
                   unknown: Callable[[str], str] | None = None) -> None:
    """Let a registry say which values ``cls.key`` accepts (``names()`` is read at check time).

    ``unknown(value)`` words the refusal (``unknown strategy 'melt' (did you mean ...)``); without it
    the refusal is ``data.dataset: 'x' is not allowed; choose from: ...``.
    """
    _NAMES[(cls, key)] = (names, unknown)


def register_check(cls: type) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Decorator: a check of ``cls`` that needs a registry, run after the config's own checks.

    >>> @register_check(OptimConfig)
    ... def _no_huge_steps(cfg):
    ...     if cfg.lr > 100:
    ...         raise ArtlensError(f"optim.lr: {cfg.lr} is far too large")
    >>> OptimConfig(lr=1000)
    Traceback (most recent call last):
    ...
    artlens.errors.ArtlensError: optim.lr: 1000 is far too large
    >>> _CHECKS[OptimConfig].remove(_no_huge_steps)
    """

    def deco(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        _CHECKS.setdefault(cls, []).append(fn)
        return fn

    return deco


def choices_of(cls: type, key: str) -> list[str] | None:
    """The values ``cls.key`` accepts: a fixed tuple in the field's metadata, or a registry's names."""
    if (cls, key) in _NAMES:
        return list(_NAMES[(cls, key)][0]())
    fixed = {f.name: f for f in dataclasses.fields(cls)}[key].metadata.get("choices")
    return None if fixed is None else list(fixed)


def check_choice(section: str, key: str, value: str, allowed: Iterable[str]) -> None:
    """``section.key: 'value' is not allowed; choose from: a, b, c`` unless ``value`` is allowed."""
    allowed = list(allowed)
    if value not in allowed:
        raise ArtlensError(f"{section}.{key}: {value!r} is not allowed; choose from: {', '.join(allowed)}")


def _choice(default: str, choices: Sequence[str]) -> Any:
    """A string field that takes one of ``choices`` (checked, and listed in the flag's help)."""
    return field(default=default, metadata={"choices": tuple(choices)})


def _validate(cfg: Any, section: str) -> None:
    """The checks every config shares: values of fields with choices, then the registries' checks."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if (type(cfg), f.name) in _NAMES:
            names, unknown = _NAMES[(type(cfg), f.name)]
            allowed = list(names())
            if value not in allowed:
                if unknown is None:
                    check_choice(section, f.name, value, allowed)
                raise ArtlensError(f"{section}.{f.name}: {unknown(value)}")
        elif "choices" in f.metadata:
            check_choice(section, f.name, value, f.metadata["choices"])
    for check in _CHECKS.get(type(cfg), ()):
        check(cfg)


# -- describing fields ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigField:
    """One option as declared once in a config dataclass: what flags, forms and docs derive from."""

    name: str
    type: Any
    """The resolved type hint (``int``, ``list[str]``, ``int | None``, ...)."""
    default: Any
    help: str
    """The field's docstring, as one line."""
    choices: list[str] | None
    metadata: typing.Mapping[str, Any]


@functools.cache
def _field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (the string literal under a field) of ``cls`` and its bases, as one line each."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):  # no source (a frozen app): flags go without help
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                text = re.sub(r":\w+:`~?([^`]+)`", r"\1", nxt.value.value.replace("``", ""))  # :data:`X` -> X
                docs[node.target.id] = " ".join(text.split())
    return docs


def config_fields(cls: type) -> list[ConfigField]:
    """The fields of a config dataclass with their types, defaults, help and choices, in order.

    >>> [(f.name, f.default, f.choices) for f in config_fields(OptimConfig)][:2]
    [('name', 'adamw', ['sgd', 'adam', 'adamw']), ('lr', 0.001, None)]
    """
    hints = typing.get_type_hints(cls)
    docs = _field_docs(cls)
    out = []
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default  # type: ignore[misc]
        out.append(ConfigField(f.name, hints[f.name], default, docs.get(f.name, ""), choices_of(cls, f.name),
                               f.metadata))
    return out


@dataclass
class DataConfig:
    """Where the images are and how they are split and sampled."""

    path: str = ""
    """An image-folder tree (one sub-folder per label, optional train/val/test level) or a CSV/TSV
    manifest with ``path,label[,split]``; or the root of a published dataset named by ``dataset``."""
    dataset: str = "auto"
    """``auto`` (folder tree or manifest) or a published layout from ``artlens datasets``
    (``wikiart``, ``artbench10``, ``ai-artbench``, ...), read exactly as its publisher ships it."""
    dataset_options: dict[str, Any] = field(default_factory=dict)
    """Options of that dataset adapter, e.g. ``{"label": "origin"}`` for ``ai-artbench``."""
    val_fraction: float = 0.1
    """Share of each class held out for validation when the data has no split column."""
    test_fraction: float = 0.1
    """Share of each class held out for the final test when the data has no split column."""
    seed: int = 0
    """Seed of the stratified split (independent from the training seed, so the split stays put)."""
    max_per_class: int | None = None
    """Cap per class, drawn with ``seed`` before splitting; ``None`` keeps everything."""
    min_per_class: int = 1
    """Classes with fewer images are dropped (and reported)."""
    label_map: dict[str, str | None] = field(default_factory=dict)
    """Rename labels (``{"Post_Impressionism": "Impressionism"}``); a ``None`` value drops a label."""
    dedupe: bool = False
    """Drop validation and test images that near-duplicate a training image (perceptual hashes),
    so reported accuracy is not inflated by the same painting on both sides of the split."""
    dedupe_index: str = _choice("auto", DEDUPE_INDEXES)
    """How near-duplicate search (``dedupe``, ``artlens data profile``) finds candidate pairs: ``exact``
    compares every pair of hashes, ``ivf`` only those in nearby k-means cells (sub-quadratic but
    approximate: it found 99.76-99.99% of the exact search's duplicate pairs from 30,000 to 400,000
    images in ``benchmarks/profile_scale.py``), ``auto`` exact below 200,000 images, ivf from there."""
    augment: str = _choice("flip", AUGMENT_PRESETS)
    """Training augmentation preset (see :mod:`artlens.data.transforms`)."""
    mixup: float = 0.0
    """MixUp's Beta(alpha, alpha) for batches of images (0 = off): blends pairs of paintings and their
    labels, a regulariser known to help fine-tuning on a few thousand images. Needs images, so phases
    trained on cached features ignore it."""
    cutmix: float = 0.0
    """CutMix's alpha (0 = off): pastes a patch of one painting into another, labels mixed by area;
    with ``mixup`` too, each batch gets one of the two at random."""
    batch_size: int = 32
    """Images per training step."""
    num_workers: int = 2
    """DataLoader worker processes."""

    def __post_init__(self) -> None:
        for key in ("mixup", "cutmix"):
            if getattr(self, key) < 0:
                raise ArtlensError(f"data.{key}: {getattr(self, key)} must be >= 0 (0 = off)")
        for key in ("val_fraction", "test_fraction"):
            value = getattr(self, key)
            if not 0.0 <= value < 1.0:
                raise ArtlensError(f"data.{key}: {value} must be in [0, 1)")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ArtlensError("data.val_fraction + data.test_fraction must leave images for training")
        if self.batch_size < 1:
            raise ArtlensError(f"data.batch_size: {self.batch_size} must be >= 1")
        if self.max_per_class is not None and self.max_per_class < 1:
            raise ArtlensError(f"data.max_per_class: {self.max_per_class} must be >= 1 (or unset for no cap)")
        if self.min_per_class < 1:
            raise ArtlensError(f"data.min_per_class: {self.min_per_class} must be >= 1")
        _validate(self, "data")


@dataclass
class ModelConfig:
    """Which network: backbone, where its weights come from, and the head on top."""

    backbone: str = "efficientnet_lite0"
    """Any name from ``artlens models``: artlens' own, timm, or torchvision (``torchvision/alexnet``)."""
    pretrained: str = "auto"
    """``auto`` (offline package or the hub), ``hub``, ``none``, or a path to a weights file."""
    head: str = "linear"
    """The classification head (:data:`artlens.models.HEADS`): ``mlp`` is Pandora's InceptionV3 head and
    the Met study's three FC layers, ``dense`` the Best Artworks custom CNN's, ``dense_bn`` the Best
    Artworks ResNet50 head (``hidden: [512, 16]``)."""
    hidden: list[int] = field(default_factory=list)
    """Hidden sizes of the heads with hidden layers, e.g. 512,128."""
    dropout: float = 0.0
    """Dropout before each linear layer of the head."""
    head_norm: str = _choice("none", HEAD_NORMS)
    """Normalise the embedding before the head."""
    style_layers: list[str] = field(default_factory=list)
    """Backbone modules (e.g. ``blocks.0`` ... ``blocks.6``, ``layer1``) whose per-channel mean and std
    are appended to the pooled features (the Gatys/AdaIN style statistics); empty = plain pooling."""
    power_norm: bool = False
    """Per feature group (pooled features, each layer's means, each layer's stds): signed square root,
    then L2 normalisation, so no group dominates the head by scale alone."""
    resize: str = _choice("crop", RESIZE_MODES)
    """How images are framed to the input size: resize + centre crop, or the whole image squashed to a square."""
    input_size: int = 0
    """Side of the square network input in pixels; 0 keeps the backbone's own (224 for most ImageNet
    models, 32 for ``simple_cnn``). The AI-ArtBench study compares 32 px against 224 px this way."""
    grayscale: bool = False
    """Convert every image to grayscale (copied into three channels) before the network, in training
    and prediction alike, and record it in the bundle: for data that is grayscale on one side (the
    Cezanne AI-vs-human set), so colour can never become the cue."""
    tta: str = _choice("none", TTA_MODES)
    """Test-time augmentation the bundle asks for when it predicts (``predict``, ``evaluate``, the web
    service, the final test of ``fit``; see :data:`artlens.inference.TTA`); ``--tta`` of predict and
    evaluate overrides it."""

    def __post_init__(self) -> None:
        if self.input_size < 0 or 0 < self.input_size < 16:
            raise ArtlensError(f"model.input_size: {self.input_size} must be 0 (the backbone's own) or >= 16")
        if not 0.0 <= self.dropout < 1.0:
            raise ArtlensError(f"model.dropout: {self.dropout} must be in [0, 1)")
        if any(h < 1 for h in self.hidden):
            raise ArtlensError(f"model.hidden: {self.hidden}: every size must be >= 1")
        _validate(self, "model")


#: The strategy options that pick which backbone layers a partial phase trains; at most one is given.
LAYER_SELECTIONS = ("unfreeze_layers", "freeze_layers", "top_layers")


@dataclass
class StrategyConfig:
    """How much of the backbone is trained (see :mod:`artlens.models.strategies`); each registered
    strategy says which of these options it reads, and refuses a layer selection it would ignore."""

    name: str = "full"
    """The fine-tuning strategy (see :mod:`artlens.models.strategies`)."""
    unfreeze: int = 1
    """Number of last backbone stages a partial phase trains."""
    unfreeze_layers: list[str] = field(default_factory=list)
    """Module names (prefixes) a partial phase trains instead of the last ``unfreeze`` stages
    (e.g. ``[Mixed_7c]``: the last Inception module of ``inception_v3``)."""
    freeze_layers: list[str] = field(default_factory=list)
    """Module names (or layer aliases such as ``conv1_1``) a partial phase keeps fixed while everything
    else trains (e.g. ``[conv1, bn1, layer1, layer2]`` of ResNet18, the AI-ArtBench study)."""
    top_layers: int = 0
    """A partial phase trains the last N layers with parameters (convolutions, norms, linears: Keras'
    "train the top 50 layers") and the head; 0 = not used."""
    head_epochs: int = 3
    """Strategies with two phases: epochs of the first phase (head-only or whole-network training)."""
    lr_factor: float = 0.1
    """Strategies with two phases: learning-rate multiplier of the second phase."""
    cache_views: int = 1
    """Phases that train the head on cached features: augmented views per training image whose features
    are cached once (1 = the un-augmented image only); each epoch samples one view per image."""

    def __post_init__(self) -> None:
        if self.cache_views < 1:
            raise ArtlensError(f"strategy.cache_views: {self.cache_views} must be >= 1")
        if self.top_layers < 0:
            raise ArtlensError(f"strategy.top_layers: {self.top_layers} must be >= 0")
        chosen = [k for k in LAYER_SELECTIONS if getattr(self, k)]
        if len(chosen) > 1:
            raise ArtlensError(f"strategy.{chosen[1]}: cannot be combined with strategy.{chosen[0]}; "
                               f"choose one of {', '.join(LAYER_SELECTIONS)}")
        _validate(self, "strategy")


@dataclass
class OptimConfig:
    """Optimizer and learning-rate schedule."""

    name: str = _choice("adamw", OPTIMIZERS)
    """The optimizer."""
    lr: float = 1e-3
    """Learning rate (of the head; see ``backbone_lr_scale``)."""
    weight_decay: float = 1e-4
    """L2 weight decay (decoupled for adamw)."""
    momentum: float = 0.9
    """sgd: momentum."""
    scheduler: str = _choice("cosine", SCHEDULERS)
    """The learning-rate schedule."""
    step_size: int = 5
    """``step``: epochs between decays."""
    gamma: float = 0.1
    """``step`` and ``plateau``: decay factor."""
    plateau_patience: int = 2
    """``plateau``: epochs without improvement before the rate decays."""
    min_lr: float = 0.0
    """``cosine`` and ``plateau``: the lowest learning rate."""
    backbone_lr_scale: float = 1.0
    """The backbone's learning rate as a fraction of ``lr`` (the head's). Below 1 when fine-tuning:
    ImageNet features need small steps, a new head large ones (e.g. 0.1)."""
    warmup_fraction: float = 0.3
    """``onecycle``: the share of the steps spent raising the rate to ``lr`` (then annealed by a
    cosine to about zero); warming up keeps the first large steps from wrecking pretrained weights."""

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ArtlensError(f"optim.lr: {self.lr} must be > 0")
        if not 0.0 < self.backbone_lr_scale <= 10.0:
            raise ArtlensError(f"optim.backbone_lr_scale: {self.backbone_lr_scale} must be in (0, 10]")
        if not 0.0 < self.warmup_fraction < 1.0:
            raise ArtlensError(f"optim.warmup_fraction: {self.warmup_fraction} must be in (0, 1)")
        _validate(self, "optim")


@dataclass
class TrainConfig:
    """Everything a training run needs; stored in checkpoints and bundles."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    epochs: int = 10
    """Total epochs (all phases)."""
    patience: int = 0
    """Early stopping: stop after this many epochs without improvement (0 disables)."""
    monitor: str = _choice("val_acc", MONITORS)
    """What early stopping and best-model selection watch."""
    class_weights: str = _choice("none", CLASS_WEIGHTS)
    """``balanced`` weighs the loss by inverse class frequency."""
    label_smoothing: float = 0.0
    """Share of each target spread evenly over the other classes."""
    ema_decay: float = 0.0
    """Keep an exponential moving average of the weights, updated every step with this decay
    (e.g. 0.998; 0 = off). Validation, the best epoch and the bundle then use the average, which
    is smoother than the last step's weights on small data."""
    amp: str = _choice("auto", AMP_MODES)
    """Mixed precision (auto = on for CUDA)."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:1"""
    seed: int = 0
    """Seed of the weights' initialisation, the data order and augmentation."""
    out: str = "runs/artlens"
    """Run folder: checkpoints, reports, model bundle."""
    resume: bool = False
    """Continue the run in ``out`` from its last checkpoint."""
    cache_dir: str = ""
    """Where cached embeddings live (default ``<out>/features``); share one between runs that only
    differ in head or optimiser settings to embed the images once."""
    name: str = ""
    """Model name written into the bundle (default: the ``out`` folder's name); ``artlens serve`` offers
    ``name@version`` and ``artlens models promote`` points aliases at it."""
    version: str = ""
    """Model version written into the bundle (default: the UTC time of saving, ``YYYYMMDD-HHMMSS``)."""
    drift_images: int = 128
    """Training images whose embeddings make the bundle's drift reference (``artlens monitor`` compares
    the served images with it); 0 = keep no reference."""

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ArtlensError(f"epochs: {self.epochs} must be >= 1")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ArtlensError(f"label_smoothing: {self.label_smoothing} must be in [0, 1)")
        if self.drift_images < 0:
            raise ArtlensError(f"drift_images: {self.drift_images} must be >= 0 (0 = no drift reference)")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ArtlensError(f"ema_decay: {self.ema_decay} must be in [0, 1) (0 = off)")
        _validate(self, "train")

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainConfig":
        """Build from a nested dict (a YAML recipe); unknown keys fail naming the key."""
        return _from_dict(cls, raw, "")

def dataclass_from_dict(cls: type, raw: Any, where: str = "") -> Any:
    """Build any config dataclass from a nested dict with the same checks as :class:`TrainConfig`:
    an unknown key fails naming it and the allowed keys, a wrong type names the key."""
    return _from_dict(cls, raw, where)


def _from_dict(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ArtlensError(f"{where or 'config'}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ArtlensError(
            f"{where + '.' if where else ''}{unknown[0]}: unknown key; allowed: {', '.join(fields)}"
        )
    kwargs = {}
    for name, value in raw.items():
        key = f"{where}.{name}" if where else name
        kwargs[name] = _coerce(hints[name], value, key)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Check ``value`` against a (simple) type hint, converting where YAML is loose (int -> float)."""
    if dataclasses.is_dataclass(hint):
        return _from_dict(hint, value, key)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ArtlensError(f"{key}: expected a list, got {value!r}")
        return [_coerce(args[0], v, key) for v in value] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ArtlensError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ArtlensError(f"{key}: expected {hint.__name__}, got {value!r}")
    return value


def read_recipe(path: str | Path) -> dict[str, Any]:
    """A YAML recipe as written, before validation fills in what follows from it.

    Command-line flags are applied to this, not to the validated config: validation turns
    ``pretrained: auto`` into ``none`` for ``strategy: scratch``, which must not outlive a
    ``--strategy full`` given on the command line.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ArtlensError(f"{path}: recipe file not found") from None
    except yaml.YAMLError as err:
        raise yaml_error(path, err) from None
    if not isinstance(raw, dict):
        raise ArtlensError(f"{path}: a recipe is a mapping of sections (data, model, strategy, ...)")
    return raw


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML recipe into a validated :class:`TrainConfig`."""
    return recipe_config(read_recipe(path), path)


def recipe_config(raw: dict[str, Any], path: str | Path) -> TrainConfig:
    """Validate a recipe from :func:`read_recipe` (left as it is); errors name its file."""
    try:
        return TrainConfig.from_dict(copy.deepcopy(raw))
    except ArtlensError as err:
        raise ArtlensError(f"{path}: {err}") from None
