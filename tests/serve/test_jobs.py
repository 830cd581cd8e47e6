"""Background jobs: bounded queue (429 when full), progress, results, and style transfer through them."""

from __future__ import annotations

import io
import threading
import time

import pytest
from PIL import Image

from artlens.serve.batching import MicroBatcher
from artlens.serve.jobs import JobQueue, QueueFull

from .conftest import test_config


def test_a_job_reports_progress_and_its_result():
    jobs = JobQueue(max_pending=2)
    seen = []
    submitted = threading.Event()  # a worker may start the job before submit() has returned its id

    def work(report):
        submitted.wait(10)
        for i in range(1, 5):
            report(i / 4, f"step {i}/4")
            seen.append(jobs.get(job.id).to_dict()["progress"])
        return b"picture"

    job = jobs.submit("test", work)
    submitted.set()
    done = jobs.wait(job.id, timeout=10)
    assert done.state == "done" and done.result == b"picture" and seen == [0.25, 0.5, 0.75, 1.0]
    assert done.to_dict()["result"] == f"/v1/jobs/{job.id}/result"


def test_a_failing_job_is_reported_not_fatal():
    jobs = JobQueue(max_pending=2)

    def work(report):
        raise ValueError("style image is all black")

    failed = jobs.wait(jobs.submit("test", work).id, timeout=10)
    assert failed.state == "failed" and failed.error == "style image is all black"
    assert jobs.wait(jobs.submit("test", lambda report: b"ok").id, timeout=10).state == "done"  # worker alive


def test_the_queue_is_bounded():
    jobs, release = JobQueue(max_pending=2), threading.Event()
    running = jobs.submit("test", lambda report: (release.wait(10), b"")[1])
    while jobs.get(running.id).state != "running":
        time.sleep(0.01)
    waiting = [jobs.submit("test", lambda report: b"") for _ in range(2)]
    with pytest.raises(QueueFull):
        jobs.submit("test", lambda report: b"")
    assert jobs.stats() == {"queued": 2, "running": 1, "capacity": 2, "per_client": 3}
    release.set()
    assert all(jobs.wait(j.id, timeout=10).state == "done" for j in waiting)


def test_finished_jobs_are_forgotten_oldest_first():
    jobs = JobQueue(max_pending=8, keep=2)
    ids = [jobs.submit("test", lambda report: b"").id for _ in range(4)]
    jobs.wait(ids[-1], timeout=10)
    assert [jobs.get(i) is not None for i in ids] == [False, False, True, True]


def test_the_batcher_runs_waiting_requests_together():
    sizes, started, release = [], threading.Event(), threading.Event()

    def double(xs):
        sizes.append(len(xs))
        started.set()
        release.wait(10)
        return [2 * x for x in xs]

    batcher = MicroBatcher(double, max_batch=4, max_wait_ms=0)
    first = batcher.submit(0)
    started.wait(10)  # the model is busy with the first request ...
    rest = [batcher.submit(i) for i in range(1, 7)]  # ... while six more arrive
    release.set()
    assert [f.result(10) for f in [first, *rest]] == [0, 2, 4, 6, 8, 10, 12]
    assert sizes == [1, 4, 2] and batcher.mean_batch == 7 / 3
    batcher.close()


def test_job_routes_follow_a_job_to_its_png(client):
    jobs, release = client.app.state.jobs, threading.Event()
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, format="PNG")

    def work(report):
        report(0.5, "half way")
        release.wait(10)
        return png.getvalue()

    job = jobs.submit("test", work)
    while jobs.get(job.id).progress < 0.5:
        time.sleep(0.01)
    status = client.get(f"/v1/jobs/{job.id}").json()
    assert status["state"] == "running" and status["progress"] == 0.5 and status["message"] == "half way"
    early = client.get(f"/v1/jobs/{job.id}/result")
    assert early.status_code == 409 and "running" in early.json()["error"]
    release.set()
    jobs.wait(job.id, timeout=10)
    assert client.get(f"/v1/jobs/{job.id}").json()["result"] == f"/v1/jobs/{job.id}/result"
    result = client.get(f"/v1/jobs/{job.id}/result")
    assert result.status_code == 200 and result.headers["content-type"] == "image/png" and result.content == png.getvalue()
    for bad in ("0" * 32, "..secret", "x"):
        response = client.get(f"/v1/jobs/{bad}")
        assert response.status_code == 404 and "unknown job" in response.json()["error"]


@pytest.fixture()
def content_and_style(artdata):
    content = sorted((artdata / "style_refs" / "content").iterdir())[0].read_bytes()
    style = sorted((artdata / "style_refs" / "style").iterdir())[0].read_bytes()
    return content, style


def stylize(client, content: bytes, style: bytes, **data):
    files = [("content", ("content.jpg", content, "image/jpeg")), ("style", ("style.jpg", style, "image/jpeg"))]
    return client.post("/v1/stylize", files=files, data={k: str(v) for k, v in data.items()})


def test_gatys_runs_as_a_job_with_progress(client, content_and_style):
    response = stylize(client, *content_and_style, method="gatys", steps=3, size=64)
    assert response.status_code == 202, response.text
    job = response.json()["job"]
    assert response.headers["location"] == f"/v1/jobs/{job['id']}" and job["state"] in ("queued", "running")
    client.app.state.jobs.wait(job["id"], timeout=120)
    status = client.get(f"/v1/jobs/{job['id']}").json()
    assert status["state"] == "done", status
    result = Image.open(io.BytesIO(client.get(status["result"]).content))
    assert max(result.size) == 64


def test_a_full_queue_answers_429(client, content_and_style):
    jobs, release = client.app.state.jobs, threading.Event()
    blockers = [jobs.submit("test", lambda report: (release.wait(30), b"")[1], client="10.0.0.1")]
    while jobs.get(blockers[0].id).state != "running":
        time.sleep(0.01)
    # Two other clients fill the queue (2): one client alone could not, its share is 2 jobs.
    blockers += [jobs.submit("test", lambda report: b"", client=f"10.0.0.{i}") for i in (2, 3)]
    try:
        response = stylize(client, *content_and_style, method="gatys", steps=3, size=64)
        assert response.status_code == 429 and response.headers["retry-after"] == "30"
        assert "2 jobs are already waiting" in response.json()["error"]
    finally:
        release.set()
    for job in blockers:
        jobs.wait(job.id, timeout=30)


def test_stylize_errors_are_json(client, content_and_style):
    content, style = content_and_style
    response = stylize(client, content, style, method="cubism")
    assert response.status_code == 422 and "unknown style method 'cubism'" in response.json()["error"]
    response = stylize(client, content, b"<html></html>", method="gatys")
    assert response.status_code == 415 and response.json()["error"].startswith("style[0]: not an image")
    response = stylize(client, content, style, method="gatys", steps=100000)
    assert response.status_code == 422 and "steps: at most 500" in response.json()["error"]
    response = stylize(client, content, style, alpha=1.5)
    assert response.status_code == 422 and "alpha" in response.json()["error"]


def test_adain_works_out_of_the_box_with_the_built_in_decoder(client, content_and_style):
    adain = client.get("/v1/models").json()["features"]["stylize"]["adain"]
    assert adain == {"available": True, "decoders": ["adain-lite0"]}  # the test models folder holds none
    response = stylize(client, *content_and_style, method="adain", alpha=0.5, size=128)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"


def test_without_any_decoder_adain_says_why(monkeypatch):
    from artlens.serve import features

    monkeypatch.setattr(features, "builtin_decoder", lambda: None)  # an installation without the asset
    stylizers = features.Stylizers(None)
    status = stylizers.status()["adain"]
    assert status["available"] is False and "no AdaIN decoder installed" in status["reason"]
    with pytest.raises(features.FeatureUnavailable, match="no AdaIN decoder installed"):
        stylizers.adain(Image.new("RGB", (64, 64)), [Image.new("RGB", (64, 64))])


@pytest.fixture(scope="module")
def adain_client(artdata, tmp_path_factory):
    """A service whose models folder holds an AdaIN decoder (trained for 4 steps at 32 px: fast, not pretty)."""
    from artlens.style.adain import AdainTrainConfig, train_decoder

    data = tmp_path_factory.mktemp("adain_data")
    for kind in ("content", "style"):
        (data / kind).mkdir()
        for p in sorted((artdata / "style_refs" / kind).glob("*.jpg"))[:4]:
            with Image.open(p) as img:
                img.convert("RGB").resize((64, 64)).save(data / kind / p.name)
    models = tmp_path_factory.mktemp("adain_models")
    train_decoder(AdainTrainConfig(content=str(data / "content"), style=str(data / "style"), out=str(models / "starry"),
                                   encoder="efficientnet_lite0", steps=4, batch_size=2, size=32, load_size=40,
                                   checkpoint_every=2, sample_every=4))
    from fastapi.testclient import TestClient

    from artlens.serve import create_app

    with TestClient(create_app(test_config(models_dir=str(models), preload=False))) as c:
        yield c


def test_adain_answers_the_stylised_png_at_once(adain_client, content_and_style):
    adain = adain_client.get("/v1/models").json()["features"]["stylize"]["adain"]
    # the built-in decoder first, then the models folder's, named after its run folder (not "decoder")
    assert adain == {"available": True, "decoders": ["adain-lite0", "starry"]}
    images = {}
    for alpha in (0.0, 1.0):
        response = stylize(adain_client, *content_and_style, method="adain", alpha=alpha, size=64)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        images[alpha] = Image.open(io.BytesIO(response.content)).convert("RGB")
    assert max(images[1.0].size) == 64  # size is the longer side, for AdaIN as for Gatys
    assert images[0.0].tobytes() != images[1.0].tobytes()  # alpha reaches the decoder
    content, style = content_and_style
    files = [("content", ("c.jpg", content, "image/jpeg"))] + [("style", (f"s{i}.jpg", style, "image/jpeg")) for i in (0, 1)]
    weighted = adain_client.post("/v1/stylize", files=files, data={"method": "adain", "size": "64", "style_weights": "3,1"})
    assert weighted.status_code == 200, weighted.text
    miscounted = adain_client.post("/v1/stylize", files=files, data={"method": "adain", "style_weights": "1"})
    assert miscounted.status_code == 422 and "one weight per style image (2)" in miscounted.json()["error"]
    response = stylize(adain_client, *content_and_style, method="adain", decoder="../../secret")
    assert response.status_code == 422 and "unknown decoder" in response.json()["error"]


def test_decoders_are_named_after_their_run_and_clashes_keep_the_path(tmp_path):
    from artlens.serve.features import decoder_names

    folders = [tmp_path / "starry" / "decoder", tmp_path / "a" / "wave", tmp_path / "b" / "wave"]
    assert decoder_names(folders, tmp_path) == {"starry": folders[0], "a-wave": folders[1], "b-wave": folders[2]}


def test_closing_stops_the_workers():
    jobs = JobQueue(max_pending=1, workers=3)
    jobs.close()
    for t in jobs._threads:
        t.join(timeout=5)
    assert not any(t.is_alive() for t in jobs._threads)


# -- fairness, estimates, positions, cancelling (issue 28) -------------------------------------------


def _blocked_queue(**kwargs):
    """A queue whose one worker is busy with client C's job until ``release`` is set."""
    jobs, release = JobQueue(**kwargs), threading.Event()
    first = jobs.submit("test", lambda report: (release.wait(30), b"")[1], client="C")
    while jobs.get(first.id).state != "running":
        time.sleep(0.01)
    return jobs, release, first


def test_clients_take_turns_and_each_job_knows_its_place():
    jobs, release, _ = _blocked_queue(max_pending=8, per_client=3)
    order = []

    def job(name):
        return lambda report: (order.append(name), b"")[1]

    a1, a2, a3 = (jobs.submit("test", job(f"A{i}"), client="A") for i in (1, 2, 3))
    b1 = jobs.submit("test", job("B1"), client="B")
    # A came first with three jobs, but B's first job runs before A's second.
    assert [jobs.get(j.id).position for j in (a1, b1, a2, a3)] == [1, 2, 3, 4]
    assert jobs.get(a1.id).to_dict()["position"] == 1
    release.set()
    for j in (a1, a2, a3, b1):
        jobs.wait(j.id, timeout=10)
    assert order == ["A1", "B1", "A2", "A3"]
    assert jobs.get(a3.id).to_dict()["position"] is None  # finished: no place in the queue


def test_one_client_cannot_fill_the_queue():
    jobs, release, _ = _blocked_queue(max_pending=8, per_client=2)
    mine = [jobs.submit("test", lambda report: b"", client="A") for _ in range(2)]
    with pytest.raises(QueueFull, match="you have 2 jobs queued or running already, the share of one client"):
        jobs.submit("test", lambda report: b"", client="A")
    other = jobs.submit("test", lambda report: b"", client="B")  # others still get in
    release.set()
    assert all(jobs.wait(j.id, timeout=10).state == "done" for j in [*mine, other])


def test_cancelling_a_queued_job_removes_it_and_moves_the_others_up():
    jobs, release, _ = _blocked_queue(max_pending=8)
    ran = []
    first, second = (jobs.submit("test", lambda report, n=n: (ran.append(n), b"")[1], client=f"c{n}") for n in (1, 2))
    assert jobs.get(second.id).position == 2
    cancelled = jobs.cancel(first.id)
    assert cancelled.state == "cancelled" and cancelled.position is None
    assert jobs.get(second.id).position == 1
    release.set()
    jobs.wait(second.id, timeout=10)
    assert ran == [2] and jobs.cancel("f" * 32) is None


def test_a_running_job_stops_at_its_next_progress_report():
    jobs, steps = JobQueue(max_pending=2), []

    def long_work(report):
        for i in range(10_000):
            report(i / 10_000, f"step {i}")
            steps.append(i)
            time.sleep(0.01)
        return b"never"

    job = jobs.submit("test", long_work)
    while len(steps) < 3:
        time.sleep(0.01)
    assert jobs.cancel(job.id).message == "cancelling at the next step"
    done = jobs.wait(job.id, timeout=10)
    assert done.state == "cancelled" and done.result is None and len(steps) < 100


def test_a_job_past_its_time_limit_fails_with_a_reason():
    jobs = JobQueue(max_pending=2, timeout_s=0.2)

    def endless(report):
        while True:
            report(0.5, "working")
            time.sleep(0.02)

    failed = jobs.wait(jobs.submit("test", endless).id, timeout=10)
    assert failed.state == "failed" and failed.error == "stopped after the 0.2 s time limit for a job"


def test_gatys_estimates_grow_with_steps_and_pixels_and_follow_the_presets_levels():
    from artlens import GatysConfig
    from artlens.serve.features import gatys_cpu_cost, gatys_estimate_s

    photo = (1024, 768)
    small = gatys_estimate_s(GatysConfig(extractor="efficientnet_lite0", steps=100, size=384), photo)
    assert 3 < small < 20  # 150 steps of EfficientNet-Lite0 at up to 384 px: seconds on 2 cores
    vgg = gatys_estimate_s(GatysConfig(extractor="vgg19", steps=100, size=384), photo)
    assert vgg > 5 * small  # VGG19 is the slow family, and a family not measured is estimated as it
    assert gatys_cpu_cost("timm/resnet50") == gatys_cpu_cost("vgg19") != gatys_cpu_cost("efficientnet_lite0")
    big = gatys_estimate_s(GatysConfig(extractor="efficientnet_lite0", steps=500, size=1024), (1024, 1024))
    assert big > 10 * small
    assert gatys_estimate_s(GatysConfig(extractor="efficientnet_lite0", steps=100, size=384, device="cuda"), photo,
                            device="cuda") < small / 5
    # EfficientNet-Lite0's preset runs 2 scales: 100 iterations at 192 px, then 50 at 384 px.
    levels = [gatys_estimate_s(GatysConfig(extractor="efficientnet_lite0", steps=n, size=side, scales=1), photo)
              - gatys_cpu_cost("efficientnet_lite0").setup_s for side, n in ((192, 100), (384, 50))]
    assert small == pytest.approx(gatys_cpu_cost("efficientnet_lite0").setup_s + sum(levels))
    one_scale = gatys_estimate_s(GatysConfig(extractor="efficientnet_lite0", steps=100, size=384, scales=1), photo)
    assert one_scale != pytest.approx(small)  # an explicit --scales changes the estimate as it changes the run


def test_job_routes_cancel_and_report_position_and_estimate(client, content_and_style):
    jobs, release = client.app.state.jobs, threading.Event()
    blocker = jobs.submit("test", lambda report: (release.wait(30), b"")[1], client="10.0.0.9")
    try:
        while jobs.get(blocker.id).state != "running":
            time.sleep(0.01)
        response = stylize(client, *content_and_style, method="gatys", steps=50, size=96)
        assert response.status_code == 202, response.text
        job = response.json()["job"]
        assert job["state"] == "queued" and job["position"] == 1 and job["estimate_s"] > 0
        assert client.get(f"/v1/jobs/{job['id']}").json()["position"] == 1
        cancelled = client.delete(f"/v1/jobs/{job['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["job"]["state"] == "cancelled"
        result = client.get(f"/v1/jobs/{job['id']}/result")
        assert result.status_code == 409 and "is cancelled" in result.json()["error"]
        running = client.delete(f"/v1/jobs/{blocker.id}")  # running: asked to stop, it stops at its next step
        assert running.status_code == 202 and running.json()["job"]["state"] == "running"
        missing = client.delete("/v1/jobs/" + "0" * 32)
        assert missing.status_code == 404 and "unknown job" in missing.json()["error"]
    finally:
        release.set()
    assert jobs.wait(blocker.id, timeout=10).state == "cancelled"  # finished its work, but nobody wants it
