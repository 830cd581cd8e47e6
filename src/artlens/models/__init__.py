"""Models: backbone registry (own, timm, torchvision), offline weights, heads, strategies, bundles."""

from . import zoo  # noqa: F401  (registers artlens' own architectures)
from .backbones import BACKBONES, Backbone, create_backbone, list_backbones, weights_status
from .bundle import Bundle, default_bundle_path, load_bundle, save_bundle, save_ensemble
from .classifier import ArtClassifier, build_classifier, style_statistics
from .ensemble import EnsembleClassifier, embedding_taps
from .folding import fold_batchnorm, fuse_for_cpu
from .heads import HEADS, build_head
from .layers import LayerTaps, extract_layers, layer_aliases, layer_names, resolve_layer
from .strategies import STRATEGIES, Phase, plan_phases

__all__ = [
    "BACKBONES",
    "HEADS",
    "STRATEGIES",
    "ArtClassifier",
    "Backbone",
    "Bundle",
    "EnsembleClassifier",
    "LayerTaps",
    "Phase",
    "build_classifier",
    "build_head",
    "create_backbone",
    "default_bundle_path",
    "embedding_taps",
    "extract_layers",
    "fold_batchnorm",
    "fuse_for_cpu",
    "layer_aliases",
    "layer_names",
    "list_backbones",
    "load_bundle",
    "plan_phases",
    "resolve_layer",
    "save_bundle",
    "save_ensemble",
    "style_statistics",
    "weights_status",
]
