"""The model registry: names not paths, versions side by side, one load per model however many ask."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from artlens import ArtlensError
from artlens.serve.registry import ModelRegistry, UnknownModel


def test_same_name_and_version_are_told_apart_by_folder(models_dir, tmp_path):
    root = tmp_path / "models"
    for folder in ("run-a", "run-b"):
        shutil.copytree(models_dir / "tiny-v1", root / folder)
    reg = ModelRegistry(root, include_builtin=False)
    assert [e.id for e in reg.entries()] == ["tiny-styles@1", "tiny-styles@1+run-b"]
    assert reg.defaults == {"classification": "tiny-styles@1"}


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
