"""The artlens web service: REST API (OpenAPI at ``/docs``) and the one-page app, from one factory.

Routes are thin, one :class:`fastapi.APIRouter` per feature (:mod:`.routes`), built from the app's
:class:`~.service.Service`: decode the upload safely (:mod:`.uploads`), find the model by name
(:mod:`.registry`), call the public library as a notebook would (:class:`artlens.Predictor`,
:func:`artlens.read_bundle_meta`, :func:`artlens.top_k`'s wording), answer JSON or a PNG. Every error,
from a malformed form to a crash, is a JSON body ``{"error", "status", "request_id"}`` with a 4xx/5xx
status, never a 200, and ``/openapi.json`` lists each status each route can answer (:mod:`.schemas`).

Work is sorted by cost (issue 28), each class with its own threads, a bounded queue and a time limit
(:mod:`.work`): cheap answers (health, model list, job status, examples, static files) never wait
behind work; ``predict`` decodes uploads and feeds the micro-batcher; ``compute`` runs the fast CAM
methods and AdaIN; background jobs (:mod:`.jobs`) run Gatys and the slow CAM methods (scorecam,
ablationcam: a minute per image on a CPU), fairly between clients. Requests from other web origins
and for foreign host names are refused before any of it (:mod:`.guard`).

>>> from artlens.serve import ServeConfig, create_app
>>> app = create_app(ServeConfig(models_dir="models/"))        # doctest: +SKIP
>>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match

from .. import ArtlensError, __version__
from .config import ServeConfig
from .features import Explainers, FeatureUnavailable, Stylizers
from .guard import HostAndOriginGuard
from .jobs import JobQueue, QueueFull
from .metrics import Metrics, MetricsMiddleware
from .middleware import BodyLimit, RequestContext
from .operations import Operations
from .registry import ModelRegistry, UnknownModel
from .routes import FEATURES
from .routes.page import web_root
from .routes.style import STYLE_METHODS
from .service import MAX_STYLES, Service
from .uploads import UploadError
from .work import Busy, ClientGone, CostClass

__all__ = ["STYLE_METHODS", "create_app", "web_root"]

log = logging.getLogger("artlens.serve")


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


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            allowed |= set(getattr(route, "methods", None) or ())
    return sorted(allowed)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such route: {request.method} {request.url.path}"
        if exc.status_code == 405:  # Starlette's Allow names the first route of the path only (GET, not DELETE)
            allowed = _allowed_methods(request)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allowed)}"
        return _error(request, exc.status_code, message, headers)

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

    @app.exception_handler(Busy)
    async def full(request: Request, exc: Busy) -> JSONResponse:
        return _error(request, exc.status, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(ClientGone)
    async def gone(request: Request, exc: ClientGone) -> Response:
        # Nobody reads this answer; 499 (nginx's "client closed request") makes the log line say what happened.
        log.info("[%s] %s: work dropped", getattr(request.state, "request_id", "-"), exc)
        return Response(status_code=499)

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
    first use; the batcher, work and job threads stop when the app shuts down (or at once, dropping
    whatever waits, when ``app.state.stop_work()`` is called: ``artlens serve`` calls it at SIGTERM).
    """
    if config is None:
        config = ServeConfig(models_dir=str(models_dir) if models_dir else None, **overrides)
    service = _service(config)
    cfg, registry, jobs = service.config, service.registry, service.jobs
    predict_work, compute_work = service.predict_work, service.compute_work

    def stop_work() -> None:
        """Answer everything waiting with 503 and drop waiting jobs now: stopping never waits for a backlog."""
        predict_work.close()
        compute_work.close()
        jobs.close()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for opened in (predict_work, compute_work, jobs):  # again, if this app was started and stopped before
            opened.open()
        if cfg.preload:  # the first visitor should not wait for the default model to load
            await run_in_threadpool(registry.loaded, None)
        yield
        stop_work()
        registry.close()
        if service.ops is not None:
            service.ops.close()

    # FastAPIOffline: FastAPI whose /docs (Swagger UI) and /redoc load their scripts from this app, not a CDN.
    app = FastAPIOffline(title="artlens", version=__version__, lifespan=lifespan,
                  description="Classify, explain and stylise artworks. Every error is JSON: "
                              '`{"error": "...", "status": 4xx, "request_id": "..."}`. POST and DELETE are '
                              "refused from other web origins (403) and every request for a foreign Host (400).")
    app.state.service = service
    app.state.config, app.state.registry, app.state.jobs = cfg, registry, jobs
    app.state.explainers, app.state.stylizers, app.state.work = service.explainers, service.stylizers, service.work
    app.state.stop_work = stop_work
    # Outermost last: ids and logs, then who may ask, then (for allowed origins) CORS, then the body limit.
    # Whole request: the images of the largest form (content + MAX_STYLES styles) plus form overhead.
    app.add_middleware(BodyLimit, max_bytes=cfg.max_upload_bytes * (1 + MAX_STYLES) + 64 * 1024)
    if cfg.allow_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cfg.allow_origins),
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["*"],
                           expose_headers=["X-Label", "X-Prob", "X-Predicted", "X-Model", "X-Method", "X-Request-ID",
                                           "Location", "Retry-After"])
    app.add_middleware(HostAndOriginGuard, bound_host=cfg.host, allowed_hosts=cfg.allowed_hosts,
                       allow_origins=cfg.allow_origins)
    app.add_middleware(RequestContext)
    if service.metrics is not None:  # outermost: counts every answer, refusals by the guards included
        app.add_middleware(MetricsMiddleware, metrics=service.metrics)
    _install_error_handlers(app)

    app.mount("/static", StaticFiles(directory=web_root()), name="static")
    for feature in FEATURES:
        app.include_router(feature.router(service))
    return app


def _service(cfg: ServeConfig) -> Service:
    """The objects the routes share: models are found now, loaded on first use."""
    registry = ModelRegistry(cfg.models_dir, default_model=cfg.default_model, device=cfg.device,
                             precision=cfg.precision, max_batch=cfg.max_batch, max_wait_ms=cfg.batch_wait_ms)
    device = str(registry.device)
    jobs = JobQueue(max_pending=cfg.queue_size, workers=cfg.job_workers, keep=cfg.keep_jobs,
                    per_client=cfg.jobs_per_client, timeout_s=cfg.job_timeout_s,
                    retention_s=cfg.job_retention_hours * 3600)
    # One thread per batch row, so that concurrent requests can fill a batch; the model runs in the batcher.
    work = {"predict": CostClass("predict", workers=cfg.max_batch, waiting=cfg.predict_queue,
                                 timeout_s=cfg.predict_timeout_s, retry_after_s=5),
            "compute": CostClass("explain/adain", workers=cfg.compute_workers, waiting=cfg.compute_queue,
                                 timeout_s=cfg.compute_timeout_s, retry_after_s=10)}
    ops = Operations(cfg, registry)
    if ops.store is not None:
        jobs.journal = ops.store  # jobs are kept in the database: a restart loses none
        jobs.purge()  # ... for job_retention_hours
    return Service(config=cfg, registry=registry, jobs=jobs, work=work, explainers=Explainers(device=device),
                   stylizers=Stylizers(cfg.models_dir, device=device), ops=ops, metrics=Metrics())
