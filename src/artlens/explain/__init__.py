"""Why did the model decide that: CAMs, feature maps, layer probes, PCA, class similarity, embeddings.

Each feature is one config and one call returning a report:

* :func:`run_explain` (:class:`ExplainConfig`) - CAM overlays, predictions and per-class galleries of hits
  and misses, over :class:`CamExplainer` (the ``grad-cam`` package; frozen models included)
* :func:`run_probe` (:class:`ProbeConfig`) - linear probes and PCA per layer (the ArtBench study)
* :func:`run_similarity` (:class:`SimilarityConfig`) - class means, normalised similarity, heatmap,
  force graph, chord diagram
* :func:`run_embed` (:class:`EmbedConfig`) - a collection's embeddings as Parquet, with a 2-D map;
  a folder output runs in resumable shards, under torchrun too
* :func:`run_search` (:class:`SearchConfig`) - the most similar artworks of an embedded collection
  (a faiss index), with a contact sheet

and the parts they share: :func:`load_source` (a bundle or a backbone as a :class:`ModelSource`),
:func:`extract_features` (one-pass multi-layer pooled features with an on-disk cache), :class:`LayerPCA`.

>>> from artlens.explain import ProbeConfig, run_probe
>>> report = run_probe(ProbeConfig(data="paintings/", layers=["conv1_1", "conv3_1"]))  # doctest: +SKIP
>>> ProbeConfig(data="paintings/", layers=["embed"]).pooling
'gap'
"""

from .cam import CAM_METHODS, CamExplainer, CamResult, default_target_layer
from .embed import MAP_METHODS, EmbedConfig, EmbedReport, run_embed
from .featuremaps import FeatureMapSum
from .features import POOLINGS, FeatureSet, extract_features, layer_shapes
from .galleries import ExplainConfig, ExplainReport, run_explain
from .pca import LayerPCA, plot_pca_grid
from .probe import LayerProbes, ProbeConfig, ProbeReport, run_probe
from .search import EmbeddingIndex, SearchConfig, SearchResult, run_search
from .similarity import ClassSimilarity, SimilarityConfig, SimilarityReport, run_similarity
from .source import EMBED, ModelSource, load_source

__all__ = [
    "CAM_METHODS",
    "EMBED",
    "MAP_METHODS",
    "POOLINGS",
    "CamExplainer",
    "CamResult",
    "ClassSimilarity",
    "EmbedConfig",
    "EmbedReport",
    "EmbeddingIndex",
    "ExplainConfig",
    "ExplainReport",
    "FeatureMapSum",
    "FeatureSet",
    "LayerPCA",
    "LayerProbes",
    "ModelSource",
    "ProbeConfig",
    "ProbeReport",
    "SearchConfig",
    "SearchResult",
    "SimilarityConfig",
    "SimilarityReport",
    "default_target_layer",
    "extract_features",
    "layer_shapes",
    "load_source",
    "plot_pca_grid",
    "run_embed",
    "run_explain",
    "run_probe",
    "run_search",
    "run_similarity",
]
