"""The artlens web service: REST API (OpenAPI at ``/docs``) and the one-page app, from one factory.

Routes are thin: decode the upload safely (:mod:`.uploads`), find the model by name
(:mod:`.registry`), call the library, answer JSON or a PNG. Every error, from a malformed form to
a crash, is a JSON body ``{"error", "status", "request_id"}`` with a 4xx/5xx status, never a 200.

>>> from artlens.serve import ServeConfig, create_app
>>> app = create_app(ServeConfig(models_dir="models/"))        # doctest: +SKIP
>>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .. import __version__
from .._registry import Registry
from ..errors import ArtlensError
from .config import ServeConfig
from .features import Explainers, FeatureUnavailable, Stylizers, png_bytes
from .jobs import JobQueue, QueueFull
from .middleware import BodyLimit, RequestContext
from .registry import ModelRegistry, UnknownModel
from .uploads import DecodedImage, UploadError, decode_upload

__all__ = ["STYLE_METHODS", "create_app", "web_root"]

log = logging.getLogger("artlens.serve")

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_STYLES = 4

#: ``POST /v1/stylize`` methods: ``sync`` answers the PNG, ``job`` answers 202 and a job to poll.
STYLE_METHODS: Registry[str] = Registry("style method")
STYLE_METHODS.add("adain", "sync")
STYLE_METHODS.add("gatys", "job")


def web_root() -> Path:
    """The page's files (shipped as package data under ``artlens/assets/web``)."""
    return Path(str(resources.files("artlens") / "assets" / "web"))


def _error(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "")
    if status >= 500:
        log.warning("[%s] %s: %s", request_id, status, message)
    return JSONResponse({"error": message, "status": status, "request_id": request_id}, status_code=status,
                        headers=headers)


def _validation_message(err: RequestValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path"))
        parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else e.get("msg", "invalid"))
    return "; ".join(parts) or "invalid request"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such route: {request.method} {request.url.path}"
        return _error(request, exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(request, 422, _validation_message(exc))

    @app.exception_handler(UploadError)
    async def bad_upload(request: Request, exc: UploadError) -> JSONResponse:
        return _error(request, exc.status, str(exc))

    @app.exception_handler(UnknownModel)
    async def unknown_model(request: Request, exc: UnknownModel) -> JSONResponse:
        return _error(request, exc.status, str(exc))

    @app.exception_handler(FeatureUnavailable)
    async def unavailable(request: Request, exc: FeatureUnavailable) -> JSONResponse:
        return _error(request, 503, str(exc))

    @app.exception_handler(QueueFull)
    async def busy(request: Request, exc: QueueFull) -> JSONResponse:
        return _error(request, 429, str(exc), {"Retry-After": "30"})

    @app.exception_handler(TimeoutError)
    async def overloaded(request: Request, exc: TimeoutError) -> JSONResponse:
        return _error(request, 503, "the model did not answer in time: the server is overloaded, try again later",
                      {"Retry-After": "10"})

    @app.exception_handler(ArtlensError)
    async def user_error(request: Request, exc: ArtlensError) -> JSONResponse:
        return _error(request, 422, str(exc))


def create_app(config: ServeConfig | None = None, *, models_dir: str | os.PathLike | None = None,
               **overrides: Any) -> FastAPI:
    """Build the service; ``create_app(models_dir="models/")`` is short for a :class:`ServeConfig`.

    Models are found now (a wrong ``--models`` fails here, before a port is opened) and loaded on
    first use; the batcher and job threads stop when the app shuts down.
    """
    if config is None:
        config = ServeConfig(models_dir=str(models_dir) if models_dir else None, **overrides)
    cfg = config
    registry = ModelRegistry(cfg.models_dir, default_model=cfg.default_model, device=cfg.device,
                             max_batch=cfg.max_batch, max_wait_ms=cfg.batch_wait_ms)
    device = str(registry.device)
    jobs = JobQueue(max_pending=cfg.queue_size, workers=cfg.job_workers, keep=cfg.keep_jobs)
    explainers = Explainers(device=device)
    stylizers = Stylizers(cfg.models_dir, device=device)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if cfg.preload:  # the first visitor should not wait for the default model to load
            await run_in_threadpool(registry.loaded, None)
        yield
        registry.close()
        jobs.close()

    # FastAPIOffline: FastAPI whose /docs (Swagger UI) and /redoc load their scripts from this app, not a CDN.
    app = FastAPIOffline(title="artlens", version=__version__, lifespan=lifespan,
                  description="Classify, explain and stylise artworks. Every error is JSON: "
                              '`{"error": "...", "status": 4xx, "request_id": "..."}`.')
    app.state.config, app.state.registry, app.state.jobs = cfg, registry, jobs
    app.state.explainers, app.state.stylizers = explainers, stylizers
    # Whole request: the images of the largest form (content + MAX_STYLES styles) plus form overhead.
    app.add_middleware(BodyLimit, max_bytes=cfg.max_upload_bytes * (1 + MAX_STYLES) + 64 * 1024)
    app.add_middleware(RequestContext)
    _install_error_handlers(app)

    def read_image(upload: UploadFile, field: str, draft_size: int | None = None) -> DecodedImage:
        data = upload.file.read(cfg.max_upload_bytes + 1)  # never more than one byte past the limit
        return decode_upload(data, field=field, max_bytes=cfg.max_upload_bytes, max_pixels=cfg.max_pixels,
                             draft_size=draft_size)

    # -- page -------------------------------------------------------------------------------------

    root = web_root()
    app.mount("/static", StaticFiles(directory=root), name="static")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(root / "index.html", headers={"Cache-Control": "no-cache"})

    # -- API --------------------------------------------------------------------------------------

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, Any]:
        """Liveness: the process answers, with model, batching and job-queue counts."""
        return {"status": "ok", "version": __version__, "models": len(registry.entries()), "device": device,
                "batching": registry.batching_stats(), "jobs": jobs.stats()}

    @app.get("/v1/models", tags=["models"])
    def list_models() -> dict[str, Any]:
        """Every model (versions side by side), the default per task, and which features are installed."""
        return {"models": [e.to_dict() for e in registry.entries()], "defaults": registry.defaults,
                "features": {"explain": explainers.status(), "stylize": stylizers.status()},
                "limits": {"max_upload_mb": cfg.max_upload_mb, "max_pixels": cfg.max_pixels,
                           "max_styles": MAX_STYLES, "max_gatys_steps": cfg.max_gatys_steps,
                           "max_style_size": cfg.max_style_size}}

    @app.post("/v1/predict", tags=["models"])
    def predict(file: Annotated[UploadFile, File(description="The image (decoded, never trusted by name).")],
                model: Annotated[str, Form(description="Model id or name (GET /v1/models); empty = default.")] = "",
                top_k: Annotated[int, Form(ge=1, le=100)] = 3) -> dict[str, Any]:
        """Top-k labels with probabilities."""
        start = time.perf_counter()
        loaded = registry.loaded(model or None)  # unknown model fails before the upload is decoded
        img = read_image(file, "file", loaded.entry.decode_size)
        probs = loaded.predict(img.image)
        order = probs.argsort()[::-1][: min(top_k, len(probs))]
        classes = loaded.entry.classes
        return {"model": loaded.entry.id,
                "predictions": [{"label": classes[i], "prob": round(float(probs[i]), 4)} for i in order],
                "image": {"width": img.width, "height": img.height, "format": img.format},
                "latency_ms": round((time.perf_counter() - start) * 1000, 1)}

    @app.post("/v1/explain", tags=["models"], response_class=Response,
              responses={200: {"content": {"image/png": {}}, "description": "CAM overlay; the label in X-Label"}})
    def explain(file: Annotated[UploadFile, File()],
                model: Annotated[str, Form()] = "",
                method: Annotated[str, Form(description="CAM method (gradcam, gradcam++, scorecam, ...).")] = "gradcam",
                target: Annotated[str, Form(description="Class to explain; empty = the predicted one.")] = "") -> Response:
        """The class activation map over the image, as a PNG (label and probability in headers)."""
        start = time.perf_counter()
        entry = registry.resolve(model or None)
        img = read_image(file, "file", entry.decode_size)
        # The explainer averages over the bundle's TTA views as /v1/predict does: same class, same probability.
        result = explainers.explain(entry, img.image, method=method, target=target or None)
        overlay = result.overlay
        if entry.resize == "squash":
            from ..explain.cam import in_picture_shape  # loaded with the explainer, not with the app

            overlay = in_picture_shape(overlay, (img.width, img.height))
        headers = {"X-Model": entry.id, "X-Label": quote(result.label), "X-Prob": f"{result.prob:.4f}",
                   "X-Predicted": quote(result.predicted),
                   "X-Method": method, "X-Latency-Ms": f"{(time.perf_counter() - start) * 1000:.1f}"}
        return Response(png_bytes(overlay), media_type="image/png", headers=headers)

    @app.post("/v1/stylize", tags=["style"], response_class=Response, status_code=200,
              responses={200: {"content": {"image/png": {}}, "description": "AdaIN result"},
                         202: {"description": "Gatys: a job to poll at GET /v1/jobs/{id}"}})
    def stylize(request: Request,
                content: Annotated[UploadFile, File(description="The photo or painting to restyle.")],
                style: Annotated[list[UploadFile], File(description=f"1 to {MAX_STYLES} style images.")],
                method: Annotated[str, Form(description="adain (immediate) | gatys (background job)")] = "adain",
                alpha: Annotated[float, Form(ge=0.0, le=1.0, description="AdaIN: 0 = content, 1 = full style.")] = 1.0,
                preserve_color: Annotated[bool, Form()] = False,
                decoder: Annotated[str, Form(description="AdaIN decoder name; empty = the first installed.")] = "",
                steps: Annotated[int, Form(ge=1, description="Gatys iterations.")] = 100,
                size: Annotated[int, Form(ge=32, description="Longer side of the result in pixels.")] = 384) -> Response:
        """AdaIN answers the PNG; Gatys answers 202 with a job (GET /v1/jobs/{id})."""
        kind = STYLE_METHODS.get(method)
        if len(style) > MAX_STYLES:
            raise ArtlensError(f"style: at most {MAX_STYLES} style images, got {len(style)}")
        if size > cfg.max_style_size:
            raise ArtlensError(f"size: at most {cfg.max_style_size} pixels, got {size}")
        content_img = read_image(content, "content").image
        style_imgs = [read_image(s, f"style[{i}]").image for i, s in enumerate(style)]
        if kind == "sync":
            start = time.perf_counter()
            out = stylizers.adain(content_img, style_imgs, decoder=decoder or None, alpha=alpha,
                                  preserve_color=preserve_color, content_size=size)
            return Response(png_bytes(out), media_type="image/png",
                            headers={"X-Latency-Ms": f"{(time.perf_counter() - start) * 1000:.1f}"})
        if steps > cfg.max_gatys_steps:
            raise ArtlensError(f"steps: at most {cfg.max_gatys_steps} for a Gatys job, got {steps}")
        fn = stylizers.gatys_job(content_img, style_imgs, extractor=cfg.gatys_extractor, steps=steps, size=size,
                                 preserve_color=preserve_color)
        job = jobs.submit("gatys", fn, request_id=request.state.request_id)
        return JSONResponse({"job": job.to_dict()}, status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})

    def find_job(job_id: str):
        job = jobs.get(job_id) if _JOB_ID.match(job_id) else None
        if job is None:
            raise HTTPException(404, f"unknown job {job_id[:40]!r} (finished jobs are kept for a while, "
                                     "not forever; the server may also have restarted)")
        return job

    @app.get("/v1/jobs/{job_id}", tags=["style"])
    def job_status(job_id: str) -> dict[str, Any]:
        """State (queued, running, done, failed), progress 0..1 and the result URL when done."""
        return find_job(job_id).to_dict()

    @app.get("/v1/jobs/{job_id}/result", tags=["style"], response_class=Response,
             responses={200: {"content": {"image/png": {}}}})
    def job_result(job_id: str) -> Response:
        """The finished job's image; 409 while it is still running, 500 with its error if it failed."""
        job = find_job(job_id)
        if job.state == "failed":
            raise HTTPException(500, f"job {job.id} failed: {job.error}")
        if job.state != "done" or job.result is None:
            raise HTTPException(409, f"job {job.id} is {job.state} ({job.progress:.0%}); poll /v1/jobs/{job.id}")
        return Response(job.result, media_type=job.media_type)

    return app
