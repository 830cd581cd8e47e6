"""Class similarity (the Met study's normalised inverse distance) and `artlens embed` to Parquet."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from artlens.explain.embed import EmbedConfig, run_embed
from artlens.explain.similarity import (ClassSimilarity, SimilarityConfig, normalised_similarity, run_similarity,
                                        spring_layout)
from artlens.models import load_bundle


def test_normalised_similarity_matches_the_formula():
    d = np.array([[0, 1, 2, 4], [1, 0, 1, 1], [2, 1, 0, 2], [4, 1, 2, 0]], dtype=float)
    s = normalised_similarity(d)
    # s(A, B) = d(A,B)^-1 / sum_{C != A} d(A,C)^-1: for A = 0, inverses are 1, 1/2, 1/4.
    np.testing.assert_allclose(s[0, 1:], np.array([1, 0.5, 0.25]) / 1.75)
    np.testing.assert_allclose(s.sum(1), 1.0)
    assert np.all(np.diag(s) == 0)


def test_class_similarity_and_layout_put_close_classes_together():
    rng = np.random.default_rng(0)
    centres = {"Baroque": [0, 0], "Rococo": [1, 0], "Pop_Art": [10, 10], "Minimalism": [11, 10.5]}
    X = np.concatenate([rng.normal(c, 0.1, size=(15, 2)) for c in centres.values()])
    y = np.repeat(list(centres), 15)
    sim = ClassSimilarity().fit(X, y)
    assert sim.classes_.tolist() == sorted(centres)
    i = {c: k for k, c in enumerate(sim.classes_)}
    assert sim.similarity_[i["Baroque"]].argmax() == i["Rococo"]
    assert {frozenset(p[:2]) for p in sim.top_pairs()} >= {frozenset({"Baroque", "Rococo"})}
    pos = spring_layout(sim.similarity_)
    near = np.linalg.norm(pos[i["Baroque"]] - pos[i["Rococo"]])
    far = np.linalg.norm(pos[i["Baroque"]] - pos[i["Pop_Art"]])
    assert near < far


def test_run_similarity_writes_matrices_and_three_figures(tiny_tree, tiny_bundle, tmp_path):
    report = run_similarity(SimilarityConfig(model=str(tiny_bundle), data=str(tiny_tree), out=str(tmp_path)))
    assert report.similarity.similarity_.shape == (3, 3)
    lines = (tmp_path / "similarity.csv").read_text().splitlines()
    assert lines[0] == "class,Baroque,Pop_Art,Ukiyo_e" and len(lines) == 4
    assert (tmp_path / "distances.csv").is_file()
    for name in ("similarity.png", "graph.png", "chord.png"):
        assert (tmp_path / name).stat().st_size > 5000


def test_embed_writes_one_row_per_image_with_the_models_embedding(tiny_tree, tiny_bundle, tmp_path):
    out = tmp_path / "emb.parquet"
    report = run_embed(EmbedConfig(model=str(tiny_bundle), data=str(tiny_tree), out=str(out),
                                   map=str(tmp_path / "map.png")))
    table = pq.read_table(out)
    assert table.num_rows == report.rows == 30 and table.column_names == ["path", "label", "split", "embedding"]
    assert str(table.schema.field("split").type) == "string"
    assert set(table.column("label").to_pylist()) == {"Baroque", "Pop_Art", "Ukiyo_e"}
    first = table.slice(0, 1).to_pylist()[0]
    bundle = load_bundle(tiny_bundle)
    from artlens.data.transforms import build_transform

    x = build_transform(bundle.preprocessing)(Image.open(first["path"]).convert("RGB"))[None]
    with torch.no_grad():
        expected = bundle.model.embed(x)[0].numpy()
    np.testing.assert_allclose(np.array(first["embedding"]), expected, rtol=1e-4, atol=1e-5)
    assert report.dim == 64 and (tmp_path / "map.png").stat().st_size > 5000


def test_embed_loose_images_beside_hidden_folders_and_label_folders(tiny_tree, tiny_bundle, tmp_path, caplog):
    loose = tmp_path / "loose"
    loose.mkdir()
    for p in sorted((tiny_tree / "Baroque").iterdir())[:3]:
        shutil.copy(p, loose / p.name)
    (loose / ".thumbnails").mkdir()  # a viewer's cache is not a label folder
    report = run_embed(EmbedConfig(model=str(tiny_bundle), data=str(loose), out=str(tmp_path / "a.parquet")))
    assert report.rows == 3
    (loose / "extra").mkdir()  # now a labelled tree: the loose images are left out, and said so
    shutil.copy(next((tiny_tree / "Pop_Art").iterdir()), loose / "extra" / "1.jpg")
    with caplog.at_level("WARNING"):
        report = run_embed(EmbedConfig(model=str(tiny_bundle), data=str(loose), out=str(tmp_path / "b.parquet")))
    assert report.rows == 1 and f"3 image(s) directly in {loose} are in no label folder and are left out" in caplog.text


def test_one_image_is_embedded_but_not_mapped(tiny_tree, tiny_bundle, tmp_path, caplog):
    from artlens.errors import ArtlensError
    from artlens.explain.embed import project_2d

    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(next((tiny_tree / "Baroque").iterdir()), one / "a.jpg")
    with caplog.at_level("WARNING"):
        report = run_embed(EmbedConfig(model=str(tiny_bundle), data=str(one), out=str(tmp_path / "one.parquet"),
                                       map=str(tmp_path / "map.png")))
    assert report.rows == 1 and report.map is None and not (tmp_path / "map.png").exists()
    assert "a 2-D map needs at least 2 images and 1 was embedded" in caplog.text
    with pytest.raises(ArtlensError, match="at least 2 images, got 1"):
        project_2d(np.ones((1, 4)), "pca")


def test_embed_refuses_a_non_parquet_output(tiny_tree, tmp_path):
    from artlens.errors import ArtlensError

    with pytest.raises(ArtlensError, match="must end in .parquet"):
        run_embed(EmbedConfig(data=str(tiny_tree), out=str(tmp_path / "emb.csv")))


def test_a_pca_map_reports_how_much_variance_its_two_axes_keep():
    from artlens.explain.embed import project_2d

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2)) @ rng.normal(size=(2, 16)) + 0.05 * rng.normal(size=(40, 16))  # 2-D data in 16-D
    points, method, explained = project_2d(X, "pca")
    assert points.shape == (40, 2) and method == "pca"
    assert explained.shape == (2,) and explained[0] >= explained[1] > 0 and 0.9 < explained.sum() <= 1


def test_a_map_that_cannot_be_drawn_is_refused_before_embedding_anything(tiny_tree, tmp_path, monkeypatch):
    from artlens.errors import ArtlensError
    from artlens.explain import embed as embed_mod

    monkeypatch.setattr(embed_mod, "_has_umap", lambda: False)  # as where umap-learn is not installed
    monkeypatch.setattr(embed_mod, "extract_features", lambda *a, **k: pytest.fail("embedded before refusing"))
    out = tmp_path / "e.parquet"
    with pytest.raises(ArtlensError, match=r"--map-method umap needs the umap-learn package"):
        run_embed(EmbedConfig(data=str(tiny_tree), out=str(out), map=str(tmp_path / "m.png"), map_method="umap"))
    with pytest.raises(ArtlensError, match=r"--map-method: 'tsne' is not one of auto, pca, umap"):
        EmbedConfig(data=str(tiny_tree), out=str(out), map=str(tmp_path / "m.png"), map_method="tsne")
    assert not out.exists()


def test_similarity_of_a_single_class_is_refused_before_extracting(tiny_tree, tmp_path):
    from artlens.errors import ArtlensError

    one = tmp_path / "one"
    shutil.copytree(tiny_tree / "Baroque", one / "Baroque")
    with pytest.raises(ArtlensError, match=r"one: class similarity needs at least two classes, found 1$"):
        run_similarity(SimilarityConfig(model="tiny_cnn", weights="none", data=str(one), out=str(tmp_path / "sim")))
    assert not (tmp_path / "sim").exists()


@pytest.mark.parametrize("make", [SimilarityConfig, EmbedConfig])
def test_similarity_and_embed_refuse_impossible_settings_in_one_line(make):
    from artlens.errors import ArtlensError

    with pytest.raises(ArtlensError, match=r"^--batch-size must be >= 1, got 0$"):
        make(data="paintings", batch_size=0)
    with pytest.raises(ArtlensError, match=r"^--input-size must be >= 16 pixels, got 8$"):
        make(data="paintings", input_size=8)
    with pytest.raises(ArtlensError, match="unknown pooling 'max'"):
        make(data="paintings", pooling="max")
