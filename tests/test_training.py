"""Training: each strategy trains exactly what it should; resume equals an uninterrupted run;
broken files are skipped and reported; runs leave curves, metrics and a bundle."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from artlens import ArtlensError, fit
from artlens.models import load_bundle
from artlens.train import loop

from .conftest import fit_killed_after, tiny_config


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


def _initial_state(cfg) -> dict:
    from artlens.models import build_classifier

    torch.manual_seed(cfg.seed)
    model = build_classifier(cfg.model, 3)
    return {k: v.clone() for k, v in model.backbone.state_dict().items()}


@pytest.mark.parametrize("strategy, extra, expect_backbone", [
    ("frozen", {}, set()),
    ("partial", {"strategy__unfreeze": 1}, {"2."}),
    ("partial", {"strategy__unfreeze_layers": ["1"]}, {"1."}),
    ("full", {}, {"0.", "1.", "2."}),
    ("two-phase", {"strategy__head_epochs": 1}, {"0.", "1.", "2."}),
    ("head-then-partial", {"strategy__head_epochs": 1, "strategy__unfreeze_layers": ["2"]}, {"2."}),
])
def test_each_strategy_changes_exactly_its_parameters(tiny_tree, tiny_weights, tmp_path, strategy, extra,
                                                      expect_backbone):
    cfg = tiny_config(tiny_tree, tmp_path / "run", strategy__name=strategy, model__pretrained=str(tiny_weights),
                      epochs=2, **extra)
    result = fit(cfg, show_progress=False)
    pretrained = load_file(str(tiny_weights))
    last = torch.load(result.out / "checkpoint.pt", weights_only=True)["model"]  # the last epoch, not the best
    trained = {k.removeprefix("backbone.body."): v for k, v in last.items() if k.startswith("backbone.body.")}
    changed = {k for k in _changed(pretrained, trained) if not k.endswith("num_batches_tracked")}
    touched_blocks = {k.split(".")[0] + "." for k in changed}
    assert touched_blocks == expect_backbone
    if strategy in ("frozen", "two-phase", "head-then-partial"):  # their head phase trains on cached features
        assert list((tmp_path / "run" / "features").glob("train-*.safetensors"))


def test_frozen_epochs_never_run_the_backbone(tiny_tree, tiny_weights, tmp_path, monkeypatch):
    from artlens.models.backbones import Backbone

    calls = {"n": 0}
    original = Backbone.forward

    def counting(self, x):
        calls["n"] += x.shape[0]
        return original(self, x)

    monkeypatch.setattr(Backbone, "forward", counting)
    cfg = tiny_config(tiny_tree, tmp_path / "run", strategy__name="frozen", model__pretrained=str(tiny_weights),
                      epochs=4, data__test_fraction=0.0, drift_images=0)
    run = fit(cfg, show_progress=False)
    # train + val embedded once, then the best model is evaluated once on the val split: 30 + 3 images
    # (drift_images=0: the bundle's drift reference would embed up to that many training images once more).
    assert calls["n"] == 30 + 3
    # That embedding pass is part of what the run cost: compare's "training time" counts it.
    report = json.loads((run.out / "report.json").read_text())
    epochs = sum(r["seconds"] for r in report["history"])
    assert report["feature_cache_seconds"] > 0
    assert abs(report["train_seconds"] - (epochs + report["feature_cache_seconds"])) < 0.02


@pytest.mark.parametrize("model, message", [
    ({"backbone": "nosuchnet"}, "unknown backbone 'nosuchnet'"),
    ({"backbone": "tiny_cnn", "pretrained": "missing.safetensors"}, "missing.safetensors"),
])
def test_a_wrong_backbone_fails_before_any_image_is_read(tiny_tree, tmp_path, monkeypatch, model, message):
    def read_the_data(*args, **kwargs):
        raise AssertionError("the data was read before the backbone was made")

    monkeypatch.setattr(loop, "prepare_data", read_the_data)
    cfg = tiny_config(tiny_tree, tmp_path / "run", strategy__name="full",
                      **{f"model__{key}": value for key, value in model.items()})
    with pytest.raises(ArtlensError, match=message):
        fit(cfg, show_progress=False)


@pytest.mark.parametrize("strategy, message", [
    ({"unfreeze": 9}, r"strategy.unfreeze: 9 > 3 stages of tiny_cnn"),
    ({"unfreeze_layers": ["7"]}, r"strategy.unfreeze_layers: '7' is not a module of tiny_cnn"),
    ({"freeze_layers": ["7"]}, r"has no layer '7'"),
])
def test_a_layer_selection_the_backbone_lacks_fails_before_any_image_is_read(tiny_tree, tiny_weights, tmp_path,
                                                                              monkeypatch, strategy, message):
    def read_the_data(*args, **kwargs):
        raise AssertionError("the data was read before the layer selection was checked")

    monkeypatch.setattr(loop, "prepare_data", read_the_data)
    cfg = tiny_config(tiny_tree, tmp_path / "run", strategy__name="partial", model__pretrained=str(tiny_weights),
                      **{f"strategy__{key}": value for key, value in strategy.items()})
    with pytest.raises(ArtlensError, match=message):
        fit(cfg, show_progress=False)


def test_one_class_is_refused_and_doubtful_data_is_warned_about(tiny_tree, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(loop, "scan_images", lambda paths: [])  # no image is read: the checks come first
    one = tiny_config(tiny_tree, tmp_path / "one", data__label_map={"Pop_Art": "", "Ukiyo_e": ""})
    with pytest.raises(ArtlensError, match=r"only one class \(Baroque\) after the label map .* at least two"):
        loop.prepare_data(one, show_progress=False)
    doubtful = tiny_config(tiny_tree, tmp_path / "doubtful", data__label_map={"Barock": "Old"},
                           data__val_fraction=0.0, patience=2)
    with caplog.at_level("WARNING", logger="artlens.train.loop"):
        loop.prepare_data(doubtful, show_progress=False)
    assert "label map entries that match no label of" in caplog.text and "Barock" in caplog.text
    assert "no validation images: the best epoch, early stopping and the plateau scheduler follow the training acc" \
        in caplog.text
    published = tmp_path / "published"  # the publisher's split, with Ukiyo_e only in test/
    for split, styles in (("train", ("Baroque", "Pop_Art")), ("test", ("Baroque", "Pop_Art", "Ukiyo_e"))):
        for style in styles:
            shutil.copytree(tiny_tree / style, published / split / style)
    caplog.clear()
    with caplog.at_level("WARNING", logger="artlens.train.loop"):
        loop.prepare_data(tiny_config(published, tmp_path / "published-run"), show_progress=False)
    assert "class(es) with no training image, which the model cannot learn: Ukiyo_e" in caplog.text


def test_early_stopping_a_first_phase_goes_on_from_its_best_epoch(tiny_tree, tiny_weights, tmp_path, monkeypatch,
                                                                    caplog):
    """two-phase with patience: the head phase stops early and the fine-tuning starts from its best weights."""
    from artlens.models.strategies import freeze_all_but
    from artlens.train.checkpoint import load_tensors

    starts = []

    def spy(model, names):
        starts.append((dict(model.state_dict()), dict(load_tensors(tmp_path / "run" / loop.BEST))
                       if (tmp_path / "run" / loop.BEST).exists() else None))
        return freeze_all_but(model, names)

    monkeypatch.setattr(loop, "freeze_all_but", spy)
    cfg = tiny_config(tiny_tree, tmp_path / "run", strategy__name="two-phase", strategy__head_epochs=4,
                      model__pretrained=str(tiny_weights), epochs=5, patience=1, monitor="val_acc",
                      optim__lr=50.0, optim__name="sgd")
    with caplog.at_level("INFO", logger="artlens.train.loop"):
        history = fit(cfg, show_progress=False).history
    head = [r for r in history if r["phase"] == "head"]
    assert len(head) < 4 and history[-1]["phase"] != "head"  # stopped early, then went on
    assert "starts from the best epoch (1)" in caplog.text
    second_start, best_then = starts[1]
    assert all(torch.equal(second_start[k], best_then[k]) for k in best_then)


def test_resuming_an_early_stopped_run_says_it_is_over(tiny_tree, tmp_path, caplog):
    cfg = tiny_config(tiny_tree, tmp_path / "run", epochs=5, patience=1, monitor="val_acc", optim__lr=50.0,
                      optim__name="sgd")
    stopped = len(fit(cfg, show_progress=False).history)
    assert stopped < 5
    cfg.resume = True
    with caplog.at_level("WARNING", logger="artlens.train.loop"):
        assert len(fit(cfg, show_progress=False).history) == stopped
    assert f"this run had already stopped early, after epoch {stopped} of 5" in caplog.text


def test_scratch_starts_from_random_weights_and_trains(tiny_tree, tmp_path):
    cfg = tiny_config(tiny_tree, tmp_path / "run", strategy__name="scratch", epochs=3)
    result = fit(cfg, show_progress=False)
    assert len(result.history) == 3 and result.history[-1]["train_loss"] < result.history[0]["train_loss"] * 1.5
    meta = json.loads((result.bundle / "artlens.json").read_text())
    assert meta["pretrained_from"] == "none" and meta["recipe"]["strategy"]["name"] == "scratch"


def test_run_writes_checkpoint_metrics_curves_report_and_bundle(tiny_tree, tmp_path):
    cfg = tiny_config(tiny_tree, tmp_path / "run", epochs=2, optim__scheduler="step", optim__name="sgd")
    result = fit(cfg, show_progress=False)
    run = tmp_path / "run"
    for name in ("checkpoint.pt", "metrics.csv", "curves.png", "report.json", "eval/report.md",
                 "eval/confusion_matrix.png", "model/model.safetensors", "model/artlens.json"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    meta = json.loads((result.bundle / "artlens.json").read_text())
    assert meta["classes"] == ["Baroque", "Pop_Art", "Ukiyo_e"]
    assert meta["data_fingerprint"].startswith("sha256:") and "accuracy" in meta["metrics"]
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert {"model", "optimizer", "scheduler", "rng", "config", "history"} <= set(ckpt)


def test_early_stopping_stops_after_patience(tiny_tree, tmp_path):
    cfg = tiny_config(tiny_tree, tmp_path / "run", epochs=30, patience=2, monitor="val_loss",
                      optim__lr=1e-9, optim__scheduler="none")
    result = fit(cfg, show_progress=False)
    assert len(result.history) < 30 and result.best_epoch == len(result.history) - 2


@pytest.mark.parametrize("strategy", ["full", "two-phase"])
def test_resume_after_a_kill_equals_an_uninterrupted_run(tiny_tree, tiny_weights, tmp_path, monkeypatch, strategy):
    common = dict(strategy__name=strategy, model__pretrained=str(tiny_weights), epochs=3,
                  strategy__head_epochs=1, data__augment="flip-rotate", model__dropout=0.2)
    reference = fit(tiny_config(tiny_tree, tmp_path / "straight", **common), show_progress=False)

    fit_killed_after(tiny_config(tiny_tree, tmp_path / "killed", **common), monkeypatch)
    with pytest.raises(ArtlensError, match="--resume"):
        fit(tiny_config(tiny_tree, tmp_path / "killed", **common), show_progress=False)
    resumed = fit(tiny_config(tiny_tree, tmp_path / "killed", resume=True, **common), show_progress=False)

    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    a = load_file(str(reference.bundle / "model.safetensors"))
    b = load_file(str(resumed.bundle / "model.safetensors"))
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)
    assert [round(h["train_loss"], 6) for h in reference.history] == [round(h["train_loss"], 6) for h in resumed.history]


def test_resume_refuses_a_changed_recipe(tiny_tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny_tree.parent)
    fit(tiny_config(tiny_tree.name, tmp_path / "run", epochs=1), show_progress=False)
    with pytest.raises(ArtlensError, match=r"cannot resume: 'optim.lr' differs from the checkpoint's configuration "
                                           r"\(0.\d+ vs 0.5\)$"):
        fit(tiny_config(tiny_tree, tmp_path / "run", epochs=1, resume=True, optim__lr=0.5), show_progress=False)
    # The same folder written another way is the same data: only the changed setting is named.
    with pytest.raises(ArtlensError, match=r"'optim.lr' differs"):
        fit(tiny_config(f"{tiny_tree}/", tmp_path / "run", epochs=1, resume=True, optim__lr=0.5), show_progress=False)
    fit(tiny_config(f"{tiny_tree}/", tmp_path / "run", epochs=1, resume=True), show_progress=False)  # resumes
    # More epochs for a finished run would end at once, and a killed one would stretch a schedule planned
    # for fewer: refused.
    with pytest.raises(ArtlensError, match="'epochs' differs from the checkpoint's configuration .1 vs 2."):
        fit(tiny_config(tiny_tree, tmp_path / "run", epochs=2, resume=True), show_progress=False)


def test_a_model_folder_holding_other_files_is_refused_before_training(tiny_tree, tmp_path):
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "notes.txt").write_text("mine")
    with pytest.raises(ArtlensError, match=r"model: holds files that are not part of a bundle \(notes.txt\)"):
        fit(tiny_config(tiny_tree, tmp_path / "run", epochs=1), show_progress=False)
    assert not (tmp_path / "run" / loop.CHECKPOINT).exists()
    assert (tmp_path / "run" / "model" / "notes.txt").read_text() == "mine"


def test_broken_files_are_skipped_counted_and_listed(tiny_tree, artdata, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_tree, data)
    jpeg = sorted((artdata / "wikiart11" / "Baroque").glob("*.jpg"))[20]
    (data / "Baroque" / "truncated.jpg").write_bytes(jpeg.read_bytes()[:3000])
    (data / "Pop_Art" / "not_an_image.jpg").write_text("this is a text file")
    Image.open(jpeg).convert("CMYK").save(data / "Ukiyo_e" / "cmyk.jpg")
    deep = (torch.rand(64, 64) * 65535).to(torch.int32).numpy().astype("uint16")
    Image.fromarray(deep).save(data / "Ukiyo_e" / "sixteen_bit.png")
    result = fit(tiny_config(data, tmp_path / "run", epochs=1), show_progress=False)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["n_skipped"] == 2 == len(result.skipped)
    reasons = {s["path"].rsplit("/", 1)[-1]: s["reason"] for s in report["skipped"]}
    assert reasons["truncated.jpg"].startswith("corrupt or truncated")
    assert reasons["not_an_image.jpg"].startswith("not an image")
    assert sum(report["counts"][s].get("Ukiyo_e", 0) for s in report["counts"]) == 12  # CMYK + 16-bit kept


def test_balanced_class_weights_and_mlp_head_train(tiny_tree, tmp_path):
    cfg = tiny_config(tiny_tree, tmp_path / "run", epochs=1, class_weights="balanced", model__head="mlp",
                      model__hidden=[16], model__dropout=0.1, data__max_per_class=6, optim__name="adam",
                      optim__scheduler="plateau")
    result = fit(cfg, show_progress=False)
    assert load_bundle(result.bundle).model.head[-1].in_features == 16


def test_plateau_lowers_the_rate_when_a_monitored_accuracy_stalls(tiny_tree, tmp_path):
    """A rate too small to move the weights leaves val_acc flat: the plateau must cut the rate."""
    cfg = tiny_config(tiny_tree, tmp_path / "run", epochs=4, monitor="val_acc", optim__lr=1e-5,
                      optim__scheduler="plateau", optim__plateau_patience=1, optim__gamma=0.5, optim__min_lr=0.0)
    history = fit(cfg, show_progress=False).history
    assert len({r["val_acc"] for r in history}) == 1
    assert [r["lr"] for r in history] == pytest.approx([1e-5, 1e-5, 5e-6, 5e-6])


def test_training_without_held_out_images_saves_an_unevaluated_bundle(tiny_tree, tmp_path):
    result = fit(tiny_config(tiny_tree, tmp_path / "run", epochs=1, data__val_fraction=0.0,
                             data__test_fraction=0.0), show_progress=False)
    assert result.test_metrics["split"] is None and "accuracy" not in result.test_metrics
    assert load_bundle(result.bundle).classes == ["Baroque", "Pop_Art", "Ukiyo_e"]
    assert not (tmp_path / "run" / "eval").exists()
