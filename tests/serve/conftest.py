"""Fixtures of the service tests: a models folder with two versions of a tiny model, a shared app."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from artlens import ModelConfig
from artlens.models import build_classifier, save_bundle
from artlens.serve import ServeConfig, create_app

SEURAT = "aic_periods/golden_age_1880s/61616.jpg"  # oil sketch for "La Grande Jatte" (CC0): Pointillism


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """Two versions of ``tiny-styles`` side by side, plus files the registry must ignore."""
    root = tmp_path_factory.mktemp("served")
    cfg = ModelConfig(backbone="tiny_cnn", pretrained="none")
    for version, created in (("1", "2026-01-01T00:00:00+00:00"), ("2", "2026-06-01T00:00:00+00:00")):
        torch.manual_seed(int(version))
        save_bundle(build_classifier(cfg, 3), root / f"tiny-v{version}", classes=["Baroque", "Pop_Art", "Ukiyo_e"],
                    model_cfg=cfg, name="tiny-styles", metrics={"split": "test", "accuracy": 0.5 * int(version)},
                    extra={"version": version})
        meta_path = root / f"tiny-v{version}" / "artlens.json"
        meta = json.loads(meta_path.read_text())
        meta["created"] = created
        meta_path.write_text(json.dumps(meta))
    (root / "broken").mkdir()
    (root / "broken" / "artlens.json").write_text("{not json")
    (root / "decoder").mkdir()
    (root / "decoder" / "artlens.json").write_text(json.dumps({"format": "some-other-kind/1"}))
    return root


def test_config(**settings) -> ServeConfig:
    """A CPU service that answers to TestClient's ``Host: testserver``: allowed by configuration, as
    ``--allowed-host`` would, not by loosening the DNS-rebinding guard."""
    return ServeConfig(**{"device": "cpu", "allowed_hosts": ("testserver",), **settings})


test_config.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def client(models_dir):
    """The app as served, with small limits so that the limits can be tested with small files."""
    app = create_app(test_config(models_dir=str(models_dir), max_upload_mb=1.0, max_pixels=4_000_000,
                                 queue_size=2))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="session")
def seurat(artdata) -> bytes:
    return (artdata / SEURAT).read_bytes()


def jpeg_bytes(img: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **{"quality": 90, **kwargs})
    return buf.getvalue()


def upload(data: bytes, name: str = "painting.jpg", field: str = "file", mime: str = "image/jpeg") -> dict:
    return {field: (name, data, mime)}
