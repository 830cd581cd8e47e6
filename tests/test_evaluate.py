"""Evaluation numbers and the files a person reads."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from artlens.evaluate import accuracy_interval, classification_metrics
from artlens.viz import plot_confusion_matrix


def test_metrics_on_a_hand_checked_example():
    probs = np.array([[0.6, 0.3, 0.1, 0.0], [0.2, 0.5, 0.3, 0.0], [0.5, 0.1, 0.4, 0.0], [0.1, 0.2, 0.3, 0.4]])
    m = classification_metrics([0, 1, 2, 2], probs, ["a", "b", "c", "d"], ks=(3,))
    assert m["accuracy"] == 0.5  # rows 0 and 1 right; row 2 -> a, row 3 -> d
    assert m["top3"] == 1.0
    assert m["per_class"]["c"] == {"accuracy": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert m["per_class"]["a"]["precision"] == 0.5 and m["per_class"]["a"]["recall"] == 1.0
    assert m["confusion_matrix"][2] == [1, 0, 0, 1]
    assert np.isclose(m["macro"]["recall"], (1 + 1 + 0 + 0) / 4)  # over all 4 classes: absent "d" counts 0
    assert np.isclose(m["balanced_accuracy"], (1 + 1 + 0) / 3)  # over the 3 classes the set holds
    # Four images tell little: 2 right of 4 is anything from 15 % to 85 % (95 % Wilson interval).
    assert m["ci95"]["accuracy"] == [0.150039, 0.849961] and m["ci95"]["top3"] == [0.510109, 1.0]


def test_every_accuracy_comes_with_its_interval_which_narrows_with_more_images():
    from artlens.evaluate import proportion_interval

    rng = np.random.default_rng(0)
    widths = []
    for n in (77, 327, 3000):
        y = rng.integers(0, 11, n)
        probs = rng.random((n, 11))
        probs[np.arange(n), y] += np.where(rng.random(n) < 0.7, 2.0, 0.0)  # about 70 % right
        m = classification_metrics(y, probs, [f"s{i}" for i in range(11)])
        low, high = m["ci95"]["accuracy"]
        assert low < m["accuracy"] < high
        assert [low, high] == [round(x, 6) for x in proportion_interval(round(m["accuracy"] * n), n)]
        widths.append(high - low)
    assert widths[0] > 0.15 > widths[1] > 0.07 > widths[2]  # 77 paintings: about +-10 points; 3,000: +-1.6
    assert proportion_interval(0, 0) == (0.0, 1.0) and proportion_interval(0, 10)[0] == 0.0


def test_two_models_on_the_same_images_are_compared_on_the_images_they_disagree_on():
    from artlens.evaluate import mcnemar_p_value

    # 9 images only A gets right, 1 only B: P(X <= 1 or X >= 9) for X ~ Binomial(10, 1/2) = 22/1024.
    assert mcnemar_p_value(9, 1) == mcnemar_p_value(1, 9) == 22 / 1024
    assert mcnemar_p_value(0, 0) == 1.0 and mcnemar_p_value(3, 2) == 1.0
    assert mcnemar_p_value(0, 5) == 2 / 32  # five disagreements all one way: not yet significant at 0.05
    assert mcnemar_p_value(0, 6) < 0.05


def test_confusion_matrix_png_is_readable_with_50_classes(tmp_path):
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 9, (50, 50)) + np.eye(50, dtype=int) * 40
    path = plot_confusion_matrix(cm, [f"Artist_Name_{i:02d}" for i in range(50)], tmp_path / "cm.png")
    w, h = Image.open(path).size
    assert w >= 1800 and h >= 1600  # ~35 px per class row: labels do not overlap


def test_gallery_captions_never_run_into_the_row_above(artdata, tmp_path, monkeypatch):
    from artlens.viz import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig))
    paintings = sorted((artdata / "wikiart11" / "Baroque").glob("*.jpg"))[:8]
    figures.plot_gallery([(p, f"{p.name[:28]}\ntrue: Baroque\npred: Rococo (0.87)") for p in paintings],
                         tmp_path / "mistakes.png", columns=4, title="Most confident mistakes")
    fig = drawn[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for upper, lower in zip(fig.axes[:4], fig.axes[4:]):
        assert lower.title.get_window_extent(renderer).y1 <= upper.get_window_extent(renderer).y0


def test_evaluate_writes_report_files(tiny_tree, tmp_path):
    from artlens import evaluate, fit

    from .conftest import tiny_config

    run = fit(tiny_config(tiny_tree, tmp_path / "run", epochs=1), show_progress=False)
    report = evaluate(run.bundle, tiny_tree, tmp_path / "eval", show_progress=False)
    assert report["n_evaluated"] == 30
    for name in ("report.json", "report.md", "confusion_matrix.png", "predictions.csv"):
        assert (tmp_path / "eval" / name).is_file()
    saved = json.loads((tmp_path / "eval" / "report.json").read_text())
    metrics = saved["metrics"]
    assert {"accuracy", "balanced_accuracy", "macro", "weighted", "per_class", "confusion_matrix"} <= set(metrics)
    md = (tmp_path / "eval" / "report.md").read_text()
    assert "| Baroque |" in md and "macro precision / recall / F1" in md
    baroque = metrics["per_class"]["Baroque"]  # 10 paintings of a class: an interval tens of points wide
    low, high = accuracy_interval(baroque["accuracy"], baroque["support"])
    assert f"| Baroque | {baroque['accuracy']:.3f} | {low:.3f}-{high:.3f} |" in md and high - low > 0.3
    assert f"| balanced accuracy (mean recall of the classes present) | {metrics['balanced_accuracy']:.4f} |" in md
    low, high = metrics["ci95"]["accuracy"]
    assert f"| accuracy | {metrics['accuracy']:.4f} | {low:.3f}-{high:.3f} |" in md
    if report["metrics"]["accuracy"] < 1.0:
        assert (tmp_path / "eval" / "mistakes.png").is_file()


def test_evaluating_only_unreadable_files_is_a_clear_error(tiny_tree, tmp_path):
    import pytest

    from artlens import ArtlensError, ModelConfig, evaluate
    from artlens.models import build_classifier, save_bundle

    cfg = ModelConfig(backbone="tiny_cnn", pretrained="none")
    bundle = save_bundle(build_classifier(cfg, 1), tmp_path / "b", classes=["Baroque"], model_cfg=cfg)
    (tmp_path / "data" / "Baroque").mkdir(parents=True)
    (tmp_path / "data" / "Baroque" / "broken.jpg").write_text("not a jpeg")
    with pytest.raises(ArtlensError, match="none of the 1 images could be read.*broken.jpg: not an image"):
        evaluate(bundle, tmp_path / "data", tmp_path / "eval", show_progress=False)


def test_a_model_trained_with_a_label_map_is_evaluated_through_it(tiny_tree, tmp_path):
    """The error names the map the model was trained with; --label-map applies it to the raw labels."""
    from typer.testing import CliRunner

    from artlens import fit
    from artlens.cli import app

    from .conftest import tiny_config

    run = fit(tiny_config(tiny_tree, tmp_path / "run", epochs=1, data__label_map={"Pop_Art": "Modern"}),
              show_progress=False)
    runner = CliRunner()
    refused = runner.invoke(app, ["evaluate", "--model", str(run.bundle), "--data", str(tiny_tree),
                                  "--out", str(tmp_path / "eval")])
    assert "labels unknown to model" in str(refused.exception)
    assert str(refused.exception).endswith("(--label-map old=new,drop=); the model was trained with the label map "
                                           "Pop_Art=Modern")
    mapped = runner.invoke(app, ["evaluate", "--model", str(run.bundle), "--data", str(tiny_tree),
                                 "--out", str(tmp_path / "eval"), "--label-map", "Pop_Art=Modern"])
    assert mapped.exit_code == 0, mapped.output
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["n_evaluated"] == 30 and "Modern" in report["metrics"]["per_class"]
