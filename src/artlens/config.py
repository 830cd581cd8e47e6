"""Typed configuration for every run kind, shared unchanged by the CLI, YAML recipes and the library.

A :class:`TrainConfig` is what ``artlens train`` builds from its flags, what a recipe YAML
deserialises into, and what :func:`artlens.fit` consumes; the same dict is stored in checkpoints and
bundles, so a model always records exactly how it was made.

>>> cfg = TrainConfig.from_dict({"data": {"path": "paintings/"}, "model": {"backbone": "resnet18"}})
>>> cfg.strategy.name
'full'
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ArtlensError, yaml_error

if typing.TYPE_CHECKING:
    from .models.strategies import Strategy

__all__ = [
    "AUGMENT_PRESETS",
    "CLASS_WEIGHTS",
    "HEAD_NORMS",
    "MONITORS",
    "OPTIMIZERS",
    "RESIZE_MODES",
    "SCHEDULERS",
    "TTA_MODES",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "StrategyConfig",
    "TrainConfig",
    "dataclass_from_dict",
    "load_config",
    "read_recipe",
    "recipe_config",
]

#: Training augmentation presets (see :mod:`artlens.data.transforms`).
AUGMENT_PRESETS = ("none", "flip", "flip-rotate", "aggressive", "degrade")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "step", "plateau", "cosine", "onecycle")
HEAD_NORMS = ("none", "batchnorm", "layernorm")
RESIZE_MODES = ("crop", "squash")
#: Test-time augmentation modes (see :data:`artlens.inference.TTA`).
TTA_MODES = ("none", "flip", "crops")
MONITORS = ("val_acc", "val_loss")
CLASS_WEIGHTS = ("none", "balanced")


def _check_choice(section: str, key: str, value: str, allowed: typing.Iterable[str]) -> None:
    allowed = list(allowed)
    if value not in allowed:
        raise ArtlensError(f"{section}.{key}: {value!r} is not allowed; choose from: {', '.join(allowed)}")


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
    augment: str = "flip"
    """Training augmentation preset: one of ``AUGMENT_PRESETS``."""
    mixup: float = 0.0
    """MixUp's Beta(alpha, alpha) for batches of images (0 = off): blends pairs of paintings and their
    labels, a regulariser known to help fine-tuning on a few thousand images. Needs images, so phases
    trained on cached features ignore it."""
    cutmix: float = 0.0
    """CutMix's alpha (0 = off): pastes a patch of one painting into another, labels mixed by area;
    with ``mixup`` too, each batch gets one of the two at random."""
    batch_size: int = 32
    num_workers: int = 2

    def __post_init__(self) -> None:
        _check_choice("data", "augment", self.augment, AUGMENT_PRESETS)
        for key in ("mixup", "cutmix"):
            if getattr(self, key) < 0:
                raise ArtlensError(f"data.{key}: {getattr(self, key)} must be >= 0 (0 = off)")
        if self.dataset != "auto":
            from .data.adapters import DATASETS  # local: the data package imports this module

            _check_choice("data", "dataset", self.dataset, ["auto", *DATASETS.names()])
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


@dataclass
class ModelConfig:
    """Which network: backbone, where its weights come from, and the head on top."""

    backbone: str = "efficientnet_lite0"
    """Any name from ``artlens models``: artlens' own, timm, or torchvision (``torchvision/alexnet``)."""
    pretrained: str = "auto"
    """``auto`` (offline package or the hub), ``hub``, ``none``, or a path to a weights file."""
    head: str = "linear"
    """A name from :data:`artlens.models.HEADS`: ``linear``, ``mlp`` (dropout before each linear
    layer: Pandora's InceptionV3 head, the Met study's three FC layers), ``dense`` (Keras-style
    Dense-ReLU-Dropout: the Best Artworks custom CNN) or ``dense_bn`` (Dense-BatchNorm-ReLU: the Best
    Artworks ResNet50 head, ``hidden: [512, 16]``)."""
    hidden: list[int] = field(default_factory=list)
    """Hidden sizes of the ``mlp``, ``dense`` and ``dense_bn`` heads."""
    dropout: float = 0.0
    """Dropout before each linear layer of the head."""
    head_norm: str = "none"
    """Normalise the embedding before the head: ``none``, ``batchnorm`` or ``layernorm``."""
    style_layers: list[str] = field(default_factory=list)
    """Backbone modules (e.g. ``blocks.0`` ... ``blocks.6``, ``layer1``) whose per-channel mean and std
    are appended to the pooled features (the Gatys/AdaIN style statistics); empty = plain pooling."""
    power_norm: bool = False
    """Per feature group (pooled features, each layer's means, each layer's stds): signed square root,
    then L2 normalisation, so no group dominates the head by scale alone."""
    resize: str = "crop"
    """Input framing: ``crop`` (resize + centre crop) or ``squash`` (whole image to a square)."""
    input_size: int = 0
    """Side of the square network input in pixels; 0 keeps the backbone's own (224 for most ImageNet
    models, 32 for ``simple_cnn``). The AI-ArtBench study compares 32 px against 224 px this way."""
    tta: str = "none"
    """Test-time augmentation the bundle asks for when it predicts (``predict``, ``evaluate``, the web
    service, the final test of ``fit``): ``none``, ``flip`` or ``crops`` (see
    :data:`artlens.inference.TTA`); ``--tta`` of predict and evaluate overrides it."""

    def __post_init__(self) -> None:
        from .models.heads import HEADS  # local: the models package imports this module

        _check_choice("model", "head", self.head, HEADS.names())
        _check_choice("model", "head_norm", self.head_norm, HEAD_NORMS)
        _check_choice("model", "resize", self.resize, RESIZE_MODES)
        _check_choice("model", "tta", self.tta, TTA_MODES)
        if self.input_size < 0 or 0 < self.input_size < 16:
            raise ArtlensError(f"model.input_size: {self.input_size} must be 0 (the backbone's own) or >= 16")
        if not 0.0 <= self.dropout < 1.0:
            raise ArtlensError(f"model.dropout: {self.dropout} must be in [0, 1)")
        if self.hidden and self.head == "linear":
            raise ArtlensError(f"model.hidden: {self.hidden} needs a head with hidden layers (mlp, dense or "
                               "dense_bn); the linear head has none")
        if any(h < 1 for h in self.hidden):
            raise ArtlensError(f"model.hidden: {self.hidden}: every size must be >= 1")


@dataclass
class StrategyConfig:
    """How much of the backbone is trained (see :mod:`artlens.models.strategies`)."""

    name: str = "full"
    """``scratch``, ``frozen``, ``partial``, ``full``, ``two-phase``, ``full-then-partial`` or
    ``head-then-partial``."""
    unfreeze: int = 1
    """``partial`` (and the second phase of ``head-then-partial``): number of last backbone stages to train."""
    unfreeze_layers: list[str] = field(default_factory=list)
    """``partial``: module names (prefixes) to train instead of the last ``unfreeze`` stages
    (e.g. ``[Mixed_7c]``: the last Inception module of ``inception_v3``)."""
    freeze_layers: list[str] = field(default_factory=list)
    """``partial``: module names (or layer aliases such as ``conv1_1``) to keep fixed while everything
    else trains (e.g. ``[conv1, bn1, layer1, layer2]`` of ResNet18, the AI-ArtBench study)."""
    top_layers: int = 0
    """``partial`` and ``full-then-partial``: train the last N layers with parameters (convolutions,
    norms, linears: Keras' "train the top 50 layers") and the head; 0 = not used."""
    head_epochs: int = 3
    """``two-phase``: epochs of head-only training before everything is unfrozen;
    ``full-then-partial``: epochs of whole-network training before only the partial selection trains;
    ``head-then-partial``: epochs of head-only training before the partial selection joins in."""
    lr_factor: float = 0.1
    """Strategies with two phases: learning-rate multiplier of the second phase."""
    cache_views: int = 1
    """``frozen``, ``two-phase``, ``head-then-partial``: augmented views per training image whose features are cached once
    (1 = the un-augmented image only); each epoch samples one view per image."""

    @property
    def registered(self) -> "Strategy":
        """The registry entry of ``name``: its phase plan and whether it fixes layers or uses head epochs."""
        from .models.strategies import STRATEGIES  # local: strategies import config

        return STRATEGIES.get(self.name)

    def __post_init__(self) -> None:
        from .models.strategies import STRATEGIES  # local: strategies import config

        if self.name not in STRATEGIES:
            raise ArtlensError(STRATEGIES.unknown_message(self.name).replace("unknown", "strategy.name: unknown", 1))
        if self.cache_views < 1:
            raise ArtlensError(f"strategy.cache_views: {self.cache_views} must be >= 1")
        if self.top_layers < 0:
            raise ArtlensError(f"strategy.top_layers: {self.top_layers} must be >= 0")
        chosen = [k for k in ("unfreeze_layers", "freeze_layers", "top_layers") if getattr(self, k)]
        if len(chosen) > 1:
            raise ArtlensError(f"strategy.{chosen[1]}: cannot be combined with strategy.{chosen[0]}; "
                               "choose one of unfreeze_layers, freeze_layers, top_layers")
        if chosen and not STRATEGIES.get(self.name).selects_layers:
            users = ", ".join(n for n in STRATEGIES.names() if STRATEGIES.get(n).selects_layers)
            raise ArtlensError(f"strategy.{chosen[0]}: strategy {self.name!r} trains no selection of layers and would "
                               f"ignore it; the strategies that use it: {users}")
        if self.name == "full-then-partial" and not chosen:
            raise ArtlensError("strategy.top_layers: full-then-partial needs the second phase's layers; "
                               "set one of top_layers, unfreeze_layers, freeze_layers")


@dataclass
class OptimConfig:
    """Optimizer and learning-rate schedule."""

    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    scheduler: str = "cosine"
    step_size: int = 5
    """``step``: epochs between decays."""
    gamma: float = 0.1
    """``step`` and ``plateau``: decay factor."""
    plateau_patience: int = 2
    min_lr: float = 0.0
    backbone_lr_scale: float = 1.0
    """The backbone's learning rate as a fraction of ``lr`` (the head's). Below 1 when fine-tuning:
    ImageNet features need small steps, a new head large ones (e.g. 0.1)."""
    warmup_fraction: float = 0.3
    """``onecycle``: the share of the steps spent raising the rate to ``lr`` (then annealed by a
    cosine to about zero); warming up keeps the first large steps from wrecking pretrained weights."""

    def __post_init__(self) -> None:
        _check_choice("optim", "name", self.name, OPTIMIZERS)
        _check_choice("optim", "scheduler", self.scheduler, SCHEDULERS)
        if self.lr <= 0:
            raise ArtlensError(f"optim.lr: {self.lr} must be > 0")
        if not 0.0 < self.backbone_lr_scale <= 10.0:
            raise ArtlensError(f"optim.backbone_lr_scale: {self.backbone_lr_scale} must be in (0, 10]")
        if not 0.0 < self.warmup_fraction < 1.0:
            raise ArtlensError(f"optim.warmup_fraction: {self.warmup_fraction} must be in (0, 1)")


@dataclass
class TrainConfig:
    """Everything a training run needs; stored in checkpoints and bundles."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    epochs: int = 10
    patience: int = 0
    """Early stopping: stop after this many epochs without improvement (0 disables)."""
    monitor: str = "val_acc"
    """``val_acc`` or ``val_loss``: what early stopping and best-model selection watch."""
    class_weights: str = "none"
    """``none`` or ``balanced`` (inverse class frequency in the loss)."""
    label_smoothing: float = 0.0
    ema_decay: float = 0.0
    """Keep an exponential moving average of the weights, updated every step with this decay
    (e.g. 0.998; 0 = off). Validation, the best epoch and the bundle then use the average, which
    is smoother than the last step's weights on small data."""
    amp: str = "auto"
    """Mixed precision: ``auto`` (on for CUDA), ``on`` or ``off``."""
    device: str = "auto"
    seed: int = 0
    out: str = "runs/artlens"
    resume: bool = False
    cache_dir: str = ""
    """Where cached embeddings live (default ``<out>/features``); share one between runs that only
    differ in head or optimiser settings to embed the images once."""

    def __post_init__(self) -> None:
        _check_choice("train", "monitor", self.monitor, MONITORS)
        _check_choice("train", "class_weights", self.class_weights, CLASS_WEIGHTS)
        _check_choice("train", "amp", self.amp, ("auto", "on", "off"))
        if self.epochs < 1:
            raise ArtlensError(f"epochs: {self.epochs} must be >= 1")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ArtlensError(f"label_smoothing: {self.label_smoothing} must be in [0, 1)")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ArtlensError(f"ema_decay: {self.ema_decay} must be in [0, 1) (0 = off)")
        if self.strategy.name == "frozen" and self.model.pretrained == "none":
            raise ArtlensError(
                "strategy 'frozen' with model.pretrained 'none' would train a head on random features; "
                "use strategy 'scratch' or give pretrained weights"
            )
        if self.strategy.name == "scratch" and self.model.pretrained == "auto":
            self.model.pretrained = "none"
        if self.strategy.name == "scratch" and self.model.pretrained != "none":
            raise ArtlensError(
                f"strategy 'scratch' trains from random weights but model.pretrained is {self.model.pretrained!r}; "
                "use strategy 'full' to fine-tune those weights"
            )
        _check_needs_weights(self.strategy, self.model)
        if self.strategy.registered.uses_head_epochs and self.strategy.head_epochs >= self.epochs:
            raise ArtlensError(
                f"strategy.head_epochs ({self.strategy.head_epochs}) must be smaller than epochs ({self.epochs}): "
                f"{self.strategy.name!r} spends its first head_epochs on one phase and the rest on the other; "
                f"give at least {self.strategy.head_epochs + 1} epochs or fewer head epochs (--head-epochs)"
            )

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainConfig":
        """Build from a nested dict (a YAML recipe); unknown keys fail naming the key."""
        return _from_dict(cls, raw, "")


def _check_needs_weights(strategy: StrategyConfig, model: ModelConfig) -> None:
    """A frozen or partly frozen backbone must have learned weights, or its features are noise.

    artlens' own architectures (``simple_cnn``, ``pandora_hybrid``, ...) have no pretrained
    weights, so ``pretrained: auto`` means random weights for them too.
    """
    if not strategy.registered.fixes_layers:
        return
    scratch = model.pretrained == "none"
    if model.pretrained == "auto":
        from .models.backbones import BACKBONES  # local: the models package imports this module

        scratch = model.backbone in BACKBONES
    if scratch:
        from .models.strategies import STRATEGIES  # local: strategies import config

        allowed = ", ".join(n for n in STRATEGIES if not STRATEGIES.get(n).fixes_layers
                            and not (n == "full" and model.pretrained == "none"))
        raise ArtlensError(
            f"strategy.name: {strategy.name!r} keeps layers of {model.backbone!r} fixed, but model.pretrained is "
            f"{model.pretrained!r} (random weights); allowed with random weights: {allowed}, "
            "or set model.pretrained to a weights file"
        )


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
