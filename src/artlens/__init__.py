"""artlens: study artworks with deep learning.

Every feature is one call here, taking a typed config and returning a result object; the command
line (:mod:`artlens.cli`) and the web service (:mod:`artlens.serve`) are thin edges over these calls.

Classify (:func:`fit`, :func:`predict`, :class:`Predictor`, :func:`top_k`, :func:`evaluate`, :func:`calibrate`;
a whole collection into resumable Parquet shards, under torchrun too: :func:`predict_collection`):

>>> import artlens
>>> cfg = artlens.TrainConfig.from_dict({"data": {"path": "paintings/"}, "strategy": {"name": "frozen"}})
>>> result = artlens.fit(cfg)                         # bundle in runs/artlens/model  # doctest: +SKIP
>>> preds = artlens.predict(["painting.jpg"])          # built-in style model  # doctest: +SKIP
>>> report = artlens.evaluate(None, artlens.DataConfig(path="labelled/"), "eval-out")  # doctest: +SKIP
>>> cal = artlens.calibrate("runs/artlens/model", artlens.load_collection(cfg.data).samples)  # doctest: +SKIP
>>> artlens.top_k([0.2, 0.7, 0.1], ["Baroque", "Cubism", "Fauvism"], 2)["predictions"][1]
{'label': 'Baroque', 'prob': 0.2}

Models and data (:func:`list_backbones`, :func:`create_backbone`, :func:`load_bundle`, :func:`read_bundle_meta`,
:func:`load_collection`, :func:`describe_datasets`, :func:`profile_collection`):

>>> "efficientnet_lite0" in [b.name for b in artlens.list_backbones()]
True
>>> "wikiart" in [d["name"] for d in artlens.describe_datasets()]
True
>>> artlens.read_bundle_meta(artlens.models.default_bundle_path())["task"]  # artlens.json, checked, no weights read
'classification'
>>> profile = artlens.profile_collection(artlens.load_collection(cfg.data), "profile-out")  # doctest: +SKIP

Explain (:func:`run_explain`, :func:`run_probe`, :func:`run_similarity`, :func:`run_embed`, :func:`run_search`):

>>> report = artlens.run_explain(artlens.ExplainConfig(inputs=["painting.jpg"], method="gradcam"))  # doctest: +SKIP
>>> report = artlens.run_probe(artlens.ProbeConfig(data="paintings/", layers=["conv1_1"]))  # doctest: +SKIP
>>> report = artlens.run_similarity(artlens.SimilarityConfig(data="paintings/"))  # doctest: +SKIP
>>> report = artlens.run_embed(artlens.EmbedConfig(data="paintings/", out="paintings.parquet"))  # doctest: +SKIP
>>> found = artlens.run_search(artlens.SearchConfig(index="embedded/", image="query.jpg"))  # doctest: +SKIP

Human or AI? (:func:`detect`, :class:`Detector`, :func:`run_audit`, :func:`run_cross_generator`):

>>> report = artlens.detect(artlens.DetectConfig(inputs=["painting.jpg"]))   # built-in detector  # doctest: +SKIP
>>> audit = artlens.run_audit(artlens.AuditConfig(data="ai-vs-human/", out="audit"))  # doctest: +SKIP

Stylise (:func:`stylize_gatys`, :func:`stylize_adain` / :class:`AdainStylizer`, :func:`train_decoder`,
:func:`reconstruction_grid`, :func:`run_trajectory`):

>>> photo, monet = artlens.open_image("photo.jpg"), artlens.open_image("monet.jpg")  # doctest: +SKIP
>>> image = artlens.stylize_gatys(photo, [monet], artlens.GatysConfig(steps=100))  # doctest: +SKIP
>>> image = artlens.stylize_adain(photo, [monet], artlens.AdainConfig(alpha=0.5))  # doctest: +SKIP
>>> image = artlens.AdainStylizer.load("runs/adain/decoder").stylize(photo, [monet], alpha=0.5)  # doctest: +SKIP

Diffusion zero-shot classifier (:func:`train_diffusion`, :func:`classify_diffusion`):

>>> bundle = artlens.train_diffusion(artlens.DiffusionTrainConfig(data="paintings/", size=32))  # doctest: +SKIP
>>> result = artlens.classify_diffusion(artlens.DiffusionClassifyConfig(model=str(bundle)))  # doctest: +SKIP

Study recipes (:func:`reproduce`, :func:`tune`, :func:`compare_runs`):

>>> "pandora-hybrid" in artlens.list_recipes()
True
>>> result = artlens.reproduce("pandora-hybrid", artlens.ReproduceOptions(data="pandora/", subset=20))  # doctest: +SKIP
"""

from ._registry import Registry
from ._version import __version__
from .config import (PRECISIONS, DataConfig, ModelConfig, OptimConfig, StrategyConfig, TrainConfig, config_fields,
                     load_config, read_recipe, recipe_config)
from .data import DATASETS, describe_datasets, load_collection, profile_collection, write_split_manifest
from .data.images import upright
from .detect import (AuditConfig, CrossGeneratorConfig, DetectConfig, Detector, detect, run_audit,
                     run_cross_generator)
from .diffusion import DiffusionClassifyConfig, DiffusionTrainConfig, classify_diffusion, train_diffusion
from .errors import ArtlensError, yaml_error
from .evaluate import evaluate
from .evaluate.calibration import calibrate
from .explain import (EmbedConfig, ExplainConfig, ProbeConfig, SearchConfig, SimilarityConfig, run_embed, run_explain,
                      run_probe, run_search, run_similarity)
from .explain.cam import in_picture_shape
from .inference import default_device
from .models import BACKBONES, HEADS, STRATEGIES, create_backbone, list_backbones, load_bundle, save_bundle, save_ensemble
from .models.bundle import BUNDLE_FORMAT, META_FILE, BundleFormatError, read_bundle_meta
from .predict import PredictCollectionConfig, Predictor, expand_inputs, predict, predict_collection, top_k, uncertain_threshold
from .sharded import ShardedRun, ShardOptions
from .progress import progress_bar
from .recipes import ReproduceOptions, TuneOptions, compare_runs, list_recipes, load_recipe, reproduce, tune
from .style import (AdainConfig, AdainStylizer, AdainTrainConfig, GatysConfig, ReconstructConfig, TrajectoryConfig,
                    open_image, reconstruction_grid, run_adain, run_gatys, run_trajectory, stylize_adain, stylize_gatys,
                    train_decoder)
from .train import fit
from .distributed import is_main_process

__all__ = [
    "AuditConfig",
    "CrossGeneratorConfig",
    "DetectConfig",
    "Detector",
    "detect",
    "run_audit",
    "run_cross_generator",
    "BACKBONES",
    "BUNDLE_FORMAT",
    "DATASETS",
    "HEADS",
    "META_FILE",
    "PRECISIONS",
    "STRATEGIES",
    "AdainConfig",
    "AdainStylizer",
    "AdainTrainConfig",
    "ArtlensError",
    "BundleFormatError",
    "DataConfig",
    "DiffusionClassifyConfig",
    "DiffusionTrainConfig",
    "EmbedConfig",
    "ExplainConfig",
    "GatysConfig",
    "ModelConfig",
    "OptimConfig",
    "PredictCollectionConfig",
    "Predictor",
    "ProbeConfig",
    "ReconstructConfig",
    "Registry",
    "ReproduceOptions",
    "SearchConfig",
    "ShardOptions",
    "ShardedRun",
    "SimilarityConfig",
    "StrategyConfig",
    "TrainConfig",
    "TrajectoryConfig",
    "TuneOptions",
    "__version__",
    "calibrate",
    "classify_diffusion",
    "compare_runs",
    "config_fields",
    "create_backbone",
    "default_device",
    "describe_datasets",
    "evaluate",
    "expand_inputs",
    "fit",
    "in_picture_shape",
    "is_main_process",
    "list_backbones",
    "list_recipes",
    "load_bundle",
    "load_collection",
    "load_config",
    "load_recipe",
    "open_image",
    "predict",
    "predict_collection",
    "profile_collection",
    "progress_bar",
    "read_bundle_meta",
    "read_recipe",
    "recipe_config",
    "reconstruction_grid",
    "reproduce",
    "run_embed",
    "run_explain",
    "run_adain",
    "run_gatys",
    "run_probe",
    "run_search",
    "run_similarity",
    "run_trajectory",
    "save_bundle",
    "save_ensemble",
    "stylize_adain",
    "stylize_gatys",
    "top_k",
    "train_decoder",
    "train_diffusion",
    "tune",
    "uncertain_threshold",
    "upright",
    "write_split_manifest",
    "yaml_error",
]
