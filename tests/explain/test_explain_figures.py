"""What the explain figures must show: maps on the painting itself, captions, fair galleries, a class graph
whose distances mean something, a PCA grid without empty slots and probe accuracies with their uncertainty."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artlens.data.metadata import artwork_caption
from artlens.explain import CamExplainer, ExplainConfig, run_explain
from artlens.explain.cam import FINE, default_target_layer
from artlens.explain.galleries import _Picks
from artlens.explain.pca import plot_pca_grid
from artlens.explain.probe import accuracy_interval
from artlens.explain.similarity import (ClassSimilarity, kruskal_stress, plot_chord, plot_force_graph,
                                        similarity_layout)
from artlens.models.layers import LayerTaps
from artlens.viz.overlays import cam_box, heat_on_picture

from ..conftest import figure_texts as texts


@pytest.fixture
def starry(artdata) -> Image.Image:
    """Starry Night: a blue painting, wider than tall, larger than any model input."""
    with Image.open(artdata / "style_refs" / "style" / "jcjohnson__starry_night.jpg") as img:
        return img.convert("RGB")


# -- CAM maps on the painting ---------------------------------------------------------------------

def test_the_map_is_drawn_on_the_whole_painting_at_its_own_size(starry):
    heat = np.zeros((224, 224), np.float32)
    heat[:56, :56] = 1.0  # the model's top-left corner
    squash = np.asarray(heat_on_picture(starry, heat, resize="squash"), dtype=float)
    assert squash.shape[:2] == (starry.height, starry.width)
    h, w = starry.height, starry.width
    # Hot: bright inferno (yellow-white) in the painting's top-left; cold: the painting, only desaturated.
    assert squash[: h // 8, : w // 8].mean() > squash[h // 2:, w // 2:].mean() + 60
    cold = np.asarray(heat_on_picture(starry, np.zeros((224, 224), np.float32)), dtype=float)
    grey = np.asarray(starry.convert("L"), dtype=float)
    assert np.corrcoef(cold.mean(2).ravel(), grey.ravel())[0, 1] > 0.98
    # Desaturated, so a cold area is not tinted blue, whatever the painting's own blue.
    painting = np.asarray(starry, dtype=float)
    assert (cold[..., 2] - cold[..., 0]).mean() < 0.5 * (painting[..., 2] - painting[..., 0]).mean()


def test_a_cropping_models_map_sits_on_the_square_it_saw_and_the_rest_is_grey(starry):
    left, top, right, bottom = cam_box(starry.size, resize="crop", input_size=224, crop_pct=0.875)
    assert bottom - top == right - left == round(starry.height * 224 / 256)
    assert (left + right) / 2 == pytest.approx(starry.width / 2, abs=1)
    out = np.asarray(heat_on_picture(starry, np.ones((224, 224), np.float32), resize="crop", input_size=224),
                     dtype=int)
    outside = out[:, : max(1, left - 2)]
    assert (outside[..., 0] == outside[..., 1]).all() and (outside[..., 1] == outside[..., 2]).all()
    inside = out[top + 5: bottom - 5, left + 5: right - 5]
    assert (inside[..., 0] - inside[..., 2]).mean() > 40  # inferno's hot end is warm, not grey


def test_explain_writes_full_size_overlays_and_captioned_panels(tiny_bundle, artdata, tmp_path, figures):
    painting = artdata / "style_refs" / "style" / "jcjohnson__the_scream.jpg"
    report = run_explain(ExplainConfig(inputs=[str(painting)], model=str(tiny_bundle), out=str(tmp_path)))
    assert report.n_explained == 1
    with Image.open(painting) as src, Image.open(tmp_path / "overlays" / "jcjohnson__the_scream.png") as overlay:
        assert overlay.size == src.size
    row = next(csv.DictReader(open(tmp_path / "predictions.csv")))
    caption = texts(figures[-1])
    assert (tmp_path / "panels" / "jcjohnson__the_scream.png").is_file() and row["panel"] == "panels/jcjohnson__the_scream.png"
    assert f"predicted {row['predicted']} ({float(row['prob']):.2f})" in caption
    assert f"gradcam on {report.layer}" in caption and "relevance" in caption


def test_a_finer_layer_gives_a_map_twice_as_fine(frozen_builtin, starry):
    explainer = CamExplainer(frozen_builtin, layer=FINE)
    backbone = frozen_builtin.model.backbone
    default = default_target_layer(backbone)
    assert explainer.layer != default
    import torch

    with torch.no_grad():
        out = LayerTaps(backbone.eval(), [explainer.layer, default])(torch.zeros(1, 3, 224, 224))
    assert out[explainer.layer].shape[-1] >= 2 * out[default].shape[-1]
    result = explainer.explain(starry)
    assert explainer.caption(result).endswith(f"gradcam on {explainer.layer}")
    assert result.heatmap.max() > 0


# -- galleries ---------------------------------------------------------------------------------------

def test_galleries_hold_the_most_confident_images_with_their_names(tiny_tree, tiny_bundle, tmp_path, figures):
    report = run_explain(ExplainConfig(inputs=[str(tiny_tree)], model=str(tiny_bundle), out=str(tmp_path),
                                       galleries=True, per_class=3, pick="confident", save_overlays=False,
                                       panels=False))
    rows = list(csv.DictReader(open(tmp_path / "predictions.csv")))
    buckets = defaultdict(list)
    for r in rows:
        buckets[f"{r['label']}_{'correct' if r['correct'] == 'True' else 'wrong'}"].append(r)
    assert set(report.galleries) == set(buckets)
    for key, members in buckets.items():
        top = sorted(members, key=lambda r: -float(r["prob"]))[:3]
        shown = report.galleries[key]
        assert [float(next(r for r in members if r["path"] == p)["prob"]) for p in shown] == \
            [float(r["prob"]) for r in top]
    all_text = "\n".join(texts(f) for f in figures)
    first = report.galleries[sorted(report.galleries)[0]][0]
    assert artwork_caption(first) in all_text  # painter and title, not "image 1"


def test_random_galleries_are_seeded_samples_of_their_bucket(tiny_tree, tiny_bundle, tmp_path):
    def picks(seed, out):
        return run_explain(ExplainConfig(inputs=[str(tiny_tree)], model=str(tiny_bundle), out=str(tmp_path / out),
                                         galleries=True, per_class=2, pick="random", seed=seed, save_overlays=False,
                                         panels=False)).galleries

    a, again = picks(0, "a"), picks(0, "b")
    assert a == again
    rows = list(csv.DictReader(open(tmp_path / "a" / "predictions.csv")))
    for key, shown in a.items():
        label, word = key.rsplit("_", 1)
        bucket = [r["path"] for r in rows if r["label"] == label and (r["correct"] == "True") == (word == "correct")]
        assert len(shown) == min(2, len(bucket)) and set(shown) <= set(bucket)


def test_picks_keep_the_top_n_or_a_uniform_sample_in_bounded_memory():
    import random

    confident = _Picks(3, "confident", random.Random(0))
    for i, score in enumerate([0.2, 0.9, 0.1, 0.95, 0.5, 0.7]):
        confident.offer(score, f"img{i}")
    assert confident.chosen() == ["img3", "img1", "img5"] and len(confident.items) == 3
    counts = np.zeros(10)
    for seed in range(2000):
        sample = _Picks(2, "random", random.Random(seed))
        for i in range(10):
            sample.offer(0.0, i)
        counts[sample.chosen()] += 1
    assert counts.min() > 300 and counts.max() < 500  # each of 10 items kept ~400 times in 2000 draws of 2


def test_pick_must_be_known():
    from artlens.errors import ArtlensError

    with pytest.raises(ArtlensError, match="--pick"):
        ExplainConfig(inputs=["x"], pick="first")


def test_gallery_captions_come_from_the_collections_metadata(artdata):
    aic = next((artdata / "aic_periods").glob("*/16192.jpg"))
    assert artwork_caption(aic) == "Allegretto Nuzi: Bishop Saint Enthroned"
    wikiart = artdata / "wikiart11" / "Baroque" / "rembrandt_a-cavalry-fight-1632.jpg"
    assert artwork_caption(wikiart) == "Rembrandt: a cavalry fight 1632"
    assert artwork_caption(artdata / "style_refs" / "style" / "jcjohnson__starry_night.jpg") == "jcjohnson__starry_night.jpg"


# -- class similarity graph --------------------------------------------------------------------------

def _five_styles() -> ClassSimilarity:
    """Class means on a plane: Baroque and Rococo nearly one, Pop Art far from both."""
    rng = np.random.default_rng(0)
    centres = {"Baroque": [0, 0], "Rococo": [0.6, 0.2], "Impressionism": [2.5, 1.5], "Ukiyo_e": [4, -2],
               "Pop_Art": [7, 3]}
    X = np.concatenate([rng.normal(c, 0.05, size=(12, 2)) for c in centres.values()])
    return ClassSimilarity().fit(X, np.repeat(list(centres), 12))


def test_the_layout_places_the_most_similar_pair_closest_and_says_how_well_it_fits():
    sim = _five_styles()
    layout = similarity_layout(sim.distances_)
    sym = (sim.similarity_ + sim.similarity_.T) / 2
    iu = np.triu_indices(len(sym), 1)
    best, worst = np.argmax(sym[iu]), np.argmin(sym[iu])
    page = np.linalg.norm(layout.positions[:, None] - layout.positions[None], axis=-1)[iu]
    assert page[best] == page.min() and page[worst] == page.max()
    assert layout.stress < 0.01 and layout.quality == "excellent"  # 2-D means: the page is exact
    # Distances that need more than two dimensions (a regular simplex) cannot be drawn faithfully: it says so.
    simplex = np.ones((6, 6)) - np.eye(6)
    assert similarity_layout(simplex).stress > 0.1
    assert kruskal_stress(simplex, similarity_layout(simplex).positions) == pytest.approx(similarity_layout(simplex).stress)


def test_graph_and_chord_show_values_colours_and_the_layouts_stress(tmp_path, figures):
    sim = _five_styles()
    plot_force_graph(sim, tmp_path / "graph.png")
    graph = figures[-1]
    shown = texts(graph)
    assert "stress" in shown and "0.00" not in shown.split("stress")[0][-3:]
    sym = (sim.similarity_ + sim.similarity_.T) / 2
    assert f"{sym.max():.2f}" in shown and f"{sym[np.triu_indices(5, 1)].min():.2f}" in shown
    widths = [line.get_linewidth() for line in graph.axes[0].get_lines()]
    assert max(widths) >= 8 * min(widths)  # widths span the real range of similarities
    nodes = graph.axes[0].collections[0].get_facecolors()
    assert len({tuple(np.round(c, 3)) for c in nodes}) == 5  # every class its own colour
    plot_chord(sim, tmp_path / "chord.png")
    chord = texts(figures[-1])
    top = sim.top_pairs()[0]
    assert f"{top[0]} – {top[1]}: {top[2]:.2f}" in chord


# -- PCA grid and probe intervals --------------------------------------------------------------------

def test_the_pca_grid_has_no_empty_slots_and_marks_train_test_and_centroids(tmp_path, figures):
    rng = np.random.default_rng(0)
    labels = np.repeat(["Baroque", "Pop_Art", "Ukiyo_e"], 20)
    split = np.tile(["train"] * 14 + ["test"] * 6, 3)
    points = {f"layer{k}": rng.normal(size=(60, 2)) for k in range(6)}
    plot_pca_grid(points, labels, tmp_path / "pca.png", split=split)
    fig = figures[-1]
    assert len(fig.axes) == 6
    rows_cols = {(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start) for ax in fig.axes}
    assert max(r for r, _ in rows_cols) + 1 == 2 and max(c for _, c in rows_cols) + 1 == 3
    shown = texts(fig)
    assert "class centroid" in shown and "test image" in shown and "training image" in shown
    legend = fig.legends[0]
    assert legend.get_window_extent().x0 > max(ax.get_window_extent().x1 for ax in fig.axes) - 1  # beside the grid


def test_probe_accuracies_carry_a_wilson_interval():
    low, high = accuracy_interval(0.7, 30)
    assert low == pytest.approx(0.521, abs=0.002) and high == pytest.approx(0.833, abs=0.002)
    narrow = accuracy_interval(0.7, 3000)
    assert narrow[1] - narrow[0] < (high - low) / 5
