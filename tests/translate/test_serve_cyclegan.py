"""A CycleGAN bundle in ``artlens serve --models`` is the ``cyclegan`` method of ``POST /v1/stylize``."""

from __future__ import annotations

import io
import shutil

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from artlens.serve import ServeConfig, create_app


@pytest.fixture(scope="module")
def served(translator_bundle, tmp_path_factory):
    models = tmp_path_factory.mktemp("served_cyclegan")
    shutil.copytree(translator_bundle, models / "photo2monet" / "model")  # as artlens cyclegan train writes it
    app = create_app(ServeConfig(models_dir=str(models), device="cpu", allowed_hosts=("testserver",), preload=False))
    with TestClient(app) as client:
        yield client


def _photo(artdata, size=(90, 60)) -> bytes:
    path = sorted((artdata / "photos_ccby").glob("*.jpg"))[2]
    buf = io.BytesIO()
    Image.open(path).convert("RGB").resize(size).save(buf, format="JPEG")
    return buf.getvalue()


def test_the_models_list_offers_the_cyclegan_method(served):
    info = served.get("/v1/models").json()
    # the built-in photo -> Impressionism model first, then those of --models
    assert info["features"]["stylize"]["cyclegan"] == {"available": True,
                                                       "models": ["photo2impressionism", "photo2monet"],
                                                       "directions": ["a2b", "b2a"]}
    # GET /v1/models lists the bundle too, under its own task (the page's classifier picker leaves it out)
    assert sum(m["task"] == "image-translation" for m in info["models"]) == 1


def test_stylize_with_cyclegan_needs_no_style_image(served, artdata):
    files = {"content": ("photo.jpg", _photo(artdata), "image/jpeg")}
    response = served.post("/v1/stylize", files=files, data={"method": "cyclegan", "size": "64", "direction": "b2a",
                                                             "translator": "photo2monet"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (64, 43)  # longer side 64, the photo's 3:2
    unknown = served.post("/v1/stylize", files=files, data={"method": "cyclegan", "translator": "../etc"})
    assert unknown.status_code == 422 and "unknown CycleGAN model" in unknown.json()["error"]
    no_style = served.post("/v1/stylize", files=files, data={"method": "adain"})
    assert no_style.status_code == 422 and "needs 1 to 4 style images" in no_style.json()["error"]


def test_with_no_models_folder_the_built_in_cyclegan_paints_a_photo(artdata, tmp_path):
    app = create_app(ServeConfig(models_dir=str(tmp_path), device="cpu", allowed_hosts=("testserver",), preload=False))
    with TestClient(app) as client:
        assert client.get("/v1/models").json()["features"]["stylize"]["cyclegan"]["models"] == ["photo2impressionism"]
        files = {"content": ("photo.jpg", _photo(artdata, (91, 60)), "image/jpeg")}
        response = client.post("/v1/stylize", files=files, data={"method": "cyclegan", "size": "91"})
        assert response.status_code == 200, response.text
        assert Image.open(io.BytesIO(response.content)).size == (91, 60)


def test_without_a_bundle_cyclegan_is_unavailable_with_a_reason(artdata, tmp_path, monkeypatch):
    from artlens.serve import features

    monkeypatch.setattr(features, "builtin_translator", lambda: None)  # an installation without the asset
    app = create_app(ServeConfig(models_dir=str(tmp_path), device="cpu", allowed_hosts=("testserver",), preload=False))
    with TestClient(app) as client:
        status = client.get("/v1/models").json()["features"]["stylize"]["cyclegan"]
        assert status["available"] is False and "artlens cyclegan train" in status["reason"]
        files = {"content": ("photo.jpg", _photo(artdata), "image/jpeg")}
        response = client.post("/v1/stylize", files=files, data={"method": "cyclegan"})
        assert response.status_code == 503 and response.json()["error"] == status["reason"]


def test_naming_a_cyclegan_where_a_classifier_is_needed_is_the_requests_mistake(served, artdata):
    listed = next(m["id"] for m in served.get("/v1/models").json()["models"] if m["task"] == "image-translation")
    files = {"file": ("photo.jpg", _photo(artdata), "image/jpeg")}
    response = served.post("/v1/predict", files=files, data={"model": listed})
    assert response.status_code == 422
    assert "has task 'image-translation'; this needs a 'classification' model" in response.json()["error"]
