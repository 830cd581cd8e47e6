"""The service under abuse (issue 28): slow work cannot starve cheap answers, a client that leaves
takes its waiting work with it, stopping drops the backlog, and other web sites cannot drive it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import uvicorn
from fastapi.testclient import TestClient

from artlens.serve import create_app
from artlens.serve.guard import HostAndOriginGuard
from artlens.serve.work import Busy, ClientGone, CostClass

from .conftest import test_config, upload
from .test_api import assert_json_error

#: Generous bounds: a cheap answer normally takes milliseconds; these only fail when it waits behind work.
CHEAP_S = 5.0
PREDICT_S = 20.0


@pytest.fixture()
def gated(models_dir):
    """A service whose CAMs (fast and slow) block until ``gate`` is set: stand-ins for 50-second scorecams."""
    app = create_app(test_config(models_dir=str(models_dir), compute_queue=2, queue_size=4, jobs_per_client=2))
    gate, calls = threading.Event(), []

    def explain(entry, image, *, method="gradcam", target=None, progress=None):
        calls.append(method)
        while not gate.wait(0.05):
            if progress is not None:
                progress(0.5, "thinking")  # a job's report: raises once the job is cancelled
        raise RuntimeError("released")  # never reached by a request that is still listening in these tests

    app.state.explainers.explain = explain
    with TestClient(app) as client:
        yield client, gate, calls
        gate.set()


def _timed(fn):
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start


def test_a_burst_of_slow_explanations_leaves_health_predict_and_the_page_answering(gated, seurat):
    client, gate, calls = gated
    # 45 at once: more than the 40 threads Starlette runs sync endpoints in.
    with ThreadPoolExecutor(45) as pool:
        burst = [pool.submit(client.post, "/v1/explain", files=upload(seurat)) for _ in range(45)]
        deadline = time.monotonic() + 30
        while len(calls) < 1 or sum(f.done() for f in burst) < 42:  # 1 running + 2 waiting; the rest refused
            assert time.monotonic() < deadline, f"{len(calls)} started, {sum(f.done() for f in burst)} answered"
            time.sleep(0.05)
        refused = [f.result() for f in burst if f.done()]
        assert len(refused) == 42
        for response in refused:
            assert_json_error(response, 429, "explain/adain: 1 running and 2 waiting already")
            assert response.headers["retry-after"] == "10"
        health, health_s = _timed(lambda: client.get("/healthz"))
        assert health.status_code == 200 and health_s < CHEAP_S
        assert health.json()["work"]["compute"] == {"running": 1, "waiting": 2, "workers": 1, "capacity": 2,
                                                    "done": 0, "refused": 42, "timed_out": 0, "abandoned": 0}
        predicted, predict_s = _timed(lambda: client.post("/v1/predict", files=upload(seurat)))
        assert predicted.status_code == 200 and predict_s < PREDICT_S
        page, page_s = _timed(lambda: client.get("/"))
        assert page.status_code == 200 and page_s < CHEAP_S
        assert sum(not f.done() for f in burst) == 3  # the accepted three still wait for the CAM
        gate.set()
    assert sum(f.result().status_code == 500 for f in burst) == 3  # the stand-in raises once released
    assert len(calls) == 3  # the refused 42 never ran


def test_slow_cam_methods_run_as_jobs_with_a_share_per_client(gated, seurat):
    client, gate, calls = gated
    answers = [client.post("/v1/explain", files=upload(seurat), data={"method": "scorecam"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    job = answers[0].json()["job"]
    assert job["kind"] == "scorecam" and job["estimate_s"] >= 30 and job["info"]["method"] == "scorecam"
    assert answers[1].json()["job"]["position"] == 1  # the first runs, the second waits
    assert_json_error(answers[2], 429, "the share of one client")
    health, health_s = _timed(lambda: client.get("/healthz"))
    assert health.status_code == 200 and health_s < CHEAP_S
    # cancelled: the queued one at once, the running one at its next report. The queued one first: the
    # running one ends within 0.05 s of its cancel, and the worker it frees must not find the other waiting
    for answer in reversed(answers[:2]):
        assert client.delete(answer.headers["location"]).status_code in (200, 202)
    for answer in answers[:2]:
        job_id = answer.json()["job"]["id"]
        assert client.app.state.jobs.wait(job_id, timeout=10).state == "cancelled"
    assert calls == ["scorecam"]


def test_a_slow_cam_job_delivers_the_png_and_its_label(client, seurat, monkeypatch):
    """The real thing end to end, with the scorecam stand-in swapped for gradcam to stay fast."""
    explainers = client.app.state.explainers
    real = explainers.explain
    monkeypatch.setattr(explainers, "explain", lambda entry, image, method, **kw: real(entry, image, method="gradcam", **kw))
    response = client.post("/v1/explain", files=upload(seurat), data={"method": "ablationcam"})
    assert response.status_code == 202, response.text
    job = client.app.state.jobs.wait(response.json()["job"]["id"], timeout=60)
    assert job.state == "done", job.error
    status = client.get(f"/v1/jobs/{job.id}").json()
    assert status["info"]["label"] == "Pointillism" and status["info"]["method"] == "ablationcam"
    result = client.get(status["result"])
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    assert result.headers["x-label"] == "Pointillism" and float(result.headers["x-prob"]) > 0.5


def test_work_past_its_time_limit_is_a_503(models_dir, seurat):
    app = create_app(test_config(models_dir=str(models_dir), compute_timeout_s=0.5))
    gate = threading.Event()
    app.state.explainers.explain = lambda *args, **kwargs: gate.wait(30)
    with TestClient(app) as client:
        try:
            response = client.post("/v1/explain", files=upload(seurat))
            assert_json_error(response, 503, "explain/adain: no answer within 0.5 s")
            assert response.headers["retry-after"] == "10"
        finally:
            gate.set()


def test_stopping_answers_the_waiting_requests_at_once(gated, seurat):
    client, gate, calls = gated
    with ThreadPoolExecutor(3) as pool:
        waiting = [pool.submit(client.post, "/v1/explain", files=upload(seurat)) for _ in range(3)]
        while client.get("/healthz").json()["work"]["compute"]["waiting"] < 2:
            time.sleep(0.05)
        deadline = time.monotonic() + CHEAP_S
        client.app.state.stop_work()  # what `artlens serve` calls at SIGTERM
        while sum(f.done() for f in waiting) < 2:  # at once, not after the running one
            assert time.monotonic() < deadline, [f.done() for f in waiting]
            time.sleep(0.02)
        answered = [f for f in waiting if f.done()]
        assert len(answered) == 2
        for f in answered:
            assert_json_error(f.result(), 503, "the server is shutting down")
        gate.set()
    assert len(calls) == 1


# -- a client that leaves -----------------------------------------------------------------------------


def test_work_whose_client_left_is_dropped_before_it_starts():
    work, release, ran = CostClass("test", workers=1, waiting=4, timeout_s=30), threading.Event(), []
    work.submit(release.wait, 30)  # the only worker is busy
    left = {"now": False}

    async def is_disconnected():
        return left["now"]

    async def scenario():
        task = asyncio.ensure_future(work.run(ran.append, "never", is_disconnected=is_disconnected))
        await asyncio.sleep(0.3)
        left["now"] = True
        with pytest.raises(ClientGone):
            await task

    asyncio.run(scenario())
    release.set()
    deadline = time.monotonic() + 5
    while work.stats()["running"] or work.stats()["waiting"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert ran == [] and work.stats()["abandoned"] == 1
    with pytest.raises(Busy, match="1 running and 0 waiting already"):
        full = CostClass("full", workers=1, waiting=0, timeout_s=1)
        full.submit(release.wait, 1)
        full.submit(release.wait, 1)


def test_a_real_disconnect_drops_the_waiting_explanation(models_dir, seurat):
    """Over a real socket with uvicorn: the client sends its upload and hangs up while it waits."""
    app = create_app(test_config(models_dir=str(models_dir), preload=False))
    gate, calls = threading.Event(), []

    def explain(entry, image, **kwargs):
        calls.append(entry.id)
        gate.wait(30)
        raise RuntimeError("released")

    app.state.explainers.explain = explain
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        import httpx

        with ThreadPoolExecutor(1) as pool:
            busy = pool.submit(httpx.post, f"{base}/v1/explain", files=upload(seurat), timeout=60)
            while not calls:
                time.sleep(0.05)
            boundary = "artlensboundary"
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
                    "Content-Type: image/jpeg\r\n\r\n").encode() + seurat + f"\r\n--{boundary}--\r\n".encode()
            with socket.create_connection(("127.0.0.1", port)) as raw:
                raw.sendall(f"POST /v1/explain HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                            f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                deadline = time.monotonic() + 10
                while app.state.work["compute"].stats()["waiting"] < 1:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            # The socket is closed: the waiting request notices within a poll and drops its work.
            deadline = time.monotonic() + 10
            while app.state.work["compute"].stats()["abandoned"] < 1:
                assert time.monotonic() < deadline, app.state.work["compute"].stats()
                time.sleep(0.05)
            gate.set()
            assert busy.result().status_code == 500  # the stand-in's "released"
        assert len(calls) == 1  # the abandoned explanation never ran
    finally:
        gate.set()
        server.should_exit = True
        thread.join(timeout=10)


# -- other web sites and foreign host names -----------------------------------------------------------


def test_cross_origin_posts_and_deletes_are_refused(client, seurat):
    evil = {"Origin": "https://evil.example"}
    body = assert_json_error(client.post("/v1/predict", files=upload(seurat), headers=evil), 403,
                             "cross-origin POST from 'https://evil.example' refused")
    assert "--allow-origin" in body["error"]
    assert_json_error(client.post("/v1/predict", files=upload(seurat), headers={"Sec-Fetch-Site": "cross-site"}),
                      403, "cross-site POST refused")
    assert_json_error(client.post("/v1/predict", files=upload(seurat), headers={"Origin": "null"}), 403)
    assert_json_error(client.delete("/v1/jobs/" + "0" * 32, headers=evil), 403, "cross-origin DELETE")
    # The page itself (same origin), and curl or scripts (no Origin at all), are served.
    assert client.post("/v1/predict", files=upload(seurat), headers={"Origin": "http://testserver",
                                                                      "Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert client.post("/v1/predict", files=upload(seurat)).status_code == 200
    assert client.get("/v1/models", headers=evil).status_code == 200  # reading: the browser keeps the answer from it


def test_an_allowed_origin_may_post_and_read_the_answer(models_dir, seurat):
    app = create_app(test_config(models_dir=str(models_dir), allow_origins=("https://gallery.example",)))
    with TestClient(app) as client:
        ok = client.post("/v1/predict", files=upload(seurat), headers={"Origin": "https://gallery.example"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://gallery.example"
        other = client.post("/v1/predict", files=upload(seurat), headers={"Origin": "https://evil.example"})
        assert_json_error(other, 403, "cross-origin POST")


def test_foreign_host_names_are_refused_against_dns_rebinding(client):
    body = assert_json_error(client.get("/healthz", headers={"Host": "evil.example"}), 400,
                             "Host 'evil.example' is not a name this server answers to")
    assert "--allowed-host" in body["error"]
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "192.168.1.20", "testserver"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host


def test_the_bound_name_and_allowed_names_are_served():
    guard = HostAndOriginGuard(None, bound_host="art.lan", allowed_hosts=["Studio.Local"])
    assert guard.host_allowed("art.lan:8000") and guard.host_allowed("studio.local")
    assert not guard.host_allowed("art.lan.evil.example") and not guard.host_allowed("")
    assert HostAndOriginGuard(None, allowed_hosts=["*"]).host_allowed("anything.example")
    assert not HostAndOriginGuard(None, bound_host="0.0.0.0").host_allowed("evil.example")


def test_sigterm_does_not_wait_for_the_backlog(seurat, tmp_path):
    """``artlens serve`` with two scorecam jobs (a minute each on a CPU) and five Grad-CAMs in flight:
    SIGTERM answers what waits with 503, stops the jobs at their next step and exits in seconds."""
    import signal
    import subprocess
    import sys

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "artlens", "serve", "--port", str(port), "--device", "cpu",
                               "--shutdown-grace", "1"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        for _ in range(2):
            queued = httpx.post(f"{base}/v1/explain", files=upload(seurat), data={"method": "scorecam"}, timeout=30)
            assert queued.status_code == 202, queued.text
        with ThreadPoolExecutor(5) as pool:
            cams = [pool.submit(httpx.post, f"{base}/v1/explain", files=upload(seurat), timeout=60) for _ in range(5)]
            while httpx.get(f"{base}/healthz", timeout=5).json()["work"]["compute"]["waiting"] < 3:
                time.sleep(0.05)
            start = time.monotonic()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            stopped_after = time.monotonic() - start
            statuses = sorted(f.result().status_code if not f.exception() else 0 for f in cams)
        assert stopped_after < 15, stopped_after  # the backlog: 2 minutes of scorecam, 5 Grad-CAMs
        assert statuses.count(503) >= 3, statuses  # those still waiting were told, not served
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
