"""Layer probes and PCA: one pass for all layers, a feature cache, sklearn conventions, clear refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from artlens.errors import ArtlensError
from artlens.explain import features as features_mod
from artlens.explain.features import extract_features, gram_upper
from artlens.explain.pca import LayerPCA
from artlens.explain.probe import LayerProbes, ProbeConfig, run_probe
from artlens.explain.source import load_source


@pytest.fixture(scope="module")
def styles60(artdata, tmp_path_factory):
    """3 styles x 20 real paintings at 128 px: enough for a 24-image test split."""
    from tests.conftest import copy_subset

    return copy_subset(artdata, tmp_path_factory.mktemp("styles60") / "styles", ["Baroque", "Pop_Art", "Ukiyo_e"], 20,
                       size=128)


def test_probes_on_pretrained_features_beat_chance_by_far(styles60, tmp_path):
    # Real ImageNet weights (offline). As in the ArtBench study, style is readable from an early
    # layer already: low-level statistics (palette, strokes) separate Baroque, Pop Art and Ukiyo-e.
    report = run_probe(ProbeConfig(model="efficientnet_lite0", data=str(styles60), layers=["blocks.1", "blocks.4", "embed"],
                                   out=str(tmp_path), input_size=128, test_fraction=0.4))
    acc = {r["layer"]: r["test_accuracy"] for r in report.rows}
    assert report.n_test == 24 and report.classes == ["Baroque", "Pop_Art", "Ukiyo_e"]
    assert acc["blocks.1"] >= 0.85 and min(acc.values()) > 0.55  # chance is 0.33
    assert [r["dim"] for r in report.rows] == [24, 112, 1280]
    for name in ("probe.csv", "probe.md", "probe.json", "probe_accuracy.png", "pca.png"):
        assert (tmp_path / name).stat().st_size > 0
    saved = json.loads((tmp_path / "probe.json").read_text())
    assert saved["n_test"] == 24 and [r["layer"] for r in saved["layers"]] == ["blocks.1", "blocks.4", "embed"]
    assert 0 < report.rows[0]["pc1_var"] <= 1 and report.rows[0]["pc1_var"] >= report.rows[0]["pc2_var"]


def test_one_forward_pass_extracts_every_layer_and_the_cache_is_reused(tiny_tree, tmp_path, monkeypatch):
    source = load_source("vgg19", weights="none", input_size=32)
    from artlens.data.dataset import discover

    samples = discover(tiny_tree)
    calls = []
    forward = source.backbone.forward
    monkeypatch.setattr(source.backbone, "forward", lambda x: calls.append(len(x)) or forward(x))
    layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    first = extract_features(source, samples, layers, cache_dir=tmp_path, batch_size=16, show_progress=False)
    assert calls == [1, 16, 14]  # one blank image sizes the layers, then each image runs once for all 5
    assert [first.features[n].shape[1] for n in layers] == [64, 128, 256, 512, 512]
    calls.clear()
    again = extract_features(source, samples, ["conv5_1", "conv2_1"], cache_dir=tmp_path, show_progress=False)
    assert calls == [] and again.cached_layers == ["conv5_1", "conv2_1"]
    np.testing.assert_array_equal(again.features["conv5_1"], first.features["conv5_1"])
    mixed = extract_features(source, samples, ["conv2_1", "relu1_1"], cache_dir=tmp_path, batch_size=16,
                             show_progress=False)
    assert calls == [1, 16, 14] and mixed.cached_layers == ["conv2_1"]  # one pass, for the new layer only


def test_probe_reports_what_it_left_out_and_keeps_vectors_whole(tiny_tree, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_tree, data)
    for extra in list((data / "Ukiyo_e").iterdir())[1:]:
        extra.unlink()  # one Ukiyo-e painting: nothing left to test it on
    (data / "Baroque" / "notes.jpg").write_text("not an image")
    cfg = ProbeConfig(model="efficientnet_lite0", weights="none", data=str(data), layers=["blocks.1", "embed", "embed"],
                      pooling="meanstd", out=str(tmp_path / "out"), input_size=32, pca=False)
    report = run_probe(cfg)
    assert report.dropped_classes == {"Ukiyo_e": 1} and report.classes == ["Baroque", "Pop_Art"]
    assert [s.path.rsplit("/", 1)[-1] for s in report.skipped] == ["notes.jpg"]
    assert [r["layer"] for r in report.rows] == ["blocks.1", "embed"]  # named twice, probed once
    assert [r["dim"] for r in report.rows] == [48, 1280]  # meanstd doubles a map's channels, not a vector
    saved = json.loads((tmp_path / "out" / "probe.json").read_text())
    assert saved["dropped_classes"] == {"Ukiyo_e": 1} and len(saved["skipped"]) == 1


def test_gram_pooling_is_the_normalised_channel_gram_matrix():
    f = torch.randn(2, 3, 4, 5)
    flat = f.reshape(2, 3, 20)
    full = flat @ flat.transpose(1, 2) / 20
    pooled = gram_upper(f)
    assert pooled.shape == (2, 6)
    np.testing.assert_allclose(pooled[:, 0], full[:, 0, 0], rtol=1e-5)
    np.testing.assert_allclose(pooled[:, 1], full[:, 0, 1], rtol=1e-5)


def test_a_layer_too_large_to_probe_is_refused_before_any_work(tiny_tree, tmp_path):
    cfg = ProbeConfig(model="vgg19", weights="none", data=str(tiny_tree), layers=["conv5_1"], pooling="gram",
                      out=str(tmp_path), input_size=32, max_gb=0.01)
    with pytest.raises(ArtlensError, match=r"layer 'conv5_1' pooled with 'gram' gives 131,328 values per image; "
                       r"30 images x 1 layer\(s\) need 15.0 MiB \(limit 10.2 MiB\): use --pooling gap"):
        run_probe(cfg)
    assert not (tmp_path / "features").exists() or not any((tmp_path / "features").rglob("*.npy"))


def test_unknown_layer_lists_the_valid_names(tiny_tree, tmp_path):
    with pytest.raises(ArtlensError, match=r"no layer 'conv6_1'.*valid names: conv1_1, relu1_1"):
        run_probe(ProbeConfig(model="vgg19", weights="none", data=str(tiny_tree), layers=["conv6_1"], out=str(tmp_path)))
    with pytest.raises(ArtlensError, match="unknown pooling 'max'"):
        ProbeConfig(data=str(tiny_tree), layers=["0"], pooling="max")


def test_an_out_that_is_a_file_is_refused_in_one_line(tiny_tree, tiny_bundle, tmp_path):
    from artlens.explain.similarity import SimilarityConfig, run_similarity

    taken = tmp_path / "report.txt"
    taken.write_text("not a folder")
    with pytest.raises(ArtlensError, match=r"--out .*report.txt: is a file, not a folder"):
        run_probe(ProbeConfig(model=str(tiny_bundle), data=str(tiny_tree), layers=["0"], out=str(taken)))
    with pytest.raises(ArtlensError, match=r"--out .*report.txt: is a file, not a folder"):
        run_similarity(SimilarityConfig(model=str(tiny_bundle), data=str(tiny_tree), out=str(taken)))


@pytest.mark.parametrize("setting, message", [
    ({"C": 0.0}, "--C must be > 0, got 0"),
    ({"C": float("nan")}, "--C must be > 0, got nan"),
    ({"max_iter": 0}, "max_iter must be >= 1, got 0"),
    ({"max_gb": 0.0}, "--max-gb must be > 0, got 0"),
    ({"max_per_class": 1}, "--max-per-class must be >= 2 (one image to train, one to test), got 1"),
    ({"batch_size": 0}, "--batch-size must be >= 1, got 0"),
    ({"num_workers": -1}, "--workers must be >= 0, got -1"),
    ({"input_size": 0}, "--input-size must be >= 16 pixels, got 0"),
])
def test_probe_settings_that_cannot_work_are_refused_before_any_work(tiny_tree, tmp_path, setting, message):
    # scikit-learn would refuse C=0 too, but only after every image had gone through the network.
    with pytest.raises(ArtlensError) as err:
        ProbeConfig(model="tiny_cnn", weights="none", data=str(tiny_tree), layers=["1"], out=str(tmp_path / "p"),
                    **setting)
    assert str(err.value) == message and not (tmp_path / "p").exists()


def test_the_command_line_refuses_a_zero_C_in_one_line_before_reading_an_image(tiny_tree, tmp_path):
    from typer.testing import CliRunner

    from artlens.cli import app

    result = CliRunner().invoke(app, ["probe", "--model", "tiny_cnn", "--weights", "none", "--data", str(tiny_tree),
                                      "--layers", "1", "--C", "0", "--out", str(tmp_path / "p")])
    assert isinstance(result.exception, ArtlensError) and str(result.exception) == "--C must be > 0, got 0"
    assert not (tmp_path / "p").exists()


def test_a_run_without_pca_removes_the_pca_grid_of_an_earlier_run(tiny_tree, tiny_bundle, tmp_path):
    run_probe(ProbeConfig(model=str(tiny_bundle), data=str(tiny_tree), layers=["0", "1", "embed"], out=str(tmp_path)))
    assert (tmp_path / "pca.png").is_file()
    report = run_probe(ProbeConfig(model=str(tiny_bundle), data=str(tiny_tree), layers=["1"], out=str(tmp_path),
                                   pca=False))
    assert report.cached_layers == ["1"] and "pca" not in report.files
    assert not (tmp_path / "pca.png").exists()  # it showed layers 0 and embed beside a table of layer 1 only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features", "probe.csv", "probe.json", "probe.md",
                                                          "probe_accuracy.png"]


def test_random_weights_share_cached_features_only_with_the_same_network(tiny_tree, tmp_path):
    from artlens.data.dataset import discover

    samples = discover(tiny_tree)[:6]
    first = extract_features(load_source("tiny_cnn", weights="none"), samples, ["1"], cache_dir=tmp_path,
                             show_progress=False)
    # Seeded (seed 0 by default): the same random network on every run, so its features are reused,
    # and they are what this network computes itself.
    again = load_source("tiny_cnn", weights="none")
    same = extract_features(again, samples, ["1"], cache_dir=tmp_path, show_progress=False)
    assert same.cached_layers == ["1"]
    own = extract_features(again, samples, ["1"], show_progress=False)
    np.testing.assert_array_equal(same.features["1"], own.features["1"])
    # Another seed, or none (torch's global generator), is another network: nothing cached is its own.
    for seed in (1, None, None):
        other = load_source("tiny_cnn", weights="none", seed=seed)
        cached = extract_features(other, samples, ["1", "2"], cache_dir=tmp_path, show_progress=False)
        own = extract_features(other, samples, ["1", "2"], cache_dir=None, show_progress=False)
        assert cached.cached_layers == []
        np.testing.assert_array_equal(cached.features["1"], own.features["1"])
        assert not np.allclose(cached.features["1"], first.features["1"])


def test_probe_and_pca_follow_scikit_learn_conventions():
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 20)
    X = {"shallow": rng.normal(size=(40, 8)), "deep": rng.normal(size=(40, 4)) + (y == "b")[:, None] * 3.0}
    probes = LayerProbes(C=0.5)
    with pytest.raises(NotFittedError):
        probes.score(X, y)
    assert probes.fit(X, y) is probes and clone(probes).get_params() == {"C": 0.5, "max_iter": 2000}
    check_is_fitted(probes, "probes_")
    scores = probes.score(X, y)
    assert scores["deep"] == 1.0 and scores["shallow"] < 1.0
    pca = LayerPCA()
    assert pca.fit(X) is pca
    ratio = pca.explained_variance_ratio_["deep"]
    assert ratio[0] > 0.5 and ratio[0] >= ratio[1]  # the class shift dominates the deep layer
    assert pca.transform(X)["shallow"].shape == (40, 2)
    with pytest.raises(ArtlensError, match="features lack the fitted layer"):
        probes.predict({"deep": X["deep"]})


def test_pooling_registry_lists_the_poolings():
    assert features_mod.POOLINGS.names() == ["gap", "meanstd", "gram"]
