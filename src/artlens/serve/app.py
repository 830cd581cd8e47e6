"""The artlens web service: REST API (OpenAPI at ``/docs``) and the one-page app, from one factory.

Routes are thin: decode the upload safely (:mod:`.uploads`), find the model by name
(:mod:`.registry`), call the library, answer JSON or a PNG. Every error, from a malformed form to
a crash, is a JSON body ``{"error", "status", "request_id"}`` with a 4xx/5xx status, never a 200,
and ``/openapi.json`` lists each status each route can answer (:mod:`.schemas`).

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

# No ``from __future__ import annotations``: the routes' annotations hold limits from the config,
# which FastAPI must see as objects, not as strings it would look up in this module's globals.

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

from fastapi import FastAPI, File, Form, Path as PathParam, Request, UploadFile
from fastapi.middleware.cors import CORSMiddleware
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match

from .. import __version__
from .._registry import Registry
from ..errors import ArtlensError
from .config import ServeConfig
from .catalogue import Artwork, catalogue
from .features import SLOW_CAM_METHODS, Explainers, FeatureUnavailable, Stylizers, gatys_estimate_s, png_bytes
from .guard import HostAndOriginGuard
from .jobs import Job, JobQueue, QueueFull
from .middleware import BodyLimit, RequestContext
from .registry import MODEL_NAME, ModelEntry, ModelRegistry, UnknownModel
from .schemas import (ExamplesResponse, JobEnvelope, JobView, ModelsResponse, PredictResponse,
                      StylesResponse, errors)
from .uploads import DecodedImage, UploadError, decode_upload
from .work import Busy, ClientGone, CostClass

__all__ = ["STYLE_METHODS", "create_app", "web_root"]

log = logging.getLogger("artlens.serve")

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_STYLES = 4
#: ``model`` as the schema shows it: a name from GET /v1/models, or empty for the default.
MODEL_FIELD_PATTERN = "^(" + MODEL_NAME.pattern.strip("^$") + ")?$"
#: ``style_weights``: non-negative numbers, comma-separated.
_WEIGHTS = r"^$|^[0-9]+(\.[0-9]+)?(,[0-9]+(\.[0-9]+)?)*$"
#: Images of the catalogues, by name (file names: letters, digits, ``._-``).
_ASSET_NAME = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"

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


def client_of(request: Request) -> str:
    """Who is asking, for the fair share of the job queue: the remote address."""
    return request.client.host if request.client else "unknown"


def cam_headers(info: dict[str, Any]) -> dict[str, str]:
    """A CAM's label and probability as the headers of its PNG (labels URL-quoted: they may hold any text)."""
    names = {"model": "X-Model", "label": "X-Label", "prob": "X-Prob", "predicted": "X-Predicted", "method": "X-Method"}
    return {header: quote(str(info[key])) if key in ("label", "predicted") else str(info[key])
            for key, header in names.items() if key in info}


def create_app(config: ServeConfig | None = None, *, models_dir: str | os.PathLike | None = None,
               **overrides: Any) -> FastAPI:
    """Build the service; ``create_app(models_dir="models/")`` is short for a :class:`ServeConfig`.

    Models are found now (a wrong ``--models`` fails here, before a port is opened) and loaded on
    first use; the batcher, work and job threads stop when the app shuts down (or at once, dropping
    whatever waits, when ``app.state.stop_work()`` is called: ``artlens serve`` calls it at SIGTERM).
    """
    if config is None:
        config = ServeConfig(models_dir=str(models_dir) if models_dir else None, **overrides)
    cfg = config
    registry = ModelRegistry(cfg.models_dir, default_model=cfg.default_model, device=cfg.device,
                             max_batch=cfg.max_batch, max_wait_ms=cfg.batch_wait_ms)
    device = str(registry.device)
    jobs = JobQueue(max_pending=cfg.queue_size, workers=cfg.job_workers, keep=cfg.keep_jobs,
                    per_client=cfg.jobs_per_client, timeout_s=cfg.job_timeout_s)
    # One thread per batch row, so that concurrent requests can fill a batch; the model runs in the batcher.
    predict_work = CostClass("predict", workers=cfg.max_batch, waiting=cfg.predict_queue,
                             timeout_s=cfg.predict_timeout_s, retry_after_s=5)
    compute_work = CostClass("explain/adain", workers=cfg.compute_workers, waiting=cfg.compute_queue,
                             timeout_s=cfg.compute_timeout_s, retry_after_s=10)
    explainers = Explainers(device=device)
    stylizers = Stylizers(cfg.models_dir, device=device)
    cam_methods = explainers.methods()
    examples = {a.name: a for a in catalogue("examples", default_licence="CC0")}
    styles = {a.name: a for a in catalogue("styles")}

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

    # FastAPIOffline: FastAPI whose /docs (Swagger UI) and /redoc load their scripts from this app, not a CDN.
    app = FastAPIOffline(title="artlens", version=__version__, lifespan=lifespan,
                  description="Classify, explain and stylise artworks. Every error is JSON: "
                              '`{"error": "...", "status": 4xx, "request_id": "..."}`. POST and DELETE are '
                              "refused from other web origins (403) and every request for a foreign Host (400).")
    app.state.config, app.state.registry, app.state.jobs = cfg, registry, jobs
    app.state.explainers, app.state.stylizers = explainers, stylizers
    app.state.work = {"predict": predict_work, "compute": compute_work}
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
    _install_error_handlers(app)

    async def read_bytes(upload: UploadFile) -> bytes:
        return await upload.read(cfg.max_upload_bytes + 1)  # never more than one byte past the limit

    def decode(data: bytes, field: str, draft_size: int | None = None) -> DecodedImage:
        return decode_upload(data, field=field, max_bytes=cfg.max_upload_bytes, max_pixels=cfg.max_pixels,
                             draft_size=draft_size)

    def check_target(entry: ModelEntry, target: str) -> None:
        """The class to explain is checked before any work is queued (a slow CAM's job would find out a
        minute later); a class the model does not have is a 404, as a model the server does not have."""
        if target and target not in entry.classes and not (target.isdigit() and int(target) < len(entry.classes)):
            raise HTTPException(404, f"unknown class {target[:80]!r} for {entry.id}; the model's classes: "
                                     f"{', '.join(entry.classes)}")

    # -- page -------------------------------------------------------------------------------------

    root = web_root()
    app.mount("/static", StaticFiles(directory=root), name="static")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(root / "index.html", headers={"Cache-Control": "no-cache"})

    # -- cheap: never queued behind work -----------------------------------------------------------

    @app.get("/healthz", tags=["service"], responses=errors())
    def healthz() -> dict[str, Any]:
        """Liveness: the process answers, with model, batching, work and job-queue counts."""
        return {"status": "ok", "version": __version__, "models": len(registry.entries()), "device": device,
                "batching": registry.batching_stats(), "jobs": jobs.stats(),
                "work": {name: w.stats() for name, w in app.state.work.items()}}

    @app.get("/v1/models", tags=["models"], response_model=ModelsResponse, responses=errors())
    def list_models() -> dict[str, Any]:
        """Every model (versions side by side) with a card in plain words, the default per task, which
        features are installed, and the limits."""
        return {"models": [e.to_dict() for e in registry.entries()], "defaults": registry.defaults,
                "features": {"explain": explainers.status(), "stylize": stylizers.status()},
                "limits": {"max_upload_mb": cfg.max_upload_mb, "max_pixels": cfg.max_pixels,
                           "max_styles": MAX_STYLES, "max_gatys_steps": cfg.max_gatys_steps,
                           "max_style_size": cfg.max_style_size, "jobs_per_client": cfg.jobs_per_client}}

    def listing(items: dict[str, Artwork], route: str, *, licence: bool) -> list[dict[str, str]]:
        return [{"name": a.name, "url": f"{route}/{a.name}", "title": a.title, "artist": a.artist,
                 **({"licence": a.licence} if licence else {})} for a in items.values()]

    def serve_asset(items: dict[str, Artwork], name: str, what: str) -> FileResponse:
        if name not in items:  # a name from the listing, never a path
            raise HTTPException(404, f"no {what} called {name[:60]!r}; GET the listing for the names")
        return FileResponse(items[name].path, headers={"Cache-Control": "public, max-age=86400"})

    image_response = {200: {"content": {"image/jpeg": {}}, "description": "The image."}, **errors(404)}

    @app.get("/v1/examples", tags=["catalogue"], response_model=ExamplesResponse, responses=errors())
    def list_examples() -> dict[str, Any]:
        """The example paintings shipped with artlens (public domain), to try the classifier on."""
        return {"examples": listing(examples, "/v1/examples", licence=False)}

    @app.get("/v1/examples/{name}", tags=["catalogue"], response_class=FileResponse, responses=image_response)
    def example_image(name: Annotated[str, PathParam(json_schema_extra={"pattern": _ASSET_NAME})]) -> FileResponse:
        """One example painting (a name from GET /v1/examples)."""
        return serve_asset(examples, name, "example")

    @app.get("/v1/styles", tags=["catalogue"], response_model=StylesResponse, responses=errors())
    def list_styles() -> dict[str, Any]:
        """Preset style images (public-domain paintings from CC0 and MIT-licensed copies)."""
        return {"styles": listing(styles, "/v1/styles", licence=True)}

    @app.get("/v1/styles/{name}", tags=["catalogue"], response_class=FileResponse, responses=image_response)
    def style_image(name: Annotated[str, PathParam(json_schema_extra={"pattern": _ASSET_NAME})]) -> FileResponse:
        """One preset style image (a name from GET /v1/styles)."""
        return serve_asset(styles, name, "style")

    # -- predict: decoding threads and the micro-batcher ------------------------------------------

    def model_field() -> Any:  # one FieldInfo per route: FastAPI keeps per-parameter state in it
        return Form(description="Model id or name (GET /v1/models); empty = the default.",
                    json_schema_extra={"pattern": MODEL_FIELD_PATTERN})

    @app.post("/v1/predict", tags=["models"], response_model=PredictResponse,
              responses=errors(403, 404, 413, 415, 422, 429, 503))
    async def predict(request: Request,
                      file: Annotated[UploadFile, File(description="The image (decoded, never trusted by name).")],
                      model: Annotated[str, model_field()] = "",
                      top_k: Annotated[int, Form(ge=1, le=100)] = 3) -> dict[str, Any]:
        """Top-k labels with probabilities, and whether the model is unsure (``uncertain``)."""
        start = time.perf_counter()
        entry = registry.resolve(model or None)  # unknown model fails before the upload is read
        data = await read_bytes(file)

        def work() -> dict[str, Any]:
            loaded = registry.loaded(entry.id)
            img = decode(data, "file", entry.decode_size)
            probs = loaded.predict(img.image, timeout=cfg.predict_timeout_s)
            order = probs.argsort()[::-1][: min(top_k, len(probs))]
            top = float(probs[order[0]])
            return {"model": entry.id,
                    "predictions": [{"label": entry.classes[i], "prob": round(float(probs[i]), 4)} for i in order],
                    "uncertain": entry.uncertain_below is not None and top < entry.uncertain_below,
                    "image": {"width": img.width, "height": img.height, "format": img.format}}

        out = await predict_work.run(work, is_disconnected=request.is_disconnected)
        return {**out, "latency_ms": round((time.perf_counter() - start) * 1000, 1)}

    # -- explain: fast methods in the compute class, slow ones as jobs ----------------------------

    @app.post("/v1/explain", tags=["models"], response_class=Response,
              responses={200: {"content": {"image/png": {}}, "description": "CAM overlay; the label in X-Label"},
                         202: {"model": JobEnvelope, "description": f"A slow method ({', '.join(SLOW_CAM_METHODS)}): "
                                                                    "a job to poll at GET /v1/jobs/{id}"},
                         **errors(403, 404, 413, 415, 422, 429, 503)})
    async def explain(request: Request,
                      file: Annotated[UploadFile, File(description="The image.")],
                      model: Annotated[str, model_field()] = "",
                      method: Annotated[str, Form(description=f"CAM method; {', '.join(SLOW_CAM_METHODS)} run as "
                                                              "background jobs (202).",
                                                  json_schema_extra={"enum": cam_methods} if cam_methods else None)] = "gradcam",
                      target: Annotated[str, Form(description="Class to explain; empty = the predicted one.")] = "") -> Response:
        """The class activation map over the image, as a PNG (label and probability in headers); a slow
        method answers 202 and a job whose result is that PNG."""
        start = time.perf_counter()
        entry = registry.resolve(model or None)
        explainers.check(method)  # an unknown method is a 422 listing the valid ones, before any work
        check_target(entry, target)
        data = await read_bytes(file)

        def render(img: DecodedImage, report=None) -> tuple[bytes, dict[str, Any]]:
            # The explainer averages over the bundle's TTA views as /v1/predict does: same class, same probability.
            result = explainers.explain(entry, img.image, method=method, target=target or None, progress=report)
            overlay = result.overlay
            if entry.resize == "squash":
                from ..explain.cam import in_picture_shape  # loaded with the explainer, not with the app

                overlay = in_picture_shape(overlay, (img.width, img.height))
            return png_bytes(overlay), {"model": entry.id, "label": result.label, "prob": f"{result.prob:.4f}",
                                        "predicted": result.predicted, "method": method}

        if method in SLOW_CAM_METHODS:
            img = await predict_work.run(decode, data, "file", entry.decode_size, is_disconnected=request.is_disconnected)

            def job(report) -> tuple[bytes, dict[str, Any]]:
                report(0.0, f"loading {method} for {entry.id}")
                return render(img, report)

            queued = jobs.submit(method, job, request_id=request.state.request_id, client=client_of(request),
                                 estimate_s=explainers.estimate_s(entry), info={"model": entry.id, "method": method})
            return JSONResponse({"job": queued.to_dict()}, status_code=202, headers={"Location": f"/v1/jobs/{queued.id}"})

        def work() -> tuple[bytes, dict[str, Any]]:
            return render(decode(data, "file", entry.decode_size))

        png, info = await compute_work.run(work, is_disconnected=request.is_disconnected)
        headers = {**cam_headers(info), "X-Latency-Ms": f"{(time.perf_counter() - start) * 1000:.1f}"}
        return Response(png, media_type="image/png", headers=headers)

    # -- stylize: AdaIN in the compute class, Gatys as a job ---------------------------------------

    @app.post("/v1/stylize", tags=["style"], response_class=Response, status_code=200,
              responses={200: {"content": {"image/png": {}}, "description": "AdaIN result"},
                         202: {"model": JobEnvelope, "description": "Gatys: a job to poll at GET /v1/jobs/{id}"},
                         **errors(403, 413, 415, 422, 429, 503)})
    async def stylize(request: Request,
                      content: Annotated[UploadFile, File(description="The photo or painting to restyle.")],
                      style: Annotated[list[UploadFile], File(description=f"1 to {MAX_STYLES} style images.",
                                                              json_schema_extra={"minItems": 1, "maxItems": MAX_STYLES})],
                      method: Annotated[str, Form(description="adain (immediate) | gatys (background job)",
                                                  json_schema_extra={"enum": STYLE_METHODS.names()})] = "adain",
                      alpha: Annotated[float, Form(ge=0.0, le=1.0, description="AdaIN: 0 = content, 1 = full style.")] = 1.0,
                      preserve_color: Annotated[bool, Form()] = False,
                      decoder: Annotated[str, Form(description="AdaIN decoder name; empty = the first installed.")] = "",
                      steps: Annotated[int, Form(ge=1, description="Gatys iterations.",
                                                 json_schema_extra={"maximum": cfg.max_gatys_steps})] = 100,
                      size: Annotated[int, Form(ge=32, description="Longer side of the result in pixels.",
                                                json_schema_extra={"maximum": cfg.max_style_size})] = 384,
                      style_weights: Annotated[str, Form(description="AdaIN: one weight per style image, comma-separated "
                                                                     "('2,1'); empty = equal. Gatys weighs them equally.",
                                                         json_schema_extra={"pattern": _WEIGHTS})] = "") -> Response:
        """AdaIN answers the PNG; Gatys answers 202 with a job (GET /v1/jobs/{id}) and its estimated run time."""
        kind = STYLE_METHODS.get(method)
        if len(style) > MAX_STYLES:
            raise ArtlensError(f"style: at most {MAX_STYLES} style images, got {len(style)}")
        if size > cfg.max_style_size:
            raise ArtlensError(f"size: at most {cfg.max_style_size} pixels, got {size}")
        if steps > cfg.max_gatys_steps:
            raise ArtlensError(f"steps: at most {cfg.max_gatys_steps} for a Gatys job, got {steps}")
        if not re.match(_WEIGHTS, style_weights):
            raise ArtlensError(f"style_weights: comma-separated non-negative numbers, got {style_weights[:40]!r}")
        weights = [float(w) for w in style_weights.split(",")] if style_weights else None
        datas = [await read_bytes(content)] + [await read_bytes(s) for s in style]
        names = ["content"] + [f"style[{i}]" for i in range(len(style))]

        def decode_all() -> list[DecodedImage]:
            return [decode(d, n) for d, n in zip(datas, names)]

        if kind == "sync":
            start = time.perf_counter()

            def work() -> bytes:
                content_img, *style_imgs = (d.image for d in decode_all())
                out = stylizers.adain(content_img, style_imgs, decoder=decoder or None, alpha=alpha,
                                      preserve_color=preserve_color, content_size=size, weights=weights)
                return png_bytes(out)

            png = await compute_work.run(work, is_disconnected=request.is_disconnected)
            return Response(png, media_type="image/png",
                            headers={"X-Latency-Ms": f"{(time.perf_counter() - start) * 1000:.1f}"})
        decoded = await predict_work.run(decode_all, is_disconnected=request.is_disconnected)
        fn = stylizers.gatys_job(decoded[0].image, [d.image for d in decoded[1:]], extractor=cfg.gatys_extractor,
                                 steps=steps, size=size, preserve_color=preserve_color)
        first = decoded[0]
        estimate = gatys_estimate_s(steps=steps, size=size, aspect=min(first.width, first.height) / max(first.width, first.height),
                                    styles=len(style), device=device)
        job = jobs.submit("gatys", fn, request_id=request.state.request_id, client=client_of(request), estimate_s=estimate)
        return JSONResponse({"job": job.to_dict()}, status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})

    # -- jobs -------------------------------------------------------------------------------------

    # Patterns shown in the schema, checked by the route: any other id is simply unknown (404).
    job_id_param = PathParam(description="The id a 202 answer gave.", json_schema_extra={"pattern": _JOB_ID.pattern})

    def unknown_job(job_id: str) -> HTTPException:
        return HTTPException(404, f"unknown job {job_id[:40]!r} (finished jobs are kept for a while, "
                                  "not forever; the server may also have restarted)")

    def find_job(job_id: str) -> Job:
        job = jobs.get(job_id) if _JOB_ID.match(job_id) else None
        if job is None:
            raise unknown_job(job_id)
        return job

    @app.get("/v1/jobs/{job_id}", tags=["jobs"], response_model=JobView, responses=errors(404))
    def job_status(job_id: Annotated[str, job_id_param]) -> dict[str, Any]:
        """State (queued, running, done, failed, cancelled), queue position, estimated and elapsed
        seconds, progress 0..1, and the result URL when done."""
        return find_job(job_id).to_dict()

    @app.delete("/v1/jobs/{job_id}", tags=["jobs"], response_model=JobEnvelope,
                responses={202: {"model": JobEnvelope, "description": "Running: it stops at its next step."},
                           **errors(403, 404)})
    def cancel_job(job_id: Annotated[str, job_id_param]) -> Any:
        """Cancel a job: a queued one is removed (200, state ``cancelled``), a running one stops at its
        next step (202, poll it), a finished one is forgotten with its result (200)."""
        job = jobs.cancel(job_id) if _JOB_ID.match(job_id) else None
        if job is None:
            raise unknown_job(job_id)
        return JSONResponse({"job": job.to_dict()}, status_code=202 if job.state == "running" else 200)

    @app.get("/v1/jobs/{job_id}/result", tags=["jobs"], response_class=Response,
             responses={200: {"content": {"image/png": {}}, "description": "The result; a CAM's label in X-Label."},
                        **errors(404, 409)})
    def job_result(job_id: Annotated[str, job_id_param]) -> Response:
        """The finished job's image; 409 while it is queued or running, or if it failed or was cancelled."""
        job = find_job(job_id)
        if job.state != "done" or job.result is None:
            why = f": {job.error}" if job.error else f" ({job.progress:.0%}); poll /v1/jobs/{job.id}"
            raise HTTPException(409, f"job {job.id} is {job.state}{why}")
        return Response(job.result, media_type=job.media_type, headers=cam_headers(job.info))

    return app
