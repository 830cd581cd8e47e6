"""Ensembles: several bundles saved as one that predicts their mean probability, used like any bundle."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from artlens import ArtlensError, ModelConfig, evaluate, predict
from artlens.cli import app
from artlens.data import build_transform, load_image
from artlens.models import EnsembleClassifier, build_classifier, load_bundle, save_bundle, save_ensemble

CLASSES = ["Baroque", "Pop_Art", "Ukiyo_e"]


def _member(root, name: str, seed: int, input_size: int = 64, classes=CLASSES, **model):
    torch.manual_seed(seed)
    cfg = ModelConfig(backbone="tiny_cnn", pretrained="none", style_layers=["0", "1"], power_norm=True,
                      head_norm="batchnorm", **model)
    net = build_classifier(cfg, len(classes), backbone_kwargs={"input_size": input_size})
    net.norm.running_mean.normal_()  # a fitted-looking head, so that members disagree
    net.norm.running_var.uniform_(0.5, 2.0)
    return save_bundle(net.eval(), root / name, classes=list(classes), model_cfg=cfg)


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    root = tmp_path_factory.mktemp("members")
    return [_member(root, "small", 0, input_size=48), _member(root, "large", 1, input_size=64)]


@pytest.fixture(scope="module")
def ensemble(members, tmp_path_factory):
    return save_ensemble([load_bundle(p) for p in members], tmp_path_factory.mktemp("ens") / "ensemble")


def _images(artdata, n=4):
    return sorted((artdata / "wikiart11" / "Ukiyo_e").glob("*.jpg"))[:n]


def test_ensemble_predicts_the_mean_of_its_members_probabilities(members, ensemble, artdata):
    ens = load_bundle(ensemble)
    assert ens.preprocessing.input_size == 48  # the first member's input; the others get resized copies
    x = torch.stack([build_transform(ens.preprocessing)(load_image(p)) for p in _images(artdata)])
    small, large = (load_bundle(p).model for p in members)
    with torch.no_grad():
        x64 = torch.nn.functional.interpolate(x, size=(64, 64), mode="bicubic", antialias=True)
        expected = (small(x).softmax(-1) + large(x64).softmax(-1)) / 2
        got = ens.model(x).softmax(-1)
        assert torch.allclose(got, expected, atol=1e-6)
        assert not torch.allclose(small(x).softmax(-1), large(x64).softmax(-1), atol=1e-3)  # members do disagree


def test_each_member_sees_the_input_in_proportion_to_its_own_size(ensemble):
    model = load_bundle(ensemble).model
    seen = []
    for member in model.members:
        member.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape[-2:])))
    with torch.no_grad():
        model(torch.zeros(2, 3, 48, 48))  # the ensemble's own size: the first member's, unchanged
        model(torch.zeros(1, 3, 96, 96))  # twice that (explain at another size): every member twice its own
    assert seen == [(48, 48), (64, 64), (96, 96), (128, 128)]


def test_predict_and_evaluate_take_an_ensemble_like_any_bundle(ensemble, tiny_tree, artdata, tmp_path):
    rows = predict(_images(artdata, 2), model=ensemble, top_k=3)
    assert [len(r["predictions"]) for r in rows] == [3, 3]
    assert all(abs(sum(p["prob"] for p in r["predictions"]) - 1) < 1e-3 for r in rows)
    report = evaluate(ensemble, tiny_tree, tmp_path, split="all", show_progress=False)
    assert report["n_evaluated"] == 30 and (tmp_path / "confusion_matrix.png").is_file()


def test_ensemble_bundle_is_one_safetensors_file_and_json(ensemble, members):
    assert sorted(p.name for p in ensemble.iterdir()) == ["artlens.json", "model.safetensors"]
    meta = json.loads((ensemble / "artlens.json").read_text())
    assert meta["kind"] == "ensemble" and meta["classes"] == CLASSES
    assert [m["name"] for m in meta["members"]] == ["small", "large"]
    assert [m["preprocessing"]["input_size"] for m in meta["members"]] == [48, 64]


def test_half_precision_ensemble_loads_as_float32_and_agrees(members, ensemble, tmp_path):
    half = save_ensemble([load_bundle(p) for p in members], tmp_path / "half", half=True)
    full, loaded = load_bundle(ensemble).model, load_bundle(half).model
    assert next(loaded.parameters()).dtype == torch.float32
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        assert torch.allclose(full(x).exp(), loaded(x).exp(), atol=1e-2)


def test_members_with_other_classes_are_refused(members, tmp_path):
    other = _member(tmp_path, "other", 2, classes=["a", "b", "c"])
    with pytest.raises(ArtlensError, match="classes differ"):
        save_ensemble([load_bundle(members[0]), load_bundle(other)], tmp_path / "bad")


def test_an_ensemble_is_not_a_member(members, ensemble, tmp_path):
    with pytest.raises(ArtlensError, match="is itself an ensemble"):
        save_ensemble([load_bundle(members[0]), load_bundle(ensemble)], tmp_path / "nested")


def test_members_that_normalise_differently_are_refused(members, tmp_path):
    keras_like = load_bundle(_member(tmp_path, "k", 3))
    keras_like.preprocessing = type(keras_like.preprocessing)(input_size=64, mean=(0, 0, 0), std=(1, 1, 1))
    with pytest.raises(ArtlensError, match="preprocess differently"):
        save_ensemble([load_bundle(members[0]), keras_like], tmp_path / "bad")


def test_a_member_list_that_does_not_match_the_weights_fails_with_one_line(ensemble, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes((ensemble / "model.safetensors").read_bytes())
    meta = json.loads((ensemble / "artlens.json").read_text())
    meta["members"] = meta["members"][:1]
    (broken / "artlens.json").write_text(json.dumps(meta))
    with pytest.raises(ArtlensError, match="do not match the architecture") as err:
        load_bundle(broken)
    assert "\n" not in str(err.value)


def test_a_bundle_of_unknown_kind_fails_with_one_line_naming_its_file(ensemble, tmp_path):
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "model.safetensors").write_bytes((ensemble / "model.safetensors").read_bytes())
    meta = json.loads((ensemble / "artlens.json").read_text())
    (odd / "artlens.json").write_text(json.dumps({**meta, "kind": "stack"}))
    with pytest.raises(ArtlensError) as err:
        load_bundle(odd)
    assert str(err.value) == f"{odd / 'artlens.json'}: unknown bundle kind 'stack'; choose from: classifier, ensemble"


def test_ensemble_exposes_its_first_member_to_layer_tools(ensemble):
    model = load_bundle(ensemble).model
    assert isinstance(model, EnsembleClassifier)
    assert model.backbone is model.members[0].backbone and model.style_layers == ["0", "1"]
    with torch.no_grad():
        assert model.embed(torch.zeros(1, 3, 48, 48)).shape[1] == sum(m.embed_dim for m in model.members)


def test_cli_builds_an_ensemble_that_predict_uses(members, artdata, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli-ensemble-with-a-long-name-so-that-the-line-is-wider-than-any-terminal-default"
    result = runner.invoke(app, ["ensemble", *map(str, members), "--out", str(out), "--half"], catch_exceptions=False)
    assert result.exit_code == 0
    assert f"wrote {out} (2 members)\n" in result.output  # one line, however wide: the path can be copied
    result = runner.invoke(app, ["predict", str(_images(artdata, 1)[0]), "--model", str(out), "--json"],
                           catch_exceptions=False)
    assert result.exit_code == 0
    assert json.loads(result.output)[0]["predictions"][0]["label"] in CLASSES
    proc = subprocess.run([sys.executable, "-m", "artlens", "ensemble", str(members[0]), "--out", str(tmp_path / "one")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: ensemble: give at least two bundles"


def test_a_calibrated_ensemble_loads_with_its_temperature(members, artdata, tmp_path):
    from artlens.data.dataset import Sample
    from artlens.evaluate.calibration import calibrate

    path = save_ensemble([load_bundle(p) for p in members], tmp_path / "calibrated")
    x = torch.stack([build_transform(load_bundle(path).preprocessing)(load_image(p)) for p in _images(artdata)])
    with torch.no_grad():
        raw = load_bundle(path).model(x)
    samples = [Sample(str(p), label) for label in CLASSES for p in
               sorted((artdata / "wikiart11" / label).glob("*.jpg"))[:4]]
    fitted = calibrate(path, samples, tta="none", show_progress=False)
    assert fitted.temperature != 1.0 and fitted.nll_after <= fitted.nll_before
    with torch.no_grad():
        tempered = load_bundle(path).model(x)  # the stored temperature is applied on load, as for one network
    assert torch.allclose(tempered, raw / fitted.temperature, atol=1e-5)


@pytest.mark.parametrize("tta", ["none", "flip"])
def test_a_served_ensemble_records_every_members_embedding_joined_for_drift(members, artdata, tmp_path, tta):
    """The web service keeps each answer's embedding for ``artlens monitor``, caught while the answer is
    computed. An ensemble's is its members' joined, as its ``embed`` joins them (the unflipped view's)."""
    from artlens.serve.registry import ModelRegistry

    path = save_ensemble([load_bundle(p) for p in members], tmp_path / "models" / "ensemble", extra={"tta": tta})
    registry = ModelRegistry(tmp_path / "models", include_builtin=False, device="cpu")
    try:
        served = registry.loaded(None)
        assert served.tta == tta
        image = load_image(_images(artdata, 1)[0])
        probs, embedding = served.predict_with_embedding(image)
    finally:
        registry.close()
    bundle = load_bundle(path)
    with torch.no_grad():
        expected = bundle.model.embed(build_transform(bundle.preprocessing)(image)[None])[0].numpy()
    assert embedding.shape == (bundle.model.embed_dim,) == (sum(m.embed_dim for m in bundle.model.members),)
    assert np.allclose(embedding, expected, rtol=1e-3, atol=1e-4)
    assert probs.shape == (len(CLASSES),) and abs(probs.sum() - 1) < 1e-5


def test_an_ensemble_keeps_a_drift_reference_of_its_joined_embeddings(ensemble, tiny_tree, artdata, tmp_path):
    """``artlens models reference``: what an ensemble's served embeddings are compared with."""
    import shutil

    from artlens.ops import add_drift_reference, drift_score, embed_images

    copy = tmp_path / "ensemble"
    shutil.copytree(ensemble, copy)
    reference = add_drift_reference(copy, tiny_tree, limit=20)
    bundle = load_bundle(copy)
    assert bundle.meta["drift_reference"] == reference  # stored in artlens.json, the rest as it was
    assert {k: v for k, v in bundle.meta.items() if k != "drift_reference"} == load_bundle(ensemble).meta
    assert (reference["n"], reference["dims"]) == (20, bundle.model.embed_dim)
    assert reference["class_shares"] == {"Baroque": 1 / 3, "Pop_Art": 1 / 3, "Ukiyo_e": 1 / 3}
    incoming, _, _ = embed_images(bundle.model, bundle.preprocessing, _images(artdata, 8))
    assert drift_score(reference, incoming)["n"] == 8
