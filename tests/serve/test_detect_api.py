"""``POST /v1/detect``: Human or AI? for one upload, from the built-in detector or a served detector bundle."""

from __future__ import annotations

from artlens.detect import DEFAULT_DETECTOR

AI = "cezanne_ai_vs_human/ai_sd15_cezanne_guidance8/valid__15.jpg"
HUMAN = "cezanne_ai_vs_human/human_cezanne_original/valid__0.jpg"


def test_an_upload_gets_a_verdict_and_the_probability_of_ai(client, artdata):
    for rel in (AI, HUMAN):
        r = client.post("/v1/detect", files={"file": ("x.jpg", (artdata / rel).read_bytes(), "image/jpeg")})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == DEFAULT_DETECTOR
        assert body["verdict"] == ("ai" if body["p_ai"] >= body["threshold"] else "human")
        assert 0.0 <= body["p_ai"] <= 1.0
        assert any("grayscale" in note for note in body["notes"])
        assert body["image"] == {"width": 384, "height": 384, "format": "JPEG"}
        assert body["feedback"] is False and body["request_id"]  # this server records nothing (no --db)


def test_a_model_that_is_not_a_detector_is_refused(client, artdata):
    r = client.post("/v1/detect", data={"model": "tiny-styles"},
                    files={"file": ("x.jpg", (artdata / AI).read_bytes(), "image/jpeg")})
    assert r.status_code == 422
    assert "not a detector" in r.json()["error"]


def test_a_file_that_is_not_an_image_is_refused(client):
    r = client.post("/v1/detect", files={"file": ("x.jpg", b"<html>not an image</html>", "image/jpeg")})
    assert r.status_code == 415


def test_the_page_has_a_human_or_ai_tab_and_openapi_lists_the_route(client):
    page = client.get("/").text
    assert 'id="tab-detect"' in page and 'id="panel-detect"' in page and "/static/detect.js" in page
    assert "/v1/detect" in client.get("/static/detect.js").text
    assert "/v1/detect" in client.get("/openapi.json").json()["paths"]
