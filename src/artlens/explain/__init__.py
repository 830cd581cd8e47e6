"""Why did the model decide that: CAMs, feature maps, layer probes, PCA, class similarity, embeddings.

Modules are imported lazily by their users (``from artlens.explain.cam import CamExplainer``) so
that ``import artlens`` stays fast; this package only lists them:

* :mod:`.cam` - :class:`~.cam.CamExplainer` over the ``grad-cam`` package (frozen models included)
* :mod:`.featuremaps` - channel-summed activation overlays (the Met study)
* :mod:`.galleries` - ``artlens explain``: overlays, predictions, per-class galleries of hits and misses
* :mod:`.features` - one-pass multi-layer pooled features with an on-disk cache
* :mod:`.probe` / :mod:`.pca` - linear probes and PCA per layer (the ArtBench study)
* :mod:`.similarity` - class means, normalised similarity, heatmap, force graph, chord diagram
* :mod:`.embed` - a collection's embeddings as Parquet, with a 2-D map
"""
