"""Bundles: safetensors + JSON, identical predictions after a round trip, never unpickled."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest
import torch

from artlens import ArtlensError, ModelConfig
from artlens.data import build_transform, load_image
from artlens.models import build_classifier, load_bundle, save_bundle


def tiny_cfg() -> ModelConfig:
    return ModelConfig(backbone="tiny_cnn", pretrained="none", head="mlp", hidden=[8], style_layers=["0", "1"],
                       power_norm=True, head_norm="layernorm")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = build_classifier(cfg, 3).eval()
    path = save_bundle(model, tmp_path_factory.mktemp("b") / "bundle", classes=["a", "b", "c"], model_cfg=cfg,
                       metrics={"accuracy": 0.5}, data_fingerprint="sha256:x")
    return model, path


def test_round_trip_gives_identical_predictions(saved, artdata):
    model, path = saved
    bundle = load_bundle(path)
    tf = build_transform(bundle.preprocessing)
    x = torch.stack([tf(load_image(p)) for p in sorted((artdata / "wikiart11" / "Rococo").glob("*.jpg"))[:4]])
    model = model.to(memory_format=torch.channels_last)  # the layout artlens runs every model in
    with torch.no_grad():
        assert torch.equal(model(x), bundle.model(x))
    assert bundle.classes == ["a", "b", "c"] and bundle.meta["metrics"] == {"accuracy": 0.5}


def test_a_loaded_bundle_saved_again_keeps_its_input_size(tmp_path):
    """A model trained at one size and used at another (the built-in detector: 224 px in training, read
    at the size chosen on validation) must not fall back to the backbone's own size when re-saved."""
    from dataclasses import replace

    cfg = replace(tiny_cfg(), input_size=48)
    model = build_classifier(cfg, 3).eval()
    model.backbone.preprocessing = replace(model.backbone.preprocessing, input_size=48)
    first = load_bundle(save_bundle(model, tmp_path / "first", classes=["a", "b", "c"], model_cfg=cfg))
    again = load_bundle(save_bundle(first.model, tmp_path / "again", classes=first.classes, model_cfg=cfg))
    assert first.preprocessing.input_size == again.preprocessing.input_size == 48
    assert again.preprocessing == first.preprocessing


def test_bundle_is_safetensors_and_json_only(saved):
    _, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["artlens.json", "model.safetensors"]
    meta = json.loads((path / "artlens.json").read_text())
    for key in ("backbone", "model", "classes", "preprocessing", "recipe", "metrics", "data_fingerprint",
                "artlens_version"):
        assert key in meta


def test_a_bundle_replaces_an_earlier_bundle_but_never_a_users_files(saved, tmp_path, monkeypatch):
    model, _ = saved
    cfg = tiny_cfg()
    again = save_bundle(model, tmp_path / "bundle", classes=["a", "b", "c"], model_cfg=cfg)
    save_bundle(model, again, classes=["x", "y", "z"], model_cfg=cfg)  # an earlier bundle is replaced
    assert load_bundle(again).classes == ["x", "y", "z"]

    (tmp_path / "mine" / "sub").mkdir(parents=True)
    (tmp_path / "mine" / "sub" / "notes.txt").write_text("precious")
    with pytest.raises(ArtlensError, match=r"mine: holds files that are not part of a bundle \(sub/\) and would be deleted"):
        save_bundle(model, tmp_path / "mine", classes=["a", "b", "c"], model_cfg=cfg)
    assert (tmp_path / "mine" / "sub" / "notes.txt").read_text() == "precious"
    monkeypatch.chdir(tmp_path / "mine" / "sub")
    with pytest.raises(ArtlensError, match=r"\.\.: is the working folder or contains it"):
        save_bundle(model, "..", classes=["a", "b", "c"], model_cfg=cfg)
    assert not list(tmp_path.glob(".*tmp"))  # no temporary folder left behind


def test_bundles_and_checkpoints_follow_the_umask(saved, tmp_path):
    """A bundle copied to a shared models folder, or served by another user, must stay readable."""
    from artlens.train.checkpoint import save_checkpoint

    model, _ = saved
    old = os.umask(0o022)
    try:
        bundle = save_bundle(model, tmp_path / "shared", classes=["a", "b", "c"], model_cfg=tiny_cfg())
        save_checkpoint({"epoch": 1}, tmp_path / "checkpoint.pt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in bundle.iterdir()} == {0o644}
    assert stat.S_IMODE((tmp_path / "checkpoint.pt").stat().st_mode) == 0o644


def test_half_precision_bundle_loads_as_float32(saved, tmp_path):
    model, _ = saved
    path = save_bundle(model, tmp_path / "half", classes=["a", "b", "c"], model_cfg=ModelConfig(
        backbone="tiny_cnn", pretrained="none", head="mlp", hidden=[8], style_layers=["0", "1"], power_norm=True, head_norm="layernorm"),
        half=True)
    loaded = load_bundle(path).model
    assert next(loaded.parameters()).dtype == torch.float32
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=1e-2)


def test_broken_bundles_fail_with_one_line(saved, tmp_path):
    _, path = saved
    bad = tmp_path / "bad"
    shutil.copytree(path, bad)
    (bad / "model.safetensors").write_bytes(b"\x80\x04pickle? no thanks")
    with pytest.raises(ArtlensError, match="not a valid safetensors file"):
        load_bundle(bad)
    shutil.copy(path / "model.safetensors", bad / "model.safetensors")
    meta = json.loads((bad / "artlens.json").read_text())
    meta["classes"] = ["a", "b"]
    (bad / "artlens.json").write_text(json.dumps(meta))
    with pytest.raises(ArtlensError, match="do not match the architecture"):
        load_bundle(bad)
    with pytest.raises(ArtlensError, match="not a model bundle directory"):
        load_bundle(tmp_path / "missing")
    decoder = tmp_path / "decoder"  # an AdaIN decoder folder: artlens.json too, but no model.safetensors
    decoder.mkdir()
    (decoder / "artlens.json").write_text(json.dumps({"format": "artlens-adain-decoder/1"}))
    (decoder / "decoder.safetensors").write_bytes(b"")
    with pytest.raises(ArtlensError, match=r"decoder: is an AdaIN decoder bundle, not a classifier bundle"):
        load_bundle(decoder)


@pytest.mark.parametrize("edit, message", [
    (lambda meta: meta.pop("preprocessing"), "bundle lacks preprocessing"),
    (lambda meta: meta["model"].update(future_option=1), "cannot read it .*future_option.*newer version"),
])
def test_bundles_from_other_versions_fail_with_one_line(saved, tmp_path, edit, message):
    _, path = saved
    shutil.copytree(path, tmp_path / "other")
    meta = json.loads((tmp_path / "other" / "artlens.json").read_text())
    edit(meta)
    (tmp_path / "other" / "artlens.json").write_text(json.dumps(meta))
    with pytest.raises(ArtlensError, match=message) as err:
        load_bundle(tmp_path / "other")
    assert "\n" not in str(err.value)
