"""The REST API as a client uses it: models, predict, explain, and every error as a JSON 4xx/5xx."""

from __future__ import annotations

import io
import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from artlens import ArtlensError
from artlens.models import default_bundle_path

from .conftest import jpeg_bytes, test_config, upload

#: The built-in model's id as the registry lists it (its version is the time it was shipped).
BUILTIN = "wikiart11-style@" + json.loads((default_bundle_path() / "artlens.json").read_text())["version"]


def assert_json_error(response, status: int, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status and body["request_id"] == response.headers["x-request-id"]
    for fragment in fragments:
        assert fragment in body["error"], body["error"]
    return body


def test_healthz_echoes_the_client_request_id(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert response.headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "not a sane id\x7f"}).headers["x-request-id"]
    assert generated != "not a sane id\x7f" and len(generated) == 16


def test_models_lists_builtin_and_versions_side_by_side(client, models_dir):
    body = client.get("/v1/models").json()
    ids = [m["id"] for m in body["models"]]
    assert ids == [BUILTIN, "tiny-styles@2", "tiny-styles@1"]  # broken/other files skipped
    assert body["defaults"] == {"classification": BUILTIN}  # style by default
    builtin = body["models"][0]
    assert builtin["source"] == "built-in" and len(builtin["classes"]) == 11 and builtin["metrics"]["accuracy"] > 0.6
    assert str(models_dir) not in json.dumps(body)  # clients see names, never paths
    assert body["features"]["explain"]["available"] and "gradcam" in body["features"]["explain"]["methods"]


def test_predict_labels_a_real_painting_with_the_default_model(client, seurat):
    response = client.post("/v1/predict", files=upload(seurat), data={"top_k": "3"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == BUILTIN
    assert [p["label"] for p in body["predictions"]][0] == "Pointillism"
    probs = [p["prob"] for p in body["predictions"]]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert body["image"] == {"width": 512, "height": 313, "format": "JPEG"} and body["latency_ms"] > 0


def test_a_model_name_means_its_newest_version(client, seurat):
    newest = client.post("/v1/predict", files=upload(seurat), data={"model": "tiny-styles", "top_k": "10"}).json()
    assert newest["model"] == "tiny-styles@2" and len(newest["predictions"]) == 3  # top_k capped by the classes
    older = client.post("/v1/predict", files=upload(seurat), data={"model": "tiny-styles@1"}).json()
    assert older["model"] == "tiny-styles@1" and older["predictions"] != newest["predictions"]


@pytest.mark.parametrize(("model", "status", "fragment"), [
    ("../../etc/passwd", 422, "paths are not accepted"),
    ("/work/main/src/artlens/assets/models/wikiart11-style", 422, "paths are not accepted"),
    ("nope", 404, f"available: {BUILTIN}, tiny-styles@2"),
    ("tiny-styles@3", 404, "unknown model 'tiny-styles@3'"),
])
def test_model_names_are_validated_against_the_registry(client, seurat, model, status, fragment):
    assert_json_error(client.post("/v1/predict", files=upload(seurat), data={"model": model}), status, fragment)


def _bomb_png(side: int) -> bytes:
    """A blank 1-bit PNG: a few kilobytes on disk, ``side``² pixels once decoded."""
    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, format="PNG")
    return buf.getvalue()


def test_uploads_are_checked_by_decoding_not_by_name(client, seurat):
    html = b"<!doctype html><html><body>not a painting</body></html>"
    assert_json_error(client.post("/v1/predict", files=upload(html, "starry_night.jpg")), 415, "file: not an image")
    assert_json_error(client.post("/v1/predict", files=upload(seurat[: len(seurat) // 2])), 422, "corrupt or truncated")
    assert_json_error(client.post("/v1/predict", files=upload(b"")), 422, "empty upload")
    # A real PNG sent with a .jpg name and a JPEG content type is accepted as what it is.
    png = io.BytesIO()
    Image.open(io.BytesIO(seurat)).save(png, format="PNG")
    body = client.post("/v1/predict", files=upload(png.getvalue(), "painting.jpg")).json()
    assert body["image"]["format"] == "PNG" and body["predictions"][0]["label"] == "Pointillism"


def test_decompression_bombs_and_big_files_are_refused_with_413(client, artdata):
    over_our_limit, over_pillows_limit = _bomb_png(5000), _bomb_png(20000)  # 25 and 400 megapixels
    assert len(over_our_limit) < 10_000 and len(over_pillows_limit) < 100_000
    assert_json_error(client.post("/v1/predict", files=upload(over_our_limit, "tiny.png")), 413,
                      "decompression bomb refused: 5000x5000 = 25 megapixels exceeds the 4 megapixel limit")
    beyond_pillow = assert_json_error(client.post("/v1/predict", files=upload(over_pillows_limit, "tiny.png")), 413,
                                      "file: decompression bomb refused: the image declares 400 megapixels, "
                                      "over the 4 megapixel limit")
    assert "DOS attack" not in beyond_pillow["error"]  # the service's words, not Pillow's
    with Image.open(artdata / "style_refs" / "style" / sorted(p.name for p in (artdata / "style_refs" / "style").iterdir())[0]) as img:
        big = jpeg_bytes(img.convert("RGB").resize((1900, 1900)), quality=100)  # ~1.3 MB > the 1 MB test limit
    assert 1.05 * 2**20 < len(big) < 5 * 2**20
    assert_json_error(client.post("/v1/predict", files=upload(big)), 413, "file: larger than the 1.0 MB limit")
    # Far beyond the whole-request limit: refused from Content-Length, before the body is read ...
    assert_json_error(client.post("/v1/predict", files=upload(b"\0" * 6 * 2**20)), 413, "request body is larger")

    def chunked_upload():  # ... or, without a Content-Length, as soon as the streamed bytes pass it
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        for _ in range(100):
            yield b"\0" * 2**16
        yield b"\r\n--x--\r\n"

    response = client.post("/v1/predict", content=chunked_upload(),
                           headers={"content-type": "multipart/form-data; boundary=x"})
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_json_error(response, 413, "request body is larger than the 5.1 MB limit")


def test_exif_orientation_is_applied(client, seurat):
    img = Image.open(io.BytesIO(seurat))  # 512 x 313, stored rotated with an EXIF "rotate 90" tag
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = jpeg_bytes(img.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())
    body = client.post("/v1/predict", files=upload(rotated)).json()
    assert (body["image"]["width"], body["image"]["height"]) == (512, 313)
    assert body["predictions"][0]["label"] == "Pointillism"


def test_a_large_photo_is_decoded_as_artlens_predict_decodes_it(client, seurat, tmp_path):
    """Big JPEGs decode at a reduced scale: the service's probabilities are predict's, the size the upload's."""
    from artlens.predict import Predictor

    big = Image.open(io.BytesIO(seurat)).convert("RGB").resize((2000, 1250), Image.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = jpeg_bytes(big.transpose(Image.Transpose.ROTATE_90), quality=75, exif=exif.tobytes())
    body = client.post("/v1/predict", files=upload(photo), data={"top_k": "11"}).json()
    assert (body["image"]["width"], body["image"]["height"]) == (2000, 1250)
    (tmp_path / "photo.jpg").write_bytes(photo)
    results, _ = Predictor()([tmp_path / "photo.jpg"], top_k=11)
    assert body["predictions"] == results[0]["predictions"]


def test_form_mistakes_and_unknown_routes_are_json(client, seurat):
    assert_json_error(client.post("/v1/predict", data={"top_k": "3"}), 422, "file: Field required")
    assert_json_error(client.post("/v1/predict", files=upload(seurat), data={"top_k": "0"}), 422, "top_k")
    assert_json_error(client.get("/v1/nothing"), 404, "no such route: GET /v1/nothing")
    assert_json_error(client.delete("/v1/models"), 405)


def test_a_crash_is_a_json_500_with_the_request_id(client, seurat, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(client.app.state.registry, "loaded", boom)
    response = client.post("/v1/predict", files=upload(seurat), headers={"X-Request-ID": "crash-1"})
    assert_json_error(response, 500, "internal server error")
    assert "simulated bug" not in response.text  # internals stay in the log ...
    assert any("[crash-1]" in r.getMessage() and r.exc_info for r in caplog.records)  # ... under the request id


def test_an_overloaded_model_answers_503_not_a_hang(client, seurat, monkeypatch):
    model = client.app.state.registry.loaded(None)

    def too_slow(image, timeout=120.0):
        raise TimeoutError

    monkeypatch.setattr(model, "predict", too_slow)
    response = client.post("/v1/predict", files=upload(seurat))
    assert_json_error(response, 503, "server is overloaded")
    assert response.headers["retry-after"] == "10"


def test_concurrent_requests_get_the_same_answers_as_single_ones(client, artdata):
    files = sorted((artdata / "aic_periods" / "golden_age_1870s").glob("*.jpg"))[:8]
    datas = [p.read_bytes() for p in files]

    def ask(data: bytes) -> list:
        response = client.post("/v1/predict", files=upload(data), data={"top_k": "2"})
        assert response.status_code == 200, response.text
        return response.json()["predictions"]

    single = [ask(d) for d in datas]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(ask, datas))
    for a, b in zip(single, together):
        assert [p["label"] for p in a] == [p["label"] for p in b]
        assert all(abs(p["prob"] - q["prob"]) < 2e-3 for p, q in zip(a, b))


def test_explain_returns_the_cam_overlay_png(client, seurat):
    response = client.post("/v1/explain", files=upload(seurat))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-label"] == "Pointillism" and float(response.headers["x-prob"]) > 0.5
    overlay = Image.open(io.BytesIO(response.content))
    assert overlay.size == (512, 313)  # drawn on the painting itself, not on the 224 px model input
    # Another class can be explained on request.
    other = client.post("/v1/explain", files=upload(seurat), data={"target": "Fauvism"})
    assert other.headers["x-label"] == "Fauvism" and other.headers["x-predicted"] == "Pointillism"
    # Any served model and CAM method; a centre-cropping model's map covers the crop it saw.
    tiny = client.post("/v1/explain", files=upload(seurat), data={"model": "tiny-styles@1", "method": "gradcam++"})
    assert tiny.status_code == 200, tiny.text
    assert tiny.headers["x-model"] == "tiny-styles@1" and tiny.headers["x-method"] == "gradcam++"
    assert Image.open(io.BytesIO(tiny.content)).size == (512, 313)  # the whole painting, the crop it saw in place


def test_explain_draws_the_map_on_the_upload_at_its_own_size_as_artlens_explain_does(client, artdata):
    """A 1120 x 704 photo comes back 1024 x 644 (its shape, longest side bounded for the web), drawn by the
    library's CamExplainer.on_picture, with the library's caption in X-Caption; a 2000 x 1800 JPEG, which the
    model's decode reads at a quarter of its size (a 500 x 450 JPEG draft), is drawn from a second, larger decode."""
    from urllib.parse import unquote

    import numpy as np

    from artlens.explain import CamExplainer

    photo_path = artdata / "style_refs" / "content" / "naoto0804__newyork.jpg"
    response = client.post("/v1/explain", files=upload(photo_path.read_bytes()))
    assert response.status_code == 200, response.text
    served = Image.open(io.BytesIO(response.content)).convert("RGB")
    assert served.size == (1024, 644)
    explainer = CamExplainer()  # the built-in model, as the server's default
    with Image.open(photo_path) as photo:
        result = explainer.explain(photo)
        drawn = explainer.on_picture(photo, result, max_side=1024)
    assert np.abs(np.asarray(served, np.float32) - np.asarray(drawn, np.float32)).mean() < 1.0
    assert unquote(response.headers["x-caption"]) == explainer.caption(result)
    assert f"gradcam on {explainer.layer}" in unquote(response.headers["x-caption"])

    big = jpeg_bytes(Image.open(photo_path).resize((2000, 1800), Image.BICUBIC), quality=75)
    assert len(big) < 2**20  # under the test server's upload limit
    large = client.post("/v1/explain", files=upload(big))
    assert large.status_code == 200, large.text
    assert Image.open(io.BytesIO(large.content)).size == (1024, 922)


def test_explain_errors_are_json(client, seurat):
    assert_json_error(client.post("/v1/explain", files=upload(seurat), data={"method": "magic"}), 422,
                      "unknown CAM method 'magic'", "gradcam")
    assert_json_error(client.post("/v1/explain", files=upload(seurat), data={"target": "Cubismo"}), 404,
                      f"unknown class 'Cubismo' for {BUILTIN}; the model's classes: Abstract_")
    assert_json_error(client.post("/v1/explain", files=upload(b"GIF89a-but-not-really")), 415)


def test_explain_maps_the_class_predict_answers_for_a_bundle_with_tta(artdata, tmp_path):
    """A copy of the built-in model that asks for flip TTA: on this photo (photos_ccby, CC BY) the mirrored
    view changes the top label (Baroque alone, Naive Art averaged), and /v1/explain reports
    /v1/predict's class and probability."""
    from fastapi.testclient import TestClient

    from artlens.models import default_bundle_path
    from artlens.serve import create_app

    shutil.copytree(default_bundle_path(), tmp_path / "flipped")
    meta = json.loads((tmp_path / "flipped" / "artlens.json").read_text())
    assert meta["tta"] == "none"  # the built-in model as it ships
    (tmp_path / "flipped" / "artlens.json").write_text(json.dumps({**meta, "name": "style-flip", "tta": "flip"}))
    photo = (artdata / "photos_ccby" / "348618ddbde3a39c.jpg").read_bytes()
    flip = {"model": "style-flip"}
    with TestClient(create_app(test_config(models_dir=str(tmp_path)))) as c:
        top = c.post("/v1/predict", files=upload(photo), data=flip).json()["predictions"][0]
        cam = c.post("/v1/explain", files=upload(photo), data=flip)
        other = c.post("/v1/explain", files=upload(photo), data={**flip, "target": "Baroque"})
        plain = c.post("/v1/explain", files=upload(photo)).headers["x-label"]  # the built-in model, one view
    assert cam.status_code == 200, cam.text
    assert cam.headers["x-label"] == cam.headers["x-predicted"] == top["label"] != plain
    assert float(cam.headers["x-prob"]) == pytest.approx(top["prob"], abs=2e-3)
    assert other.headers["x-label"] == "Baroque" and other.headers["x-predicted"] == top["label"]


def test_a_thread_of_an_image_is_refused_before_a_model_resizes_it(client):
    """8000 x 1 pixels: tiny as a file, two gigapixels once a cropping model resizes its short side to 256."""
    buf = io.BytesIO()
    Image.new("RGB", (8000, 1), "white").save(buf, format="PNG")
    response = client.post("/v1/predict", files=upload(buf.getvalue()), data={"model": "tiny-styles"})
    assert_json_error(response, 422, "8000x1 pixels is not a picture a model can read (sides more than 50:1 apart)")


def test_a_service_started_in_bf16_says_so_and_answers_as_predict_does_in_bf16(models_dir, seurat, client, tmp_path):
    from fastapi.testclient import TestClient

    from artlens import Predictor
    from artlens.serve import create_app

    assert client.get("/healthz").json()["precision"] == "auto"
    with pytest.raises(ArtlensError, match="serve.precision: 'half' is not allowed; choose from: auto, fp32, bf16, fp16"):
        test_config(precision="half")
    with TestClient(create_app(test_config(models_dir=str(models_dir), precision="bf16"))) as c:
        assert c.get("/healthz").json()["precision"] == "bf16"
        response = c.post("/v1/predict", files=upload(seurat), data={"model": "tiny-styles", "top_k": "3"})
        assert response.status_code == 200, response.text
    (tmp_path / "seurat.jpg").write_bytes(seurat)
    want = Predictor(models_dir / "tiny-v2", device="cpu", precision="bf16")([tmp_path / "seurat.jpg"], top_k=3)
    want = want[0][0]["predictions"]
    got = response.json()["predictions"]
    assert [p["label"] for p in got] == [p["label"] for p in want]
    assert max(abs(a["prob"] - b["prob"]) for a, b in zip(got, want)) < 2e-3


def test_a_broken_model_is_a_503_for_predict_and_explain_and_hides_its_path(models_dir, seurat, tmp_path):
    from fastapi.testclient import TestClient

    from artlens.serve import create_app

    shutil.copytree(models_dir / "tiny-v2", tmp_path / "tiny-v2")
    (tmp_path / "tiny-v2" / "model.safetensors").write_bytes(b"not weights")
    with TestClient(create_app(test_config(models_dir=str(tmp_path)))) as c:
        for route in ("/v1/predict", "/v1/explain"):
            body = assert_json_error(c.post(route, files=upload(seurat), data={"model": "tiny-styles"}), 503,
                                     "tiny-styles@2 is installed but cannot be loaded")
            assert str(tmp_path) not in body["error"]
