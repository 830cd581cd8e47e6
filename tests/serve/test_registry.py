"""The model registry: names not paths, versions side by side, one load per model however many ask."""

from __future__ import annotations

import logging
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from artlens import ArtlensError
from artlens.serve.registry import ModelRegistry, UnknownModel, find_bundles


def test_same_name_and_version_are_told_apart_by_folder(models_dir, tmp_path):
    root = tmp_path / "models"
    for folder in ("run-a", "run-b"):
        shutil.copytree(models_dir / "tiny-v1", root / folder)
    reg = ModelRegistry(root, include_builtin=False)
    assert [e.id for e in reg.entries()] == ["tiny-styles@1", "tiny-styles@1+run-b"]
    assert reg.defaults == {"classification": "tiny-styles@1"}


def test_a_name_no_request_could_send_is_served_under_one_it_can(models_dir, tmp_path):
    """``train --out "runs/Stile Barock"`` names its bundle after the folder; the service lists it under a
    name that passes its own check, and answers to it."""
    import json

    shutil.copytree(models_dir / "tiny-v1", tmp_path / "models" / "run a")
    shutil.copytree(models_dir / "tiny-v1", tmp_path / "models" / "run b")
    for folder in ("run a", "run b"):
        meta_path = tmp_path / "models" / folder / "artlens.json"
        meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "name": "Stile Barock (périodes)"}))
    reg = ModelRegistry(tmp_path / "models", include_builtin=False)
    assert [e.id for e in reg.entries()] == ["Stile-Barock-periodes@1", "Stile-Barock-periodes@1+run-b"]
    assert [reg.resolve(e.id).id for e in reg.entries()] == [e.id for e in reg.entries()]


def test_default_model_can_be_chosen(models_dir):
    reg = ModelRegistry(models_dir, default_model="tiny-styles@1")
    assert reg.defaults["classification"] == "tiny-styles@1" and reg.resolve(None).id == "tiny-styles@1"
    with pytest.raises(ArtlensError, match="--default-model: unknown model 'nope'"):
        ModelRegistry(models_dir, default_model="nope")


def test_a_folder_without_bundles_is_a_one_line_error(tmp_path):
    with pytest.raises(ArtlensError, match="no model bundles found"):
        ModelRegistry(tmp_path, include_builtin=False)
    with pytest.raises(UnknownModel) as err:
        ModelRegistry(None).resolve("C:\\models\\x")
    assert err.value.status == 422


def test_concurrent_first_requests_load_a_model_once(models_dir, monkeypatch):
    import artlens.serve.registry as registry_module

    loads = []
    real_load = registry_module.load_bundle
    monkeypatch.setattr(registry_module, "load_bundle", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    reg = ModelRegistry(models_dir, device="cpu")
    with ThreadPoolExecutor(8) as pool:
        models = list(pool.map(lambda _: reg.loaded("tiny-styles"), range(8)))
    assert len(loads) == 1 and all(m is models[0] for m in models)
    reg.close()


def test_a_bundle_without_a_date_is_older_than_any_dated_version(models_dir, tmp_path):
    import json

    shutil.copytree(models_dir / "tiny-v1", tmp_path / "legacy")
    meta = json.loads((tmp_path / "legacy" / "artlens.json").read_text())
    meta.pop("created")
    meta["version"] = "0-legacy"
    (tmp_path / "legacy" / "artlens.json").write_text(json.dumps(meta))
    for v in ("tiny-v1", "tiny-v2"):
        shutil.copytree(models_dir / v, tmp_path / v)
    registry = ModelRegistry(tmp_path, include_builtin=False)
    assert registry.resolve("tiny-styles").id == "tiny-styles@2"
    assert [e.id for e in registry.entries()] == ["tiny-styles@2", "tiny-styles@1", "tiny-styles@0-legacy"]


def test_a_broken_model_file_is_the_servers_fault_and_its_path_stays_private(models_dir, tmp_path):
    shutil.copytree(models_dir / "tiny-v2", tmp_path / "tiny-v2")
    (tmp_path / "tiny-v2" / "model.safetensors").write_bytes(b"not weights")
    registry = ModelRegistry(tmp_path, include_builtin=False)
    with pytest.raises(UnknownModel) as err:
        registry.loaded("tiny-styles")
    assert err.value.status == 503 and str(tmp_path) not in str(err.value)
    assert "tiny-styles@2 is installed but cannot be loaded" in str(err.value)


def test_bundles_are_found_with_the_librarys_reader(models_dir, caplog):
    """``artlens.read_bundle_meta`` decides: a broken bundle is skipped with its reason in the log, a
    folder of another format (an AdaIN decoder, say) is no bundle at all and is passed over silently."""
    with caplog.at_level(logging.WARNING, logger="artlens.serve"):
        found = [path.name for path, _ in find_bundles(models_dir)]
    assert found == ["tiny-v1", "tiny-v2"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "broken: skipped" in warnings[0] and "invalid JSON" in warnings[0]


def test_a_loaded_model_answers_with_the_librarys_predictor(models_dir, seurat):
    """The served model is an ``artlens.Predictor``: same probabilities as ``predictor.probs``, same words as ``artlens.top_k``."""
    import io

    from PIL import Image

    from artlens import Predictor, top_k

    reg = ModelRegistry(models_dir, device="cpu", include_builtin=False)
    try:
        served = reg.loaded("tiny-styles@1")
        assert isinstance(served.predictor, Predictor)
        image = Image.open(io.BytesIO(seurat)).convert("RGB")
        probs = served.predict(image)
        assert probs.tolist() == served.predictor.probs([served.predictor.views(image)])[0].tolist()
        assert served.answer(probs, 2) == top_k(probs, served.entry.classes, 2)
    finally:
        reg.close()
