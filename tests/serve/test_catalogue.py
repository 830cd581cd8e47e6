"""What a visitor sees before uploading: example paintings, preset styles, and models in plain words."""

from __future__ import annotations

import io
import json
import shutil

from fastapi.testclient import TestClient
from PIL import Image

from artlens.serve import create_app
from artlens.serve.catalogue import model_card, readable_class

from .conftest import test_config, upload
from .test_api import assert_json_error


def test_examples_list_the_shipped_paintings_and_serve_them(client):
    examples = client.get("/v1/examples").json()["examples"]
    by_name = {e["name"]: e for e in examples}
    seurat = by_name["seurat_grande_jatte_sketch.jpg"]
    assert seurat == {"name": "seurat_grande_jatte_sketch.jpg", "url": "/v1/examples/seurat_grande_jatte_sketch.jpg",
                      "title": 'Oil Sketch for "A Sunday on La Grande Jatte — 1884"', "artist": "Georges Seurat"}
    assert len(examples) == 4
    image = client.get(seurat["url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert client.post("/v1/predict", files=upload(image.content)).json()["predictions"][0]["label"] == "Pointillism"
    assert_json_error(client.get("/v1/examples/nope.jpg"), 404, "no example called 'nope.jpg'")
    assert client.get("/v1/examples/..%2F..%2Fpyproject.toml").status_code == 404  # names, never paths


def test_preset_styles_are_small_licensed_paintings(client):
    styles = client.get("/v1/styles").json()["styles"]
    assert 6 <= len(styles) <= 8
    assert {s["licence"] for s in styles} <= {"CC0", "MIT"}
    starry = next(s for s in styles if s["title"] == "The Starry Night")
    assert starry["artist"] == "Vincent van Gogh" and starry["licence"] == "MIT"
    total = 0
    for style in styles:
        image = client.get(style["url"])
        assert image.status_code == 200 and image.headers["cache-control"].startswith("public")
        with Image.open(io.BytesIO(image.content)) as img:
            assert img.format == "JPEG" and max(img.size) <= 512
        total += len(image.content)
    assert total < 1.5 * 2**20


def test_models_come_with_a_card_in_plain_words(client):
    models = {m["id"]: m for m in client.get("/v1/models").json()["models"]}
    builtin = next(m for m in models.values() if m["source"] == "built-in")
    card = builtin["card"]
    assert card["summary"].startswith("Recognises 11 painting styles: Abstract Expressionism, Baroque, Cubism, ")
    assert "Ukiyo-e" in card["classes"] and "Naive Art Primitivism" in card["classes"]
    tens = round(builtin["metrics"]["accuracy"] * 10)  # 7 for 69.4 % on its test split
    assert card["accuracy"].startswith(f"Right about {tens} times in 10 among {builtin['metrics']['n']} paintings")
    assert "WikiArt paintings" in card["trained_on"]
    tiny = models["tiny-styles@1"]["card"]
    assert tiny["trained_on"] == "Not recorded in the model's files."
    assert tiny["accuracy"] == "Right about 5 times in 10 on paintings it never saw in training."
    assert tiny["uncertain_below"] is None


def test_card_wording_without_metrics_or_classes():
    card = model_card(name="mystery", classes=[], metrics={}, trained_on=None)
    assert card["summary"] == "A model whose classes are not recorded in its files."
    assert card["accuracy"] == "Not measured: this model was saved without a test score."
    assert readable_class("golden_age_1880s") == "Golden age 1880s"


def test_predict_flags_an_answer_below_the_calibrated_threshold(models_dir, seurat, tmp_path):
    """``calibration.uncertain_below`` in a bundle's artlens.json marks weak answers ``uncertain``."""
    for name, threshold in (("unsure", 0.99), ("sure", 0.01)):
        shutil.copytree(models_dir / "tiny-v1", tmp_path / name)
        meta_path = tmp_path / name / "artlens.json"
        meta = json.loads(meta_path.read_text())
        meta_path.write_text(json.dumps({**meta, "name": name, "calibration": {"temperature": 1.5,
                                                                              "uncertain_below": threshold}}))
    with TestClient(create_app(test_config(models_dir=str(tmp_path)))) as c:
        for name, expected in (("unsure", True), ("sure", False)):
            body = c.post("/v1/predict", files=upload(seurat), data={"model": name}).json()
            assert body["uncertain"] is expected, body
        # top_k is the client's: an uncertain answer is not widened (the page asks for three itself).
        one = c.post("/v1/predict", files=upload(seurat), data={"model": "unsure", "top_k": "1"}).json()
        assert one["uncertain"] is True and len(one["predictions"]) == 1
        cards = {m["name"]: m["card"] for m in c.get("/v1/models").json()["models"]}
        assert cards["unsure"]["uncertain_below"] == 0.99
        builtin = c.post("/v1/predict", files=upload(seurat)).json()
        threshold = cards["wikiart11-style"]["uncertain_below"]  # None: never flagged
        assert builtin["uncertain"] is (threshold is not None and builtin["predictions"][0]["prob"] < threshold)
