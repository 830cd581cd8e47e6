"""What the general figures must say: a run's curves name it and mark the epoch kept; a profile of
same-sized images says so in words; duplicate pairs name both files and their labels; mistakes name
the painting."""

from __future__ import annotations

from artlens.data import load_collection, profile_collection
from artlens.config import DataConfig
from artlens.viz.figures import plot_curves

from .conftest import figure_texts as texts




def test_curves_carry_the_run_name_and_mark_the_epoch_the_bundle_holds(tmp_path, figures):
    history = [{"epoch": e, "phase": "full", "train_loss": 2 - 0.3 * e, "val_loss": [1.5, 1.2, 1.1, 1.3][e - 1],
                "train_acc": 0.2 * e, "val_acc": [0.4, 0.5, 0.6, 0.55][e - 1]} for e in range(1, 5)]
    plot_curves(history, tmp_path / "curves.png", title="wikiart-lite0: efficientnet_lite0 (full)", best_epoch=3,
                best_label="best val_loss")
    fig = figures[-1]
    assert fig._suptitle.get_text() == "wikiart-lite0: efficientnet_lite0 (full)"
    assert "best val_loss (epoch 3)" in texts(fig)
    star = [line for line in fig.axes[0].get_lines() if line.get_marker() == "*"]
    assert star and star[0].get_xydata().tolist() == [[3.0, 1.1]]  # on the validation loss of epoch 3


def test_a_profile_of_same_sized_images_says_so_in_words(tiny_tree, tmp_path, figures):
    profile_collection(load_collection(DataConfig(path=str(tiny_tree)), split=False), tmp_path, show_progress=False)
    sizes = next(f for f in figures if "Image sizes" in texts(f))
    assert "all 30 readable images are 96×96 px" in texts(sizes)
    assert not any(ax.patches for ax in sizes.axes)  # no single-bar histograms


def test_duplicate_pairs_name_both_files_and_their_labels(artdata, tmp_path, figures):
    # The same WikiArt painting filed under two styles: a label conflict the profile must show as one pair.
    name = "brice-marden_etchings-to-rexroth-1-1986.jpg"

    data = tmp_path / "data"
    for style in ("Abstract_Expressionism", "Minimalism"):
        (data / style).mkdir(parents=True)
        (data / style / name).write_bytes((artdata / "wikiart11" / style / name).read_bytes())
        other = sorted(p for p in (artdata / "wikiart11" / style).glob("*.jpg") if p.name != name)[0]
        (data / style / other.name).write_bytes(other.read_bytes())
    report = profile_collection(load_collection(DataConfig(path=str(data)), split=False), tmp_path / "out",
                                show_progress=False)
    assert len(report["duplicates"]["across_classes"]) == 1
    pairs = next(f for f in figures if "near-duplicates across classes" in texts(f))
    shown = texts(pairs)
    assert shown.count(name[:30]) == 2
    assert "labels differ: Abstract_Expressionism ≠ Minimalism" in shown
    assert "A: " in shown and "B: " in shown
