"""Keeping a served model honest (issue 36), through the API, on SQLite and on PostgreSQL alike.

Every answer is recorded (hashes, size, format, top-k, embedding; never the image unless asked),
feedback comes back through ``POST /v1/feedback``, a restart keeps predictions, feedback and jobs,
``/metrics`` counts it all, aliases choose the served version without a restart, A/B arms are sticky
per client, a shadow version's answers are logged, and the corrected examples export as a manifest
that training reads.
"""

from __future__ import annotations

import hashlib
import io
import threading

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from artlens.data import read_manifest
from artlens.detect import default_detector_path
from artlens import read_bundle_meta
from artlens.ops import ABSplit, MonitorConfig, open_store, run_monitor
from artlens.serve import create_app

from ..databases import database  # noqa: F401 - the fixture
from .conftest import test_config, upload

ADMIN = "admin-token-for-the-tests-0123"
AI = "cezanne_ai_vs_human/ai_sd15_cezanne_guidance8/valid__15.jpg"
HUMAN = "cezanne_ai_vs_human/human_cezanne_original/valid__0.jpg"


def app_for(db: str, models_dir, **settings):
    """``artlens serve --models ... --default-model tiny-styles --db ...``: the newest version (2) by default."""
    return create_app(test_config(models_dir=str(models_dir), default_model="tiny-styles", db=db, **settings))


def predict(client: TestClient, data: bytes, **headers) -> dict:
    r = client.post("/v1/predict", files=upload(data), headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_every_answer_is_recorded_and_takes_one_feedback(database, models_dir, seurat):
    with TestClient(app_for(database, models_dir)) as c:
        answer = predict(c, seurat)
        assert answer["feedback"] is True and answer["model"] == "tiny-styles@2" and answer["arm"] is None
        assert c.get("/v1/models").json()["operations"] == {"feedback": True, "stores_images": False, "ab": [],
                                                             "feedback_per_minute": 30}
        wrong = next(label for label in ("Baroque", "Pop_Art", "Ukiyo_e") if label != answer["predictions"][0]["label"])
        r = c.post("/v1/feedback", json={"request_id": answer["request_id"], "label": wrong})
        assert r.status_code == 200, r.text
        assert r.json() == {"request_id": answer["request_id"], "model": "tiny-styles@2",
                            "predicted": answer["predictions"][0]["label"], "label": wrong, "correct": False}

    store = open_store(database)  # read back by another connection, as artlens monitor would
    row = store.prediction(answer["request_id"])
    width, height = Image.open(io.BytesIO(seurat)).size
    assert row["sha256"] == hashlib.sha256(seurat).hexdigest() and len(row["phash"]) == 16
    assert (row["width"], row["height"], row["format"], row["size_bytes"]) == (width, height, "JPEG", len(seurat))
    assert row["upload_path"] is None  # the image itself is not kept without --store-uploads
    assert [p["label"] for p in row["top_k"]] == [p["label"] for p in answer["predictions"]]
    assert row["embedding"] is not None and len(row["embedding"]) > 0
    assert [(f["request_id"], f["label"], f["correct"]) for f in store.feedback_rows()] == \
        [(answer["request_id"], wrong, False)]
    store.close()


def test_feedback_is_one_per_answer_for_the_model_that_answered_and_rate_limited(database, models_dir, seurat):
    with TestClient(app_for(database, models_dir, feedback_per_minute=4)) as c:
        rid = predict(c, seurat)["request_id"]
        assert c.post("/v1/feedback", json={"request_id": rid, "label": "correct"}).json()["correct"] is True
        again = c.post("/v1/feedback", json={"request_id": rid, "label": "Baroque"})
        assert again.status_code == 409 and "already has feedback" in again.json()["error"]
        assert c.post("/v1/feedback", json={"request_id": "no-such-request", "label": "Baroque"}).status_code == 404
        not_a_class = c.post("/v1/feedback", json={"request_id": rid, "label": "Cubism"})
        assert not_a_class.status_code == 422
        # Feedback cannot be filed under another model or version than the one that answered.
        other = c.post("/v1/feedback", json={"request_id": rid, "label": "Baroque", "model": "tiny-styles@1"})
        assert other.status_code == 422 and "model" in other.json()["error"]
        limited = c.post("/v1/feedback", json={"request_id": rid, "label": "Baroque"})
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "60"


def test_a_restart_keeps_predictions_feedback_and_jobs(database, models_dir, seurat):
    release = threading.Event()

    def stuck(report):  # still running when the server stops
        release.wait(30)
        return b"late"

    app = app_for(database, models_dir)
    with TestClient(app) as c:
        rid = predict(c, seurat)["request_id"]
        assert c.post("/v1/feedback", json={"request_id": rid, "label": "correct"}).status_code == 200
        jobs = app.state.jobs
        done = jobs.submit("echo", lambda report: (report(0.5, "half way"), b"\x89PNG result")[1])
        jobs.wait(done.id, timeout=30)
        running = jobs.submit("echo", stuck)
        while jobs.get(running.id).state != "running":
            threading.Event().wait(0.02)

    try:
        with TestClient(app_for(database, models_dir)) as c:  # a new server on the same database
            status = c.get(f"/v1/jobs/{done.id}").json()
            assert status["state"] == "done" and status["result"] == f"/v1/jobs/{done.id}/result"
            assert c.get(f"/v1/jobs/{done.id}/result").content == b"\x89PNG result"
            lost = c.get(f"/v1/jobs/{running.id}").json()
            assert lost["state"] == "failed" and "restarted" in lost["error"]
            assert c.post("/v1/feedback", json={"request_id": rid, "label": "correct"}).status_code == 409
        store = open_store(database)
        assert store.counts()["predictions"] == 1 and store.counts()["feedback"] == 1
        store.close()
    finally:
        release.set()


def test_finished_jobs_leave_the_database_after_the_retention_time(database, models_dir):
    release = threading.Event()
    app = app_for(database, models_dir, job_retention_hours=0.5 / 3600, job_workers=2)  # half a second
    try:
        with TestClient(app):
            jobs = app.state.jobs
            old = jobs.submit("echo", lambda report: b"old result")
            jobs.wait(old.id, timeout=30)
            running = jobs.submit("echo", lambda report: (release.wait(30), b"late")[1])
            threading.Event().wait(0.6)
            new = jobs.submit("echo", lambda report: b"new result")
            jobs.wait(new.id, timeout=30)  # as it finishes, the old ones are deleted
            store = open_store(database)  # what a restarted server would find
            assert store.load_job(old.id) is None  # finished 0.6 s ago: deleted, result and all
            assert store.load_job(new.id)["result"] == b"new result"
            assert store.load_job(running.id)["state"] in ("queued", "running")  # unfinished: never deleted
            store.close()
            release.set()
    finally:
        release.set()


def test_a_detectors_verdicts_are_recorded_take_feedback_and_are_monitored(database, models_dir, artdata, tmp_path):
    """``/v1/detect`` with a database: each verdict is recorded under its request id and the built-in
    detector's name@version, feedback names ``ai``/``human``/``correct``, and the monitor reports the
    detector beside the style models, against the drift reference the detector ships with."""
    detector_id = "{name}@{version}".format(**read_bundle_meta(default_detector_path()))
    with TestClient(app_for(database, models_dir)) as c:
        answers = []
        for rel in (AI, HUMAN):
            r = c.post("/v1/detect", files=upload((artdata / rel).read_bytes()))
            assert r.status_code == 200, r.text
            answers.append(r.json())
        assert all(a["feedback"] is True and a["request_id"] for a in answers)
        ai, human = answers
        not_a_label = c.post("/v1/feedback", json={"request_id": ai["request_id"], "label": "Baroque"})
        assert not_a_label.status_code == 422 and "(ai, human)" in not_a_label.json()["error"]
        r = c.post("/v1/feedback", json={"request_id": ai["request_id"], "label": "ai"})
        assert r.status_code == 200, r.text
        assert r.json() == {"request_id": ai["request_id"], "model": detector_id, "predicted": ai["verdict"],
                            "label": "ai", "correct": ai["verdict"] == "ai"}
        assert c.post("/v1/feedback", json={"request_id": human["request_id"], "label": "correct"}).json()["correct"]
        metrics = c.get("/metrics").text
    assert f'artlens_predictions_total{{label="{ai["verdict"]}",model="{detector_id}"}}' in metrics
    assert f'artlens_requests_total{{method="POST",model="{detector_id}",route="/v1/detect",status="200"}} 2.0' in metrics

    store = open_store(database)
    row = store.prediction(ai["request_id"])
    store.close()
    assert row["model_id"] == detector_id and row["classes"] == ["ai", "human"]
    assert row["label"] == ai["verdict"] == row["top_k"][0]["label"]  # the verdict first, as answered
    assert len(row["embedding"]) > 0

    report = run_monitor(MonitorConfig(db=database, out=str(tmp_path / "monitor")))
    info = report.models[detector_id]
    assert (info["predictions"], info["feedback"]) == (2, 2) and info["drift_reference"] is True
    assert info["confusion"]["classes"] == ["ai", "human"]
    assert info["test_class_shares"] == {"ai": 0.4, "human": 0.6}  # the upstream validation split's
    # a week's feedback is held against the accuracy of its verdicts as shipped, not its training run's argmax
    assert info["reference_accuracy"] == read_bundle_meta(default_detector_path())["detector"]["accuracy"]


def test_metrics_count_requests_predictions_and_feedback(database, models_dir, seurat):
    with TestClient(app_for(database, models_dir)) as c:
        answer = predict(c, seurat)
        c.post("/v1/feedback", json={"request_id": answer["request_id"], "label": "correct"})
        c.post("/v1/predict", files=upload(b"not an image"))
        r = c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    label = answer["predictions"][0]["label"]
    assert 'artlens_requests_total{method="POST",model="tiny-styles@2",route="/v1/predict",status="200"} 1.0' in text
    assert 'artlens_request_errors_total{method="POST",model="tiny-styles@2",route="/v1/predict",status="415"} 1.0' in text
    assert f'artlens_predictions_total{{label="{label}",model="tiny-styles@2"}} 1.0' in text
    assert 'artlens_feedback_total{model="tiny-styles@2",verdict="correct"} 1.0' in text
    assert 'artlens_request_latency_seconds_count{method="POST",model="tiny-styles@2",route="/v1/predict"} 2.0' in text


def test_promote_and_rollback_change_the_default_without_a_restart(database, models_dir, seurat):
    auth = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(app_for(database, models_dir, admin_token=ADMIN, alias_refresh_s=0.01)) as c:
        assert predict(c, seurat)["model"] == "tiny-styles@2"
        assert c.post("/v1/admin/promote", json={"model": "tiny-styles@1"}).status_code == 401
        r = c.post("/v1/admin/promote", json={"model": "tiny-styles@1"}, headers=auth)
        assert r.status_code == 200 and r.json()["defaults"]["classification"] == "tiny-styles@1"
        assert predict(c, seurat)["model"] == "tiny-styles@1"
        assert c.post("/v1/predict", files=upload(seurat), data={"model": "tiny-styles"}).json()["model"] == "tiny-styles@1"

        other = open_store(database)  # `artlens models promote` in another process
        other.set_alias("tiny-styles", "production", "2")
        threading.Event().wait(0.05)
        assert predict(c, seurat)["model"] == "tiny-styles@2"
        other.close()

        r = c.post("/v1/admin/rollback", json={"name": "tiny-styles"}, headers=auth)
        assert r.status_code == 200 and (r.json()["previous"], r.json()["version"]) == ("2", "1")
        assert predict(c, seurat)["model"] == "tiny-styles@1"
        assert c.post("/v1/predict", files=upload(seurat), data={"model": "tiny-styles@2"}).json()["model"] == "tiny-styles@2"


def test_without_an_admin_token_nothing_can_change_what_is_served(database, models_dir):
    with TestClient(app_for(database, models_dir)) as c:
        assert c.get("/v1/admin/models").status_code == 404
        assert c.post("/v1/admin/promote", json={"model": "tiny-styles@1"}).status_code == 404
        assert "/v1/admin/promote" not in c.get("/openapi.json").json()["paths"]


def test_ab_arms_are_sticky_per_client_and_follow_the_weights(database, models_dir, seurat):
    split = ABSplit.parse("tiny-styles=1:0.9,2:0.1")
    arms = [split.arm(f"visitor-{i}") for i in range(4000)]
    assert abs(arms.count("1") / len(arms) - 0.9) < 0.02  # close to the weights over many clients
    with TestClient(app_for(database, models_dir, ab=("tiny-styles=1:0.5,2:0.5",))) as c:
        seen = {}
        for i in range(8):
            first = predict(c, seurat, **{"X-Client-ID": f"visitor-{i:04d}"})
            again = predict(c, seurat, **{"X-Client-ID": f"visitor-{i:04d}"})
            assert first["model"] == again["model"] == f"tiny-styles@{first['arm']}"
            seen[f"visitor-{i:04d}"] = first["arm"]
        assert set(seen.values()) == {"1", "2"}
        # A browser gets a cookie the first time and keeps its arm with it.
        r = c.post("/v1/predict", files=upload(seurat))
        assert "artlens_client" in r.headers["set-cookie"]
        assert {predict(c, seurat)["arm"] for _ in range(3)} == {r.json()["arm"]}
        # A request naming a version is not part of the test.
        assert c.post("/v1/predict", files=upload(seurat), data={"model": "tiny-styles@1"}).json()["arm"] is None
    store = open_store(database)
    recorded = [r["arm"] for r in store.prediction_rows()]
    assert recorded.count("1") + recorded.count("2") == 20 and recorded.count(None) == 1
    store.close()


def test_ab_weights_set_by_an_admin_reach_every_server_and_survive_a_restart(database, models_dir, seurat):
    ab, auth = ("tiny-styles=1:0.5,2:0.5",), {"Authorization": f"Bearer {ADMIN}"}
    visitors = [{"X-Client-ID": f"visitor-{i:04d}"} for i in range(8)]
    one = app_for(database, models_dir, ab=ab, admin_token=ADMIN, alias_refresh_s=0.0)
    two = app_for(database, models_dir, ab=ab, alias_refresh_s=0.0)  # another server on the same database
    with TestClient(one) as a, TestClient(two) as b:
        assert {predict(b, seurat, **v)["arm"] for v in visitors} == {"1", "2"}
        r = a.put("/v1/admin/ab", json={"name": "tiny-styles", "weights": {"2": 1}}, headers=auth)
        assert r.status_code == 200 and r.json() == {"ab": "tiny-styles=1:0,2:1"}
        assert {predict(b, seurat, **v)["arm"] for v in visitors} == {"2"}
        assert b.get("/v1/models").json()["operations"]["ab"] == ["tiny-styles=1:0,2:1"]
        typo = a.put("/v1/admin/ab", json={"name": "tiny-styles", "weights": {"3": 1}}, headers=auth)
        assert typo.status_code == 422 and "no arm '3'" in typo.json()["error"]
    with TestClient(app_for(database, models_dir, ab=ab, alias_refresh_s=0.0)) as c:  # restarted
        assert {predict(c, seurat, **v)["arm"] for v in visitors} == {"2"}
    store = open_store(database)
    store.set_alias("tiny-styles", "candidate", "1")
    store.close()
    with TestClient(app_for(database, models_dir, ab=("tiny-styles=candidate:0.5,2:0.5",),
                            alias_refresh_s=0.0)) as c:  # other arms: the stored weights do not apply
        assert {predict(c, seurat, **v)["arm"] for v in visitors} == {"candidate", "2"}


def test_a_shadow_version_scores_every_request_and_is_only_logged(database, models_dir, seurat):
    with TestClient(app_for(database, models_dir, shadow=("tiny-styles=1",))) as c:
        answers = [predict(c, seurat) for _ in range(2)]
        assert {a["model"] for a in answers} == {"tiny-styles@2"}
        store = open_store(database)
        for _ in range(100):
            shadows = store.shadow_rows()
            if len(shadows) == 2:
                break
            threading.Event().wait(0.05)
        assert sorted(s["request_id"] for s in shadows) == sorted(a["request_id"] for a in answers)
        assert {s["model_id"] for s in shadows} == {"tiny-styles@1"}
        store.close()


def test_corrected_examples_export_as_a_training_manifest(database, models_dir, seurat, tmp_path):
    uploads = tmp_path / "uploads"
    auth = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(app_for(database, models_dir, store_uploads=str(uploads), admin_token=ADMIN)) as c:
        assert c.get("/v1/models").json()["operations"]["stores_images"] is True
        answer = predict(c, seurat)
        c.post("/v1/feedback", json={"request_id": answer["request_id"], "label": "Ukiyo_e"})
        r = c.get("/v1/admin/feedback/export", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    manifest = tmp_path / "feedback.csv"
    manifest.write_bytes(r.content)
    samples = read_manifest(manifest)  # what `artlens train --data feedback.csv` reads
    assert [s.label for s in samples] == ["Ukiyo_e"]
    assert open(samples[0].path, "rb").read() == seurat


def test_ab_and_store_uploads_need_a_database(models_dir):
    from artlens import ArtlensError

    with pytest.raises(ArtlensError, match="--ab and --shadow need --db"):
        create_app(test_config(models_dir=str(models_dir), ab=("tiny-styles=1:1,2:1",)))
    with pytest.raises(ArtlensError, match="--store-uploads needs --db"):
        create_app(test_config(models_dir=str(models_dir), store_uploads="x"))
