"""artlens: study artworks with deep learning.

>>> import artlens
>>> preds = artlens.predict(["painting.jpg"])          # built-in style model  # doctest: +SKIP
>>> result = artlens.fit(artlens.TrainConfig.from_dict({"data": {"path": "paintings/"}}))  # doctest: +SKIP
"""

from ._version import __version__

from .config import DataConfig, ModelConfig, OptimConfig, StrategyConfig, TrainConfig, load_config
from .errors import ArtlensError
from .evaluate import evaluate
from .models import create_backbone, list_backbones, load_bundle, save_bundle, save_ensemble
from .predict import Predictor, predict
from .train import fit

__all__ = [
    "ArtlensError",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "Predictor",
    "StrategyConfig",
    "TrainConfig",
    "__version__",
    "create_backbone",
    "evaluate",
    "fit",
    "list_backbones",
    "load_bundle",
    "load_config",
    "predict",
    "save_bundle",
    "save_ensemble",
]
